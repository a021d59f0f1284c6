"""Turning samples into pictures: image grids and 2-D scatter plots, saved as PNG and logged; text samples
as text files, logged as tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from genzoo.checkpoints import atomic_write
from genzoo.plotting import save_figure, save_grid

__all__ = ["EveryModelSteps", "copy_file", "log_image", "log_samples", "read_text_samples", "save_figure", "save_grid",
           "save_scatter", "save_text"]


def due(step: int, every: int) -> bool:
    """True on model steps every, 2 * every, ... (every <= 0: never)."""
    return every > 0 and step > 0 and step % every == 0


class EveryModelSteps:
    """The one cadence rule of genzoo's callbacks: ``fire(trainer, pl_module, batch)`` every
    ``every_n_steps`` model steps (``pl_module.model_step``) and once more at the end of training
    (``batch`` None there), never twice for one model step (an adversarial model step spans several
    batches). The step last fired is part of the callback's state, so a resumed run does not fire
    again. Put it first among the bases so its hooks are the ones Lightning calls; ``finish`` runs
    after the last ``fire`` (plots). Before firing it checks that training has not diverged (one host sync,
    so that no sample, score or checkpoint is made of diverged weights); a callback that only records
    values (the loss curves) sets ``checks_divergence = False`` and costs no sync."""

    every_n_steps: int
    last_fired: int = -1
    checks_divergence = True

    def fire(self, trainer, pl_module, batch) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def finish(self, trainer, pl_module) -> None:
        """After the final ``fire`` of a run (plots, summaries)."""

    def _fire_once(self, trainer, pl_module, batch) -> None:
        if pl_module.model_step != self.last_fired:
            if self.checks_divergence:
                pl_module.raise_if_diverged()  # never sample, score or save diverged weights (all ranks agree)
            self.last_fired = pl_module.model_step
            self.fire(trainer, pl_module, batch)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if due(pl_module.model_step, self.every_n_steps):
            self._fire_once(trainer, pl_module, batch)

    def on_train_end(self, trainer, pl_module) -> None:
        if getattr(pl_module, "interrupted", None):  # preempted: the checkpoint is saved, leave quickly
            return
        self._fire_once(trainer, pl_module, None)
        self.finish(trainer, pl_module)

    def state_dict(self) -> dict:
        return {"last": self.last_fired}

    def load_state_dict(self, state_dict: dict) -> None:
        self.last_fired = state_dict.get("last", -1)


def save_scatter(samples: torch.Tensor, real: torch.Tensor, path: str | Path, title: str = "",
                 labels: torch.Tensor | None = None) -> Path:
    """``scatter_figure`` saved as a PNG, its labels and view in the PNG's text (``genzoo:scatter``)."""
    fig = scatter_figure(samples, real, title, labels)
    ax = fig.axes[0]
    info = {"xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(), "title": ax.get_title(), "limits": list(ax.get_xlim())}
    save_figure(fig, path, metadata={"genzoo:scatter": json.dumps(info)})
    return Path(path)


def scatter_figure(samples: torch.Tensor, real: torch.Tensor, title: str = "", labels: torch.Tensor | None = None):
    """2-D samples drawn over the data; with ``labels`` (the classes asked of a conditional model)
    each class gets its own colour. The view holds the data and the samples (those further than 10 times
    the data's reach are counted in the title instead); the legend sits below the plot, off the data."""
    from matplotlib.figure import Figure

    r, s = real.detach().float().cpu().numpy(), samples.detach().float().cpu().numpy()
    reach = max(float(np.abs(r).max()), 1e-3)
    finite = s[np.isfinite(s).all(1)]
    shown = finite[np.abs(finite).max(1) <= 10 * reach] if len(finite) else finite
    lim = 1.1 * max(reach, float(np.abs(shown).max()) if len(shown) else 0.0)
    fig = Figure(figsize=(5.5, 6.2), dpi=100, layout="constrained")
    ax = fig.subplots()
    ax.scatter(r[:, 0], r[:, 1], s=3, c="tab:blue", alpha=0.3, label="data")
    if labels is None:
        ax.scatter(s[:, 0], s[:, 1], s=3, c="tab:orange", alpha=0.6, label="samples")
    else:
        ax.scatter(s[:, 0], s[:, 1], s=3, c=labels.cpu().numpy(), cmap="tab10" if int(labels.max()) < 10 else "tab20",
                   alpha=0.7, label="samples (colour: class asked for)")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2, markerscale=4, frameon=False)
    outside = len(s) - len(shown)
    ax.set_title(title + (f" ({outside} of {len(s)} samples outside the view)" if outside else ""), fontsize=10)
    return fig


def copy_file(src: Path, dst: Path) -> Path:
    """``dst`` becomes a copy of ``src`` (atomically: a reader never sees half of it)."""
    with atomic_write(dst) as tmp:
        tmp.write_bytes(Path(src).read_bytes())
    return dst


def save_text(lines: list[str], path: str | Path, nrow: int = 8) -> Path:
    """Text samples, one a line, a blank line after every ``nrow`` (the rows of a grid), atomically."""
    path = Path(path)
    groups = ["\n".join(lines[i : i + nrow]) for i in range(0, len(lines), max(1, nrow))]
    with atomic_write(path) as tmp:
        tmp.write_text("\n\n".join(groups) + "\n", encoding="utf-8")
    return path


def read_text_samples(path: str | Path) -> list[str]:
    """The samples of a file ``save_text`` wrote (blank separator lines dropped)."""
    return [line for line in Path(path).read_text(encoding="utf-8").split("\n") if line]


def log_samples(trainer, key: str, path: Path, model_step: int) -> None:
    """A saved picture (``.png``: ``log_image``) or text file of samples (``.txt``: a table of them in W&B,
    text in TensorBoard, an artifact in MLflow, through the loggers' ``log_text_file``)."""
    if Path(path).suffix != ".txt":
        log_image(trainer, key, path, model_step)
        return
    for logger in trainer.loggers:
        if hasattr(logger, "log_text_file"):
            logger.log_text_file(key, Path(path), model_step)


def log_image(trainer, key: str, path: Path, model_step: int) -> None:
    """Send a saved PNG to every logger that takes images (W&B, TensorBoard, MLflow: the genzoo
    loggers' ``log_image_file``); the CSV logger has no images."""
    for logger in trainer.loggers:
        if hasattr(logger, "log_image_file"):
            logger.log_image_file(key, Path(path), model_step)
