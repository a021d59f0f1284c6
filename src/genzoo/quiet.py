"""Quiet, useful logs: what a run prints is its progress and its summary.

Lightning, W&B and MLflow print lines that a genzoo user cannot act on: run-length notes in
Lightning's optimiser steps (genzoo counts model steps and prints its own summary), tips to install
other products, warnings about Lightning's and MLflow's own internals, and the logging-interval
warning that compares batches per epoch with a logging cadence genzoo already sets in model steps.
``quiet_logs()`` drops exactly those, by message; every other warning still shows.
"""

from __future__ import annotations

import logging
import re
import warnings

# (message pattern, why a user cannot act on it)
WARNINGS = (
    (r".*The number of training batches .* is smaller than the logging interval",
     "genzoo logs every trainer.log_every_n_steps model steps across epochs; an epoch's length is not a limit"),
    (r".*isinstance\(treespec, LeafSpec\)",
     "Lightning's own call into torch.utils._pytree; nothing in a run can change it"),
    (r".*The ``noload`` loader strategy is deprecated",
     "MLflow's own SQLAlchemy models"),
)
LOG_LINES = (
    r"TPU available: ",             # always False where genzoo runs; GPU availability is still printed
    r"💡 Tip: ",                     # advertisements for other Lightning products
    r"`Trainer\.fit` stopped: ",    # counted in optimiser steps: genzoo's summary says it in model steps
    r"Experiment with name .* not found\. Creating it\.",  # MLflow's first run in a new store
)
QUIET_LOGGERS = ("mlflow", "alembic")  # their INFO lines on creating a store's tables


class _DropLines(logging.Filter):
    def __init__(self, patterns: tuple[str, ...]) -> None:
        super().__init__()
        self.pattern = re.compile("|".join(f"(?:{p})" for p in patterns))

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.match(record.getMessage())


_FILTER = _DropLines(LOG_LINES)


def quiet_logs() -> None:
    """Install the filters (idempotent)."""
    for pattern, _why in WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
                 "pytorch_lightning.loggers.mlflow"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
