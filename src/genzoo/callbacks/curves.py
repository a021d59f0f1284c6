"""Loss curves against generator steps, saved as a PNG at the end of training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from genzoo.callbacks.images import log_image


class LossCurves(pl.Callback):
    """Records every metric whose name starts with ``prefix`` each ``every_n_g_steps`` generator
    steps and plots them (one panel per metric) to ``{dirpath}/losses.png`` at the end."""

    def __init__(self, dirpath: str, every_n_g_steps: int = 10, prefix: str = "loss/") -> None:
        self.dirpath = Path(dirpath)
        self.every, self.prefix = every_n_g_steps, prefix
        self.history: dict[str, list[tuple[int, float]]] = {}
        self._last = -1
        self.path: Path | None = None

    def _record(self, pl_module, g: int) -> None:
        self._last = g
        for k, v in pl_module.last_metrics.items():
            if k.startswith(self.prefix):
                self.history.setdefault(k, []).append((g, float(v)))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        g = pl_module.g_step
        if g != self._last and g % self.every == 0:
            self._record(pl_module, g)

    def on_train_end(self, trainer, pl_module) -> None:
        if pl_module.g_step != self._last:
            self._record(pl_module, pl_module.g_step)
        if not trainer.is_global_zero or not self.history:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        keys = sorted(self.history)
        fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), dpi=100, squeeze=False)
        for ax, k in zip(axes[0], keys):
            steps, values = zip(*self.history[k])
            ax.plot(steps, values, lw=1)
            ax.set_title(k)
            ax.set_xlabel("generator step")
        fig.tight_layout()
        self.dirpath.mkdir(parents=True, exist_ok=True)
        self.path = self.dirpath / "losses.png"
        fig.savefig(self.path)
        plt.close(fig)
        log_image(trainer, "loss_curves", self.path, pl_module.g_step)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, "last": self._last}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = state_dict["history"]
        self._last = state_dict["last"]
