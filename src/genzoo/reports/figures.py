"""Figures shared by ``compare.py`` and the reports: metric curves against the model step (mean over
seeds, band = std), image grids in a panel, saving a figure."""

from __future__ import annotations

import statistics
from pathlib import Path

import torch

#: the x-axis of every curve: the model's own step counter (``model_step`` in the CSV and in W&B)
STEP_LABEL = "model step"


def pyplot():
    """matplotlib's pyplot drawing to files (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def metric_figure(metric: str, curves: dict[str, list[list[tuple[float, float]]]], dpi: int = 100):
    """One metric against the model step: a line with markers (at every logged step, up to 50) per configuration
    (``curves``: label -> one ``[(step, value), ...]`` series per seed), the mean over seeds, a band of one
    standard deviation (an error bar at a single step); axis labels, a title and the legend below the axes, outside the data. A
    configuration logged at a single step is a visible point, not an invisible line of one vertex."""
    plt = pyplot()
    drawn = {label: series for label, series in curves.items() if any(series)}
    seeds = max((len(s) for s in drawn.values()), default=0)
    fig = plt.figure(figsize=(6.4, 4.2 + 0.2 * len(drawn)), dpi=dpi, layout="constrained")
    ax = fig.add_subplot()
    for label, series in drawn.items():
        per_step: dict[float, list[float]] = {}
        for s in series:
            for step, v in s:
                per_step.setdefault(step, []).append(v)
        steps = sorted(per_step)
        mean = [statistics.fmean(per_step[g]) for g in steps]
        std = [statistics.stdev(per_step[g]) if len(per_step[g]) > 1 else 0.0 for g in steps]
        (line,) = ax.plot(steps, mean, marker="o", ms=4, markevery=max(1, -(-len(steps) // 50)), lw=1.2, label=label)
        if len(steps) > 1:
            ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)],
                            alpha=0.2, color=line.get_color(), lw=0)
        else:  # a band one step wide is invisible: the std as an error bar
            ax.errorbar(steps, mean, yerr=std, fmt="none", ecolor=line.get_color(), capsize=4, lw=1)
    ax.set_xlabel(STEP_LABEL)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: mean ± std over seeds" if seeds > 1 else metric, fontsize=10)
    ax.grid(alpha=0.3)
    if drawn:
        fig.legend(loc="outside lower center", fontsize=8, frameon=False)
    return fig


def show_grid(ax, images: torch.Tensor, nrow: int, title: str, fontsize: int | None = None) -> None:
    """Images in [-1, 1] as one grid in a matplotlib panel."""
    from torchvision.utils import make_grid

    grid = make_grid(images.clamp(-1, 1) * 0.5 + 0.5, nrow=nrow, padding=1)
    ax.imshow(grid.permute(1, 2, 0).numpy())
    ax.set_title(title, fontsize=fontsize)
    ax.axis("off")


def save_figure_and_say(fig, out: Path, *written: Path) -> None:
    """Save a report's figure (after laying it out) and say what the report wrote."""
    from genzoo.callbacks.images import save_figure

    if fig.get_layout_engine() is None:
        fig.tight_layout()
    save_figure(fig, out)
    print("Wrote " + " and ".join(str(p) for p in (*written, out)))
