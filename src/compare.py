"""Compare the runs of one or more multirun folders, from local files alone.

    python src/compare.py outputs/train/multiruns/<time> [more folders] [--out DIR] [--wandb PROJECT]

Each job folder holds ``.hydra/overrides.yaml`` and ``csv/metrics.csv``. Jobs whose overrides differ
only in ``seed`` form one configuration. Writes ``comparison.md`` and ``comparison.csv`` (final value
of every metric per configuration, mean +- std over seeds) and ``<metric>.png`` (each metric against
the model step, one line with a marker per logged step per configuration: mean over seeds, band = std).

``--wandb [[ENTITY/]PROJECT]`` also saves the comparison as a W&B Report over the W&B runs of those
job folders (a Hydra multirun's jobs, or the single runs a ``wandb agent`` started): one line plot per
metric against model steps with the runs grouped by configuration (seeds averaged, band = std), a
runs table with the swept overrides as columns, and the sample grids and plots as media panels.
Needs a W&B login and ``pip install -e ".[wandb-report]"``. ``--wandb-dry-run`` builds the report and
prints what it holds without saving it (no login needed).
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from collections import defaultdict
from pathlib import Path

import yaml

from genzoo.callbacks.images import save_figure
from genzoo.checkpoints import atomic_write
from genzoo.errors import ConfigError, exit_on_user_error
from genzoo.logging_utils import configuration_label
from genzoo.reports.figures import metric_figure
from genzoo.reports.runs import configuration_of, fmt, has_csv, mean_std, metric_series, sweep_jobs


def find_jobs(roots: list[Path]) -> list[Path]:
    """The job folders under ``roots`` that logged metrics to CSV."""
    jobs = [job for job in sweep_jobs(roots) if has_csv(job)]
    if not jobs:
        raise ConfigError(f"no job folders with .hydra/overrides.yaml and csv/metrics.csv under {', '.join(map(str, roots))}: "
                          "give the folder of a finished multirun or run")
    return jobs


def compare(roots: list[Path], out: Path) -> dict:
    runs: dict[str, dict[str, dict[str, list[tuple[float, float]]]]] = defaultdict(dict)
    jobs = [(job, *configuration_of(job)) for job in find_jobs(roots)]
    common = frozenset.intersection(*(o for _, o, _ in jobs))  # shown once, not in every label
    for job, overrides, seed in jobs:
        label = " ".join(sorted(overrides - common)) or "(defaults)"
        runs[label][f"{job}#{seed}"] = metric_series(job)
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
    """``<metric>.png``: the metric against the model step, one line (with markers) per configuration."""
    curves = {label: [s[metric] for s in by_seed.values() if s.get(metric)] for label, by_seed in runs.items()}
    path = out / (re.sub(r"[^A-Za-z0-9_.-]+", "_", metric).strip("_") + ".png")
    save_figure(metric_figure(metric, curves), path)
    return path


# --- the W&B report: built from the job folders (testable offline), then saved ------------------------
WANDB_RUN_DIR = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-(?P<id>[a-z0-9]+)$")
MEDIA_FILE = re.compile(r"^(?P<key>.+)_\d+_[0-9a-f]+\.(?:png|jpg|jpeg|gif)$")
GROUP_BY = "config.run.configuration"  # genzoo logs run.configuration with every run (training.run_identity)


def wandb_runs(job: Path) -> dict[str, set[str]]:
    """The W&B runs a job folder holds (a resumed job may hold several): run id -> the keys of the
    images they logged (from W&B's own local media files)."""
    runs: dict[str, set[str]] = {}
    wandb_dir = job / "wandb"
    for run_dir in sorted(wandb_dir.iterdir()) if wandb_dir.is_dir() else []:
        m = WANDB_RUN_DIR.match(run_dir.name)
        if not m or run_dir.is_symlink():
            continue
        media = runs.setdefault(m["id"], set())
        images = run_dir / "files" / "media" / "images"
        for f in images.rglob("*") if images.is_dir() else []:
            if (k := MEDIA_FILE.match(f.relative_to(images).as_posix())) is not None:
                media.add(k["key"])
    return runs


def report_plan(roots: list[Path], project: str | None = None, entity: str | None = None) -> dict:
    """What the report shows, from the job folders alone: the runs (ids), their project, the grouping
    key, the swept overrides (columns), the metrics (line plots) and the media keys."""
    jobs = [(job, *configuration_of(job)) for job in find_jobs(roots)]
    run_ids: list[str] = []
    media: set[str] = set()
    projects, entities = set(), set()
    for job, _, _ in jobs:
        runs = wandb_runs(job)
        run_ids += runs
        media.update(*runs.values())
        cfg = yaml.safe_load((job / ".hydra" / "config.yaml").read_text()) or {}
        logged = (cfg.get("logger") or {}).get("wandb") or {}
        if runs:
            projects.add(logged.get("project"))
            entities.add(logged.get("entity"))
    if not run_ids:
        raise ConfigError(f"no W&B runs in the job folders under {', '.join(map(str, roots))} (their wandb/ folders "
                          "are missing: they were run without logger=wandb)")
    if project is None:
        if len(projects) != 1:
            raise ConfigError(f"the runs were logged to several W&B projects ({', '.join(sorted(map(str, projects)))}): "
                              "name one with --wandb [ENTITY/]PROJECT")
        project = projects.pop()
    if entity is None and len(entities) == 1:
        entity = entities.pop()
    varying = sorted({o.split("=", 1)[0] for _, ov, _ in jobs for o in ov} -
                     {o.split("=", 1)[0] for o in frozenset.intersection(*(ov for _, ov, _ in jobs))})
    groups = set()
    for job, _, _ in jobs:
        hydra = yaml.safe_load((job / ".hydra" / "hydra.yaml").read_text()) or {}
        groups.update(((hydra.get("hydra") or {}).get("runtime") or {}).get("choices") or {})
    columns = {k: (f"config.run.choices.{k}" if k in groups else f"config.{k}") for k in varying}
    metrics = sorted({m for job, _, _ in jobs for m in metric_series(job)})
    labels = sorted({configuration_label(sorted(ov)) for _, ov, _ in jobs})
    return {"project": project, "entity": entity or "", "run_ids": sorted(set(run_ids)), "group_by": GROUP_BY,
            "configurations": labels, "columns": columns, "metrics": metrics, "media": sorted(media),
            "title": f"genzoo comparison: {', '.join(r.name for r in roots)}"}


def _import_reports():
    try:
        import wandb_workspaces.reports.v2 as wr
    except ImportError:
        raise ConfigError('--wandb needs the wandb-workspaces package: pip install -e ".[wandb-report]"') from None
    return wr


def column(accessor: str) -> str:
    """A runs-table column for a ``config.<path>`` or ``summary.<metric>`` key, in W&B's own spelling."""
    from wandb_workspaces import expr

    key = expr.groupby_str_to_key(accessor)
    return f"{key.section}:{key.name}"


def build_report(plan: dict):
    """The W&B Report object for a ``report_plan`` (nothing is sent anywhere)."""
    wr = _import_reports()
    ids = ", ".join(repr(i) for i in plan["run_ids"])
    runset = wr.Runset(entity=plan["entity"], project=plan["project"], name="genzoo runs", filters=f"ID in [{ids}]",
                       groupby=[plan["group_by"]],
                       pinned_columns=[column(plan["group_by"]), *(column(c) for c in plan["columns"].values()),
                                       *(column(f"summary.{m}") for m in plan["metrics"])])
    panels = [wr.LinePlot(title=m, x="model_step", y=[m], groupby_aggfunc="mean", groupby_rangefunc="stddev")
              for m in plan["metrics"]]
    panels += [wr.MediaBrowser(title=k, media_keys=[k], num_columns=4) for k in plan["media"]]
    configurations = "; ".join(f"`{c}`" for c in plan["configurations"])
    blocks = [wr.H1(plan["title"]),
              wr.P(f"{len(plan['run_ids'])} runs in {len(plan['configurations'])} configurations ({configurations}), "
                   "grouped by configuration: lines are the mean over seeds, bands one standard deviation; "
                   "the x-axis is model (generator) steps."),
              wr.PanelGrid(runsets=[runset], panels=panels)]
    return wr.Report(project=plan["project"], entity=plan["entity"], title=plan["title"], blocks=blocks)


def save_report(report) -> str:
    """Save a built report to W&B (needs a login); return its URL."""
    from genzoo.logging_utils import wandb_credentials_present

    if not wandb_credentials_present():
        raise ConfigError("--wandb needs a W&B login (wandb login, or WANDB_API_KEY); the local comparison was written. "
                          "--wandb-dry-run shows the report without saving it.")
    if not report.entity:
        import wandb

        entity = wandb.Api().default_entity
        report.entity = entity
        for block in report.blocks:
            for runset in getattr(block, "runsets", []):
                runset.entity = runset.entity or entity
    report.save()
    return report.url


def describe_report(report) -> str:
    grid = next(b for b in report.blocks if hasattr(b, "runsets"))
    runset = grid.runsets[0]
    kinds = defaultdict(list)
    for p in grid.panels:
        kinds[type(p).__name__].append(p.title)
    lines = [f"W&B report (not saved): {report.title}", f"  project: {report.entity + '/' if report.entity else ''}"
             f"{report.project}", f"  runs: {runset.filters}", f"  grouped by: {', '.join(runset.groupby)}",
             f"  table columns: {', '.join(runset.pinned_columns)}"]
    lines += [f"  {kind}: {', '.join(titles)}" for kind, titles in kinds.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: <first path>/comparison)")
    ap.add_argument("--wandb", metavar="[ENTITY/]PROJECT", nargs="?", const="", default=None,
                    help="also save a W&B report (default project: the one the runs were logged to)")
    ap.add_argument("--wandb-dry-run", action="store_true", help="build the W&B report and print it; save nothing")
    a = ap.parse_args(argv)
    try:
        out = a.out or a.paths[0] / "comparison"
        res = compare(a.paths, out)
        print((out / "comparison.md").read_text())
        print(f"Wrote {res['markdown']}, {res['csv']} and {len(res['plots'])} plots in {out}")
        if a.wandb is not None or a.wandb_dry_run:
            entity, _, project = (a.wandb or "").rpartition("/")
            report = build_report(report_plan(a.paths, project or None, entity or None))
            print(describe_report(report) if a.wandb_dry_run else f"W&B report: {save_report(report)}")
    except Exception as exc:
        exit_on_user_error(exc)


if __name__ == "__main__":
    main(sys.argv[1:])
