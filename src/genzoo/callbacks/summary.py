"""Lightning's model summary without its FLOPs column."""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl

from genzoo.lightning_compat import format_summary_table

log = logging.getLogger("pytorch_lightning.callbacks.model_summary")


class ModelSummary(pl.callbacks.ModelSummary):
    """The table of layers, parameters and modes Lightning prints before training, without FLOPs:
    Lightning counts FLOPs only by running the module's ``example_input_array`` through ``forward``, and a
    genzoo family has neither (it holds several networks and samples through its contract), so that
    column and its total read 0 for every model. Used in place of Lightning's default summary (a trainer
    with this callback adds none of its own)."""

    @staticmethod
    def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                  model_size: float, total_training_modes: dict[str, int], total_flops: int = 0,
                  **summarize_kwargs: Any) -> None:
        log.info("\n" + summary_text(summary_data, total_parameters, trainable_parameters, model_size,
                                     total_training_modes))


def summary_text(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                 model_size: float, total_training_modes: dict[str, int]) -> str:
    """Lightning's summary table and totals, less the FLOPs column and the FLOPs total."""
    columns = [c for c in summary_data if c[0] != "FLOPs"]
    table = format_summary_table(total_parameters, trainable_parameters, model_size, total_training_modes, 0, *columns)
    return "\n".join(line for line in table.splitlines() if not line.rstrip().endswith("Total Flops"))
