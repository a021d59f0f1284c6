"""Pictures a person can read: the one way every grid of images is saved, and the one way curves are drawn.

- ``save_grid``: images in [-1, 1] as a grid (1 px black padding), upscaled by an integer factor (nearest
  neighbour: every pixel stays a sharp square) to at least ``MIN_SIDE`` px on the short side, and, where a
  label carries meaning (``GridLabels``: the class of each row, a traversal's dimensions and quantiles,
  a translation's rows, a completion's columns), drawn with those labels around it. The layout and the
  labels are also written into the PNG's text (``genzoo:grid``, read back by ``read_grid_info``).
- ``save_curves``: one panel per metric (a /raw twin in the same panel), at most 4 panels a row, each
  4 x 3 in, the x-axis in model steps (``STEP``) everywhere; the panels' titles and labels are written
  into the PNG's text (``genzoo:panels``).
- ``picture_labels``: the labels of a family's pictures, from its contract (``picture_names``,
  ``num_classes``, ``directions``) and the picture's layout.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from genzoo.checkpoints import atomic_write

#: the x-axis of every curve: the unit of run length (generator steps for adversarial families,
#: optimiser steps of the model for the others)
STEP = "model step"
#: the short side of a saved grid is at least this many pixels
MIN_SIDE = 256
PADDING = 1
FONT_SIZE = 9


@dataclass
class GridLabels:
    """Labels of a grid: one tick label per row and/or per column of cells, what each axis varies, a title."""

    rows: Sequence[str] = ()
    columns: Sequence[str] = ()
    row_axis: str = ""
    column_axis: str = ""
    title: str = ""

    def __bool__(self) -> bool:
        return bool(self.rows or self.columns or self.row_axis or self.column_axis or self.title)


def grid_pixels(images: torch.Tensor, nrow: int) -> np.ndarray:
    """Images (N, C, H, W) in [-1, 1] -> one (H', W', 3) uint8 grid, as torchvision's ``save_image`` makes it."""
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().float().cpu(), nrow=nrow, padding=PADDING, normalize=True, value_range=(-1, 1))
    return grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()


def upscale(pixels: np.ndarray, min_side: int = MIN_SIDE) -> tuple[np.ndarray, int]:
    """Nearest-neighbour upscaling by the smallest integer factor that makes the short side >= ``min_side``."""
    k = max(1, math.ceil(min_side / max(1, min(pixels.shape[:2]))))
    return (pixels.repeat(k, 0).repeat(k, 1) if k > 1 else pixels), k


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 8, labels: GridLabels | None = None,
              min_side: int = MIN_SIDE) -> Path:
    """Images in [-1, 1] -> one PNG grid, upscaled and (with ``labels``) labelled (module docstring)."""
    path = Path(path)
    big, k = upscale(grid_pixels(images, nrow), min_side)
    meta = {"genzoo:grid": json.dumps(_grid_info(images, nrow, k, labels))}
    if labels:
        save_figure(grid_figure(big, k, tuple(images.shape[-2:]), labels), path, metadata=meta, tight=True)
        return path
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    png = PngInfo()
    for key, value in meta.items():
        png.add_text(key, value)
    with atomic_write(path) as tmp:
        Image.fromarray(big).save(tmp, format="png", pnginfo=png)
    return path


def _grid_info(images: torch.Tensor, nrow: int, scale: int, labels: GridLabels | None) -> dict:
    n, labels = len(images), labels or GridLabels()
    return {"columns": min(nrow, n), "rows": math.ceil(n / max(1, nrow)), "cell": list(images.shape[-2:]),
            "padding": PADDING, "scale": scale, "row_labels": list(labels.rows), "column_labels": list(labels.columns),
            "row_axis": labels.row_axis, "column_axis": labels.column_axis, "title": labels.title}


def read_grid_info(path: str | Path) -> dict:
    """What ``save_grid`` wrote into a PNG: columns and rows of cells, cell size, scale, the labels."""
    from PIL import Image

    with Image.open(path) as image:
        return json.loads(image.text["genzoo:grid"])


def grid_figure(pixels: np.ndarray, scale: int, cell: tuple[int, int], labels: GridLabels):
    """The upscaled grid drawn 1:1 (one image pixel a screen pixel) with its labels around it."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullLocator

    dpi = 100
    height, width = pixels.shape[:2]
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(pixels, interpolation="none", aspect="equal")
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.tick_params(length=0, labelsize=FONT_SIZE, pad=3)

    def centres(count: int, size: int) -> list[float]:  # of cell i, in upscaled pixels
        return [scale * (PADDING + i * (size + PADDING)) + scale * size / 2 - 0.5 for i in range(count)]

    if labels.rows:
        ax.set_yticks(centres(len(labels.rows), cell[0]), list(labels.rows))
    else:
        ax.yaxis.set_major_locator(NullLocator())
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    if labels.columns:
        spacing = scale * (cell[1] + PADDING)
        tilted = max(len(c) for c in labels.columns) * 0.6 * FONT_SIZE * dpi / 72 > spacing
        ax.set_xticks(centres(len(labels.columns), cell[1]), list(labels.columns), rotation=45 if tilted else 0,
                      ha="left" if tilted else "center", rotation_mode="anchor" if tilted else "default")
    else:
        ax.xaxis.set_major_locator(NullLocator())
    ax.set_ylabel(labels.row_axis, fontsize=FONT_SIZE)
    ax.set_xlabel(labels.column_axis, fontsize=FONT_SIZE)
    if labels.title:
        ax.set_title(labels.title, fontsize=FONT_SIZE + 1, pad=6)
    return fig


def save_figure(fig, path: str | Path, metadata: dict[str, str] | None = None, tight: bool = False) -> Path:
    """A matplotlib figure to PNG, atomically (``tight``: the canvas grows to hold every label, nothing is
    rescaled); the figure is closed. ``metadata``: text written into the PNG."""
    import io

    import matplotlib.pyplot as plt
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", **({"bbox_inches": "tight", "pad_inches": 0.08} if tight else {}))
    finally:
        plt.close(fig)
    png = PngInfo()
    for key, value in (metadata or {}).items():
        png.add_text(key, value)
    with Image.open(buffer) as image, atomic_write(path) as tmp:  # RGB, as the unlabelled grids: no alpha channel
        image.convert("RGB").save(tmp, format="png", pnginfo=png)
    return Path(path)


# --- curves -----------------------------------------------------------------------------------------

@dataclass
class Panel:
    """One panel of curves: a title, what its y-axis measures, and its lines (label -> (step, value) points)."""

    title: str
    ylabel: str
    lines: dict[str, list[tuple[int, float]]]


def metric_panels(history: dict[str, list[tuple[int, float]]]) -> list[Panel]:
    """One panel per metric in the order first recorded, titled by its name and labelled by what it measures
    (``metric_label``); a ``<name>/raw`` twin (the trained weights of a run that samples from a weight
    average) shares its panel."""
    from genzoo.metrics.names import metric_label

    panels = []
    for key in (k for k in history if not (k.endswith("/raw") and k[: -len("/raw")] in history)):
        raw = history.get(f"{key}/raw")
        lines = {"weight average": history[key], "trained weights": raw} if raw else {key: history[key]}
        panels.append(Panel(key, metric_label(key), lines))
    return panels


def curves_figure(panels: Sequence[Panel], columns: int = 4, panel_size: tuple[float, float] = (4.0, 3.0)):
    """Panels on a grid of at most ``columns`` a row, ``panel_size`` inches each, x-axis ``STEP``."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    cols = max(1, min(columns, len(panels)))
    rows = max(1, math.ceil(len(panels) / cols))
    fig = Figure(figsize=(panel_size[0] * cols, panel_size[1] * rows), dpi=100, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, panel in zip(axes, panels):
        for label, points in panel.lines.items():
            steps, values = zip(*points) if points else ((), ())
            ax.plot(steps, values, lw=1.2, marker="o" if len(points) <= 30 else None, ms=3, label=label)
        ax.set_title(panel.title, fontsize=FONT_SIZE)
        ax.set_xlabel(STEP, fontsize=FONT_SIZE)
        ax.set_ylabel(_wrap(panel.ylabel, 38), fontsize=FONT_SIZE - 1)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        last = max((s for points in panel.lines.values() for s, _ in points), default=1)
        ax.set_xlim(0, max(1, last) * 1.04)  # from the start of training, whatever was recorded first
        ax.tick_params(labelsize=FONT_SIZE - 1)
        ax.grid(alpha=0.3)
        if len(panel.lines) > 1:
            ax.legend(fontsize=FONT_SIZE - 2)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return fig


def save_curves(panels: Sequence[Panel], path: str | Path) -> Path:
    """``curves_figure`` to a PNG, with each panel's title and axis labels in its text (``genzoo:panels``)."""
    described = [{"title": p.title, "xlabel": STEP, "ylabel": p.ylabel, "lines": list(p.lines)} for p in panels]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save_figure(curves_figure(panels), path, metadata={"genzoo:panels": json.dumps(described)})


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


# --- the labels of pictures -------------------------------------------------------------------------

def sample_labels(y: torch.Tensor | None, nrow: int) -> GridLabels | None:
    """A grid of samples of a label-conditional model: each row's class, where every row holds one class."""
    if y is None or len(y) == 0:
        return None
    rows = [y[i : i + nrow] for i in range(0, len(y), nrow)]
    if any(bool((r != r[0]).any()) for r in rows):
        return None
    return GridLabels(rows=[str(int(r[0])) for r in rows], row_axis="class asked for")


def quantile_labels(side: int) -> list[str]:
    """The N(0, 1) quantiles 5%..95% a VAE traversal sweeps, as tick labels."""
    return [f"{100 * q:.0f}%" for q in torch.linspace(0.05, 0.95, side).tolist()]


def traversal_dims(model, batch: tuple[torch.Tensor, ...]) -> list[int]:
    """The latent dimensions a VAE's traversal sweeps on ``batch``: the two of largest mean KL."""
    from genzoo.losses.likelihood import gaussian_kl

    with torch.no_grad():
        mu, logvar = model.encode(batch[0], batch[1] if model.condition == "label" else None)
    return gaussian_kl(mu, logvar).mean(0).topk(min(2, mu.shape[1])).indices.tolist()


def picture_labels(model, name: str, images: torch.Tensor, nrow: int,
                   batch: tuple[torch.Tensor, ...] | None = None) -> GridLabels:
    """The labels of a family's picture ``name`` (one of ``model.picture_names``) with ``nrow`` images a row,
    made from the held-out ``batch`` (needed for a traversal's dimensions)."""
    rows = math.ceil(len(images) / max(1, nrow))
    if name == "reconstructions":
        half = rows // 2
        return GridLabels(rows=["input"] * half + ["reconstruction"] * (rows - half),
                          title="held-out images and their reconstructions")
    if name == "traversal":
        dims = traversal_dims(model, batch) if batch is not None else []
        z = [f"z[{d}]" for d in dims] or ["1st latent dim. by KL", "2nd latent dim. by KL"]
        other = f"{z[1]} at N(0,1) quantile" if len(z) > 1 else "(a one-dimensional latent: columns repeat)"
        return GridLabels(rows=quantile_labels(rows), columns=quantile_labels(nrow), row_axis=f"{z[0]} at N(0,1) quantile",
                          column_axis=other, title="traversal of the two latent dimensions of largest KL")
    if name == "interpolations":
        return GridLabels(rows=[str(i + 1) for i in range(rows)],
                          columns=[f"{j / max(1, nrow - 1):.2g}" for j in range(nrow)], row_axis="pair of held-out images",
                          column_axis="t: the code (1 - t) mu_1 + t mu_2, decoded")
    if name == "style_transfer":
        classes = [str(c) for c in range(int(model.num_classes or nrow - 1))]
        return GridLabels(columns=["input", *classes], row_axis="held-out image",
                          column_axis="input, then its code decoded as each class")
    if name.startswith("completion_"):
        share = name.split("_", 1)[1]
        return GridLabels(columns=["given", *[str(i + 1) for i in range(nrow - 2)], "original"],
                          column_axis=f"given (lower {share}% hidden, grey) | completions | original",
                          title=f"completions of held-out images, lower {share}% hidden")
    if name.startswith("translation_"):
        from genzoo.sampling import domains

        src, tgt = domains(name.split("_", 1)[1])
        return GridLabels(rows=[f"source {src}", f"{src}->{tgt}", f"back {tgt}->{src}"][:rows],
                          title=f"held-out {src} images translated {src}->{tgt} and back")
    return GridLabels(title=name)


def save_picture(model, name: str, images: torch.Tensor, nrow: int, path: str | Path,
                 batch: tuple[torch.Tensor, ...] | None = None) -> Path:
    """A family's picture (``model.pictures(batch, ...)[name]``) saved as a labelled grid."""
    return save_grid(images, path, nrow=nrow, labels=picture_labels(model, name, images, nrow, batch))
