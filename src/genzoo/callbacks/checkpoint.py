"""Checkpoints every N model steps (Lightning's ``every_n_train_steps`` counts all optimiser steps)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from genzoo import lightning_compat
from genzoo.callbacks.images import EveryModelSteps


class ModelStepCheckpoint(EveryModelSteps, ModelCheckpoint):
    """``ModelCheckpoint`` triggered by ``pl_module.model_step``; ``{model_step}`` may appear in
    ``filename``. Also saves once at the end of training, so the final weights are always on disk."""

    def __init__(self, every_n_steps: int = 1000, **kwargs: Any) -> None:
        kwargs.setdefault("filename", "g{model_step:07.0f}")
        kwargs.setdefault("auto_insert_metric_name", False)
        kwargs.setdefault("save_top_k", -1)
        kwargs.setdefault("save_last", True)
        # a run folder holds one run (train.py refuses another): last.ckpt is always this run's newest
        kwargs.setdefault("enable_version_counter", False)
        super().__init__(every_n_train_steps=0, every_n_epochs=0, save_on_train_epoch_end=False, **kwargs)
        self.every_n_steps = every_n_steps

    def fire(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch) -> None:
        if lightning_compat.checkpoint_skips(self, trainer):
            return
        candidates = lightning_compat.monitor_candidates(self, trainer)
        candidates["model_step"] = torch.tensor(pl_module.model_step)
        lightning_compat.save_checkpoint_now(self, trainer, candidates)

    def state_dict(self) -> dict[str, Any]:
        return {**ModelCheckpoint.state_dict(self), **EveryModelSteps.state_dict(self)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        ModelCheckpoint.load_state_dict(self, state_dict)
        EveryModelSteps.load_state_dict(self, state_dict)
