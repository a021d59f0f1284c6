"""Checkpoints every N generator steps (Lightning's ``every_n_train_steps`` counts all optimiser steps)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from genzoo.callbacks.images import EveryGeneratorSteps


class GeneratorStepCheckpoint(EveryGeneratorSteps, ModelCheckpoint):
    """``ModelCheckpoint`` triggered by ``pl_module.g_step``; ``{g_step}`` may appear in ``filename``.

    Also saves once at the end of training, so the final weights are always on disk.
    """

    def __init__(self, every_n_g_steps: int = 1000, **kwargs: Any) -> None:
        kwargs.setdefault("filename", "g{g_step:07.0f}")
        kwargs.setdefault("auto_insert_metric_name", False)
        kwargs.setdefault("save_top_k", -1)
        kwargs.setdefault("save_last", True)
        super().__init__(every_n_train_steps=0, every_n_epochs=0, save_on_train_epoch_end=False, **kwargs)
        self.every_n_g_steps = every_n_g_steps
        self._last_g_saved = -1

    def _monitor_candidates(self, trainer: pl.Trainer) -> dict[str, torch.Tensor]:
        candidates = super()._monitor_candidates(trainer)
        candidates["g_step"] = torch.tensor(trainer.lightning_module.g_step)
        return candidates

    def fire(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._should_skip_saving_checkpoint(trainer) or pl_module.g_step == self._last_g_saved:
            return
        self._last_g_saved = pl_module.g_step
        candidates = self._monitor_candidates(trainer)
        self._save_topk_checkpoint(trainer, candidates)
        self._save_last_checkpoint(trainer, candidates)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "last_g_saved": self._last_g_saved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._last_g_saved = state_dict.get("last_g_saved", -1)
