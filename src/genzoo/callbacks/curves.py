"""Training curves (every scalar the family logs each step) against model steps, saved as a PNG at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from genzoo import lightning_compat
from genzoo.callbacks.images import EveryModelSteps, log_image
from genzoo.plotting import metric_panels, save_curves


class LossCurves(EveryModelSteps, pl.Callback):
    """Records the family's training objectives each ``every_n_steps`` model steps (and at the end) and plots
    them (one panel per scalar, ``genzoo.plotting.save_curves``) to ``{dirpath}/losses.png`` at the end:
    every scalar whose name starts with one of ``prefix``: ``loss/...`` (the adversarial families' and
    CycleGAN's losses) and ``train/...`` (the VAE's loss and ELBO terms, PixelCNN/PixelRNN's NLL and
    bits/dim), so every family has its curves.

    Recording reads nothing from the device: the values are stacked there and read in one go on the steps
    the loggers write (``trainer.log_every_n_steps``), when a checkpoint saves the history, and at the end.
    """

    checks_divergence = False  # it only records the losses (a NaN is plotted as a gap); the logging steps check

    def __init__(self, dirpath: str, every_n_steps: int = 10, prefix: str | tuple[str, ...] = ("loss/", "train/")) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps, self.prefix = every_n_steps, prefix if isinstance(prefix, str) else tuple(prefix)
        self.history: dict[str, list[tuple[int, float]]] = {}
        #: recorded, not yet read: (model step, names, their values in one device tensor or as numbers)
        self._pending: list[tuple[int, list[str], torch.Tensor | list[float]]] = []
        self.path: Path | None = None

    def fire(self, trainer, pl_module, batch) -> None:
        keys = [k for k in pl_module.last_metrics if k.startswith(self.prefix)]
        if not keys:
            return
        values = [pl_module.last_metrics[k] for k in keys]
        if all(torch.is_tensor(v) for v in values) and len({v.device for v in values}) == 1:
            recorded: torch.Tensor | list[float] = torch.stack([v.detach().float().reshape(()) for v in values])
        else:  # plain numbers (a callback's own scalars)
            recorded = [float(v) for v in values]
        self._pending.append((pl_module.model_step, keys, recorded))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self._pending and lightning_compat.logs_due(trainer):  # a logging step reads the device anyway
            self.read_pending()

    def read_pending(self) -> None:
        """Move the recorded values into ``history`` (one host read per device)."""
        pending, self._pending = self._pending, []
        read: dict[int, list[float]] = {i: list(v) for i, (_, _, v) in enumerate(pending) if not torch.is_tensor(v)}
        by_device: dict[torch.device, list[int]] = {}
        for i, (_, _, v) in enumerate(pending):
            if torch.is_tensor(v):
                by_device.setdefault(v.device, []).append(i)
        for rows in by_device.values():
            flat = torch.cat([pending[i][2] for i in rows]).tolist()
            for i in rows:
                read[i], flat = flat[: len(pending[i][1])], flat[len(pending[i][1]):]
        for i, (step, keys, _) in enumerate(pending):
            for k, v in zip(keys, read[i]):
                self.history.setdefault(k, []).append((step, v))

    def finish(self, trainer, pl_module) -> None:
        self.read_pending()
        if not trainer.is_global_zero or not self.history:
            return
        self.path = save_curves(metric_panels(self.history), self.dirpath / "losses.png")
        log_image(trainer, "loss_curves", self.path, pl_module.model_step)

    def state_dict(self) -> dict[str, Any]:
        self.read_pending()  # a checkpoint holds every value recorded so far
        return {"history": self.history, **super().state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history, self._pending = state_dict["history"], []
        super().load_state_dict(state_dict)
