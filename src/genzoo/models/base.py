"""What every genzoo family shares: step counters, exact-resume state, the sampling API."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch


def _numpy_state_to_safe(state: tuple) -> dict[str, Any]:
    """NumPy's RNG state in types that ``torch.load(weights_only=True)`` accepts."""
    name, keys, pos, has_gauss, cached = state
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _numpy_state_from_safe(state: dict[str, Any]) -> tuple:
    return (state["name"], state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"], state["cached"])


class GenerativeModule(pl.LightningModule):
    """Base of every family. Subclasses use manual optimisation and implement ``training_step``
    and ``sample``.

    ``g_step`` counts *generator (model) updates*: it is the unit of run length
    (``trainer.max_steps``), of the logging x-axis and of checkpoint/sample cadence. Lightning's
    ``global_step`` counts every optimiser step (a GAN takes k critic steps + 1 generator step).
    """

    #: Strategy train.py picks for several devices. Alternating updates leave one network's
    #: parameters without gradients in each backward, which plain DDP refuses.
    ddp_strategy = "ddp"
    #: Class-conditional models (``sample(y=...)`` generates class y) say so, with their class count.
    conditional = False
    num_classes: int | None = None

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.g_step = 0
        self.last_metrics: dict[str, torch.Tensor] = {}

    # --- run length --------------------------------------------------------------------------
    def lightning_steps(self, g_steps: int) -> int:
        """Lightning optimiser steps (``global_step``) taken by ``g_steps`` generator steps."""
        return g_steps

    # --- sampling ---------------------------------------------------------------------------------
    def sample(self, n: int | None = None, z: torch.Tensor | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def log_step(self, metrics: dict[str, torch.Tensor], prog_bar: bool = True) -> None:
        """Log per-step scalars, with the generator step alongside (the W&B x-axis).

        ``self.log`` costs about 1 ms a call on CPU, several times a small model's step, so scalars
        go to Lightning only on the steps its loggers write (``trainer.log_every_n_steps``) and at
        the last step. ``last_metrics`` always holds the newest values (read by callbacks).
        """
        self.last_metrics = metrics
        trainer = self.trainer
        last = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        if trainer._logger_connector.should_update_logs or last:
            self.log_dict(metrics, prog_bar=prog_bar, on_step=True, on_epoch=False)
            self.log("g_step", float(self.g_step), on_step=True, on_epoch=False)

    # --- multi-process noise --------------------------------------------------------------------
    def on_train_start(self) -> None:
        # Every rank starts from the same seed (or restored state); give each its own noise stream,
        # or all ranks would draw identical z and the global fake batch would repeat itself.
        if self.trainer.world_size > 1:
            draw = int(torch.randint(0, 2**62, (1,)).item())
            torch.manual_seed(draw + self.trainer.global_rank)

    # --- exact resume ---------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        return {"g_step": self.g_step}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["genzoo"] = {
            "config": getattr(self, "run_config", None),  # the resolved run config: eval.py/sample.py rebuild from it
            "counters": self.counters(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "numpy": _numpy_state_to_safe(np.random.get_state()),
                "python": random.getstate(),
            },
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("genzoo")
        if state is None:
            return
        for k, v in state["counters"].items():
            setattr(self, k, v)
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        np.random.set_state(_numpy_state_from_safe(rng["numpy"]))
        random.setstate(rng["python"])
