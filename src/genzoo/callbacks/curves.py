"""Loss curves against generator steps, saved as a PNG at the end of training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from genzoo.callbacks.images import EveryModelSteps, log_image, save_figure


class LossCurves(EveryModelSteps, pl.Callback):
    """Records every metric whose name starts with ``prefix`` each ``every_n_steps`` model
    steps (and at the end) and plots them (one panel per metric) to ``{dirpath}/losses.png`` at the end."""

    def __init__(self, dirpath: str, every_n_steps: int = 10, prefix: str = "loss/") -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps, self.prefix = every_n_steps, prefix
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.path: Path | None = None

    def fire(self, trainer, pl_module, batch) -> None:
        for k, v in pl_module.last_metrics.items():
            if k.startswith(self.prefix):
                self.history.setdefault(k, []).append((pl_module.model_step, float(v)))

    def finish(self, trainer, pl_module) -> None:
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
            ax.set_xlabel("model step")
        fig.tight_layout()
        self.dirpath.mkdir(parents=True, exist_ok=True)
        self.path = self.dirpath / "losses.png"
        save_figure(fig, self.path)
        log_image(trainer, "loss_curves", self.path, pl_module.model_step)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, **super().state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = state_dict["history"]
        super().load_state_dict(state_dict)
