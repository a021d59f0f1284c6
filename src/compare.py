"""Compare the runs of one or more multirun folders, from local files alone.

    python src/compare.py outputs/train/multiruns/<time> [more folders] [--out DIR] [--wandb PROJECT]

Each job folder holds ``.hydra/overrides.yaml`` and ``csv/metrics.csv``. Jobs whose overrides differ
only in ``seed`` form one configuration. Writes ``comparison.md`` and ``comparison.csv`` (final value
of every metric per configuration, mean +- std over seeds) and ``<metric>.png`` (each metric against
generator steps, one line per configuration: mean over seeds, band = std). ``--wandb PROJECT`` also
builds the comparison as a W&B Report (needs a W&B login and the wandb-workspaces package).
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import yaml

from genzoo.callbacks.images import save_figure
from genzoo.checkpoints import atomic_write

SKIP = {"epoch", "step", "model_step", "g_step"}  # g_step: the x-axis of runs before the rename


def find_jobs(roots: list[Path]) -> list[Path]:
    jobs = []
    for root in roots:
        if not root.exists():
            raise SystemExit(f"error: {root} does not exist (give a multirun folder, e.g. outputs/train/multiruns/<time>)")
        for ov in sorted(root.rglob(".hydra/overrides.yaml")):
            job = ov.parent.parent
            if (job / "csv" / "metrics.csv").is_file():
                jobs.append(job)
    if not jobs:
        raise SystemExit(f"error: no job folders with .hydra/overrides.yaml and csv/metrics.csv under {', '.join(map(str, roots))}")
    return jobs


def overrides_of(job: Path) -> tuple[frozenset[str], str]:
    overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []
    seed = next((o.split("=", 1)[1] for o in overrides if o.startswith("seed=")), "0")
    return frozenset(o for o in overrides if not o.startswith(("seed=", "hydra."))), seed


def read_series(job: Path) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with open(job / "csv" / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            g = row.get("model_step") or row.get("g_step")
            if not g:
                continue
            for k, v in row.items():
                if k not in SKIP and v not in ("", None):
                    series[k].append((float(g), float(v)))
    return series


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(m: float, s: float) -> str:
    return f"{m:.4g} ± {s:.2g}"


def compare(roots: list[Path], out: Path) -> dict:
    runs: dict[str, dict[str, dict[str, list[tuple[float, float]]]]] = defaultdict(dict)
    jobs = [(job, *overrides_of(job)) for job in find_jobs(roots)]
    common = frozenset.intersection(*(o for _, o, _ in jobs))  # shown once, not in every label
    for job, overrides, seed in jobs:
        label = " ".join(sorted(overrides - common)) or "(defaults)"
        runs[label][f"{job}#{seed}"] = read_series(job)
    metrics = sorted({m for by_seed in runs.values() for s in by_seed.values() for m in s})
    out.mkdir(parents=True, exist_ok=True)
    table = {}
    for label, by_seed in runs.items():
        table[label] = {"seeds": len(by_seed)}
        for m in metrics:
            finals = [s[m][-1][1] for s in by_seed.values() if s.get(m)]
            if finals:
                table[label][m] = mean_std(finals)
    with atomic_write(out / "comparison.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["config", "seeds"] + [x for m in metrics for x in (f"{m} mean", f"{m} std")])
        for label, row in table.items():
            w.writerow([label, row["seeds"]] + [x for m in metrics for x in (row.get(m, ("", ""))[0], row.get(m, ("", ""))[1])])
    lines = ["| config | seeds | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for label, row in table.items():
        cells = [fmt(*row[m]) if m in row else "" for m in metrics]
        lines.append(f"| {label} | {row['seeds']} | " + " | ".join(cells) + " |")
    shared = f"Overrides shared by every run: `{' '.join(sorted(common))}`\n\n" if common else ""
    with atomic_write(out / "comparison.md") as tmp:
        tmp.write_text("Final value of each metric, mean ± std over seeds.\n\n" + shared + "\n".join(lines) + "\n")
    plots = [plot_metric(m, runs, out) for m in metrics]
    return {"table": table, "markdown": out / "comparison.md", "csv": out / "comparison.csv", "plots": plots}


def plot_metric(metric: str, runs, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, by_seed in runs.items():
        per_step: dict[float, list[float]] = defaultdict(list)
        for s in by_seed.values():
            for g, v in s.get(metric, []):
                per_step[g].append(v)
        if not per_step:
            continue
        steps = sorted(per_step)
        mean = [statistics.fmean(per_step[g]) for g in steps]
        std = [statistics.stdev(per_step[g]) if len(per_step[g]) > 1 else 0.0 for g in steps]
        ax.plot(steps, mean, label=label, lw=1.2)
        ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.2)
    ax.set_xlabel("generator step")
    ax.set_title(metric)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / (re.sub(r"[^A-Za-z0-9_.-]+", "_", metric).strip("_") + ".png")
    save_figure(fig, path)
    return path


def wandb_report(project: str, roots: list[Path], metrics: list[str]) -> str:
    from genzoo.logging_utils import wandb_credentials_present

    if not wandb_credentials_present():
        raise SystemExit("error: --wandb needs a W&B login (wandb login, or WANDB_API_KEY); the local comparison was written.")
    try:
        import wandb_workspaces.reports.v2 as wr
    except ImportError:
        raise SystemExit("error: --wandb needs the wandb-workspaces package: pip install wandb-workspaces")
    panels = [wr.LinePlot(x="model_step", y=[m], title=m) for m in metrics if not m.startswith(("d/", "critic/"))]
    report = wr.Report(project=project, title=f"genzoo comparison: {', '.join(r.name for r in roots)}",
                       blocks=[wr.PanelGrid(runsets=[wr.Runset(project=project)], panels=panels)])
    report.save()
    return report.url


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: <first path>/comparison)")
    ap.add_argument("--wandb", metavar="PROJECT", default=None)
    a = ap.parse_args(argv)
    out = a.out or a.paths[0] / "comparison"
    res = compare(a.paths, out)
    print((out / "comparison.md").read_text())
    print(f"Wrote {res['markdown']}, {res['csv']} and {len(res['plots'])} plots in {out}")
    if a.wandb:
        metrics = sorted({m for row in res["table"].values() for m in row if m != "seeds"})
        print(f"W&B report: {wandb_report(a.wandb, a.paths, metrics)}")


if __name__ == "__main__":
    main(sys.argv[1:])
