"""What the sweeps' report scripts share: a run's final CSV metrics, an image grid in a figure panel."""

from __future__ import annotations

import csv
from pathlib import Path

import torch


def final_csv_metrics(run: Path) -> dict[str, float]:
    """The last logged value of every metric of a run (its ``csv/metrics.csv``)."""
    out: dict[str, float] = {}
    with open(run / "csv" / "metrics.csv") as f:
        for row in csv.DictReader(f):
            out.update({k: float(v) for k, v in row.items() if v not in ("", None)})
    return out


def show_grid(ax, images: torch.Tensor, nrow: int, title: str, fontsize: int | None = None) -> None:
    """Images in [-1, 1] as one grid in a matplotlib panel."""
    from torchvision.utils import make_grid

    grid = make_grid(images.clamp(-1, 1) * 0.5 + 0.5, nrow=nrow, padding=1)
    ax.imshow(grid.permute(1, 2, 0).numpy())
    ax.set_title(title, fontsize=fontsize)
    ax.axis("off")


def save_figure_and_say(fig, out: Path, *written: Path) -> None:
    fig.tight_layout()
    fig.savefig(out)
    print("Wrote " + " and ".join(str(p) for p in (*written, out)))
