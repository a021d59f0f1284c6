"""The held-out likelihood path during training: a family's held-out metrics, every n model steps."""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl
import torch

from genzoo.callbacks.images import EveryModelSteps
from genzoo.callbacks.metrics import MetricHistory
from genzoo.metrics.held_out import held_out_average


class HeldOutMetrics(MetricHistory, EveryModelSteps, pl.Callback):
    """Every ``every_n_steps`` model steps and at the end of training, average the family's
    held-out metrics (``GenerativeModule.held_out_metric_names``: none for GANs, ELBO and
    importance-weighted NLL for a VAE, NLL and bits/dim for PixelRNN) over the held-out split (or
    its first ``max_examples``) on every rank, and log them. Families with none cost nothing. At the end
    their curves go to ``{dirpath}/metrics.png``, beside the sample metrics' (``write_metric_curves``)."""

    def __init__(self, every_n_steps: int = 500, batch_size: int = 256, max_examples: int | None = None,
                 dirpath: str | None = None) -> None:
        self.every_n_steps, self.batch_size, self.max_examples = every_n_steps, batch_size, max_examples
        self.dirpath = Path(dirpath) if dirpath else None
        self.history: list[tuple[int, dict[str, float]]] = []
        self.seconds = 0.0

    def fire(self, trainer: pl.Trainer, pl_module, batch=None) -> None:
        if not pl_module.held_out_metric_names:
            return
        start = time.perf_counter()

        def all_reduce(t: torch.Tensor) -> torch.Tensor:
            return pl_module.all_gather(t).reshape(-1, *t.shape).sum(0) if trainer.world_size > 1 else t

        out = held_out_average(pl_module, trainer.datamodule, self.batch_size, self.max_examples,
                               trainer.world_size, trainer.global_rank, all_reduce)
        self.seconds += time.perf_counter() - start
        self.record(trainer, pl_module, out)
