"""What the sweeps' report scripts share: finding a sweep's jobs, a run's final CSV metrics, an image grid
in a figure panel."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def report_parser(several: bool = True) -> argparse.ArgumentParser:
    """A report's command line: the sweep's folder(s) (``roots``; ``root`` when it reads one) and ``--out``."""
    p = argparse.ArgumentParser()
    if several:
        p.add_argument("roots", type=Path, nargs="+", help="multirun folders (or run folders) of the sweep")
    else:
        p.add_argument("root", type=Path, help="the sweep's multirun folder")
    p.add_argument("--out", type=Path, default=RESULTS)
    return p


def pyplot():
    """matplotlib's pyplot drawing to files (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def run_report(main) -> None:
    """Run a report's ``main`` as the entry points run theirs: a bad input (a folder that is not a sweep's,
    a checkpoint that is not genzoo's) is one line and exit 2, a bug keeps its traceback."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from genzoo.errors import exit_on_user_error

    try:
        main()
    except Exception as exc:
        exit_on_user_error(exc)


def no_runs(message: str) -> None:
    """A report given folders with nothing to report on: a bad input, not a bug."""
    from genzoo.errors import GenzooError

    raise GenzooError(message)


def sweep_jobs(roots: list[Path]) -> list[Path]:
    """The run folders under each of ``roots``: a multirun folder's numbered jobs in order, or the root itself
    when it is one run (it has ``.hydra/``). A root that is not a folder is a bad input."""
    jobs = []
    for root in roots:
        if not root.is_dir():
            no_runs(f"{root} is not a folder; pass the sweep's outputs/<task>/multiruns/<time> (or one of its jobs)")
        if (root / ".hydra").is_dir():
            jobs.append(root)
            continue
        jobs += sorted((q for q in root.iterdir() if (q / ".hydra").is_dir()),
                       key=lambda q: (0, int(q.name), "") if q.name.isdigit() else (1, 0, q.name))
    return jobs


def overrides_of(run: Path) -> dict[str, str]:
    """The command-line overrides of a run (its ``.hydra/overrides.yaml``) as key -> value."""
    import yaml

    items = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text()) or []
    return dict(o.split("=", 1) for o in items if "=" in o)


def full_length_runs(roots: list[Path], sweep: str, describe) -> list[dict]:
    """One record per job under ``roots`` that logged its final metrics to CSV: ``describe(overrides,
    final metrics)`` gives the record, or None while the job is running (or failed). Only the runs that
    reached the sweep's length (the longest) are kept: the others are listed as left out, never compared."""
    runs = []
    for job in sweep_jobs(roots):
        if not (job / "csv" / "metrics.csv").is_file():
            continue
        final = final_csv_metrics(job)
        record = describe(overrides_of(job), final)
        if record is not None:
            runs.append({**record, "steps": int(final.get("model_step", 0)), "job": job})
    if not runs:
        no_runs(f"no finished {sweep} runs under {', '.join(map(str, roots))}")
    length = max(r["steps"] for r in runs)
    partial = [r for r in runs if r["steps"] < length]
    if partial:
        print(f"Left out {len(partial)} run(s) that stopped before step {length}: "
              + ", ".join(f"{r['job'].parent.name}/{r['job'].name} (step {r['steps']})" for r in partial))
    return [r for r in runs if r["steps"] == length]


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
