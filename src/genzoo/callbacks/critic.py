"""Critic diagnostics during training: weight histogram (C11) and per-layer gradient norms (C12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from genzoo.callbacks.images import EveryModelSteps, log_image, save_figure
from genzoo.metrics.critic import clipped_fraction, layer_input_grad_norms, weight_values
from genzoo.plotting import STEP
from genzoo.sampling import real_batch


class CriticDiagnostics(EveryModelSteps, pl.Callback):
    """Every ``every_n_steps`` model steps (generator steps here) and at the end: histogram of the critic's weights
    and the per-layer input-gradient norms on a real batch, logged (W&B histograms and scalars)
    and plotted to ``{dirpath}/critic_weights.png`` and ``{dirpath}/critic_grad_norms.png``."""

    def __init__(self, dirpath: str, every_n_steps: int = 500, clip_value: float | None = None) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps
        self.clip_value = clip_value
        self.history: list[tuple[int, list[float]]] = []
        self._weights: torch.Tensor | None = None

    @staticmethod
    def check_model(model) -> None:
        """Called before the run: a family with no single critic is refused (what the diagnostics would read)."""
        from genzoo.errors import ConfigError

        if model.critic_net() is None:
            raise ConfigError(f"callbacks=wasserstein draws a critic's weights and gradients; model={model.name} has no "
                              "single critic (model=gan, wgan, wgan_gp, fgan or cgan have one). Use callbacks=default.")

    def fire(self, trainer, pl_module, batch) -> None:
        if not trainer.is_global_zero:
            return
        if batch is None:  # the end of training: a real batch of its own
            batch = real_batch(trainer.datamodule, 64, pl_module.device, split="train")
        g = pl_module.model_step
        critic = pl_module.critic_net()
        y = batch[1][:64] if pl_module.conditional else None
        with torch.enable_grad():
            norms = layer_input_grad_norms(critic, batch[0][:64], y)
        self.history.append((g, norms))
        w = weight_values(critic)
        c = self.clip_value or pl_module.clip_value
        metrics = {f"critic/grad_norm_layer{i}": v for i, v in enumerate(norms)}
        if c:
            metrics["critic/clipped_fraction"] = clipped_fraction(w, c)
        metrics["model_step"] = g
        pl_module.last_metrics = {**pl_module.last_metrics, **{k: torch.tensor(float(v)) for k, v in metrics.items()}}
        from genzoo.callbacks.metrics import log_metrics_now

        log_metrics_now(trainer, {k: v for k, v in metrics.items() if k != "model_step"}, g)
        for logger in trainer.loggers:
            if hasattr(logger, "log_histogram"):
                logger.log_histogram("critic/weights", w.numpy(), g)
        self._weights = w

    def finish(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero or self._weights is None:
            return
        self.plot(pl_module)
        for name in ("critic_weights", "critic_grad_norms"):
            log_image(trainer, name, self.dirpath / f"{name}.png", pl_module.model_step)

    def plot(self, pl_module) -> None:
        """``critic_weights.png`` and ``critic_grad_norms.png`` (``weights_figure``, ``grad_norms_figure``)."""
        self.dirpath.mkdir(parents=True, exist_ok=True)
        c = self.clip_value or pl_module.clip_value
        for name, fig in (("critic_weights", weights_figure(self._weights, pl_module.model_step, c)),
                          ("critic_grad_norms", grad_norms_figure(self.history))):
            save_figure(fig, self.dirpath / f"{name}.png", metadata={"genzoo:axes": json.dumps(axes_text(fig))})

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, **super().state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = state_dict["history"]
        super().load_state_dict(state_dict)


def weights_figure(weights: torch.Tensor, model_step: int, clip: float | None = None):
    """Histogram of the critic's weights, the clipping bounds dashed where there are some."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.hist(weights.numpy(), bins=100)
    for x in (-clip, clip) if clip else ():
        ax.axvline(x, color="tab:red", ls="--", lw=1)
    ax.set_title(f"critic weights at {STEP} {model_step}" + (f" (clipped to +-{clip:g}: dashed)" if clip else ""),
                 fontsize=10)
    ax.set_xlabel("weight value")
    ax.set_ylabel("number of weights")
    return fig


def grad_norms_figure(history: list[tuple[int, list[float]]]):
    """The per-layer input-gradient norms of the last 5 evaluations, one line per model step, against the
    critic layer (whole numbers, 1 the input side)."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6, 4), dpi=100, layout="constrained")
    ax = fig.subplots()
    for g, norms in history[-5:]:
        ax.plot(range(1, len(norms) + 1), norms, marker="o", label=f"{STEP} {g}")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("critic layer (1 = input side)")
    ax.set_ylabel("||dD / d(layer input)||, real batch")
    ax.set_title("critic's input-gradient norm per layer", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def axes_text(fig) -> dict:
    """The title, axis labels and legend of a one-axes figure (written into its PNG)."""
    ax = fig.axes[0]
    legend = ax.get_legend()
    return {"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "legend": [t.get_text() for t in legend.get_texts()] if legend else []}
