"""Reading a sweep's run folders, from local files alone: which jobs there are, their command-line
overrides, their CSV metrics (``csv/metrics.csv``), and mean ± std over seeds. The one copy that
``src/compare.py`` and every report (``genzoo.reports.c*``) use."""

from __future__ import annotations

import csv
import math
import os
import statistics
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import NoReturn

import yaml

from genzoo.errors import ConfigError

STEP = "model_step"  #: the x-axis of every metric (``g_step`` in runs from before the rename)
OLD_STEP = "g_step"
NOT_METRICS = {"epoch", "step", STEP, OLD_STEP}


def no_runs(message: str) -> NoReturn:
    """Folders with nothing to report on: a bad input (one line, exit 2), not a bug."""
    raise ConfigError(message)


def _job_order(name: str) -> tuple[int, int, str]:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def is_job(folder: Path) -> bool:
    return (folder / ".hydra" / "overrides.yaml").is_file()


def sweep_jobs(roots: Iterable[Path]) -> list[Path]:
    """The run folders (those with ``.hydra/overrides.yaml``) under each of ``roots``, in order: a root that
    is one run is itself; otherwise every job below it (a multirun's numbered jobs, in numeric order, or
    the jobs of several multiruns under a common folder). A root that is not a folder is a bad input."""
    jobs: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            no_runs(f"{root} is not a folder: give a sweep's multirun folder (outputs/<task>/multiruns/<time>) "
                    "or one of its run folders")
        if is_job(root):
            jobs.append(root)
            continue
        for here, dirs, _ in os.walk(root):
            if is_job(Path(here)) and Path(here) != root:
                jobs.append(Path(here))
                dirs[:] = []  # a job's own subfolders (wandb/, csv/, ...) hold no other job
            else:
                dirs[:] = sorted((d for d in dirs if not d.startswith(".")), key=_job_order)
    return jobs


def override_list(job: Path) -> list[str]:
    """A job's command-line overrides as Hydra recorded them (``.hydra/overrides.yaml``)."""
    return yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []


def overrides_of(job: Path) -> dict[str, str]:
    """A job's command-line overrides as key -> value (keys keep Hydra's ``+`` prefix)."""
    return dict(o.split("=", 1) for o in override_list(job) if "=" in o)


def configuration_of(job: Path) -> tuple[frozenset[str], str]:
    """A job's configuration (its experiment overrides: all but the seed and where it writes) and its seed;
    jobs that differ only in seed share a configuration."""
    from genzoo.logging_utils import experiment_overrides

    overrides = override_list(job)
    seed = next((o.split("=", 1)[1] for o in overrides if o.lstrip("+").startswith("seed=")), "0")
    return frozenset(experiment_overrides(overrides)), seed


def has_csv(job: Path) -> bool:
    return (job / "csv" / "metrics.csv").is_file()


def csv_rows(job: Path) -> Iterator[dict[str, float]]:
    """The rows of a job's ``csv/metrics.csv``, each with only the values logged in it."""
    with open(job / "csv" / "metrics.csv", newline="") as f:
        for row in csv.DictReader(f):
            yield {k: float(v) for k, v in row.items() if k is not None and v not in ("", None)}


def final_metrics(job: Path) -> dict[str, float]:
    """The last logged value of every column of a job's CSV (``model_step`` included)."""
    out: dict[str, float] = {}
    for row in csv_rows(job):
        out.update(row)
    return out


def metric_series(job: Path) -> dict[str, list[tuple[float, float]]]:
    """Each metric of a job's CSV against the model step, sorted by step, one value per step: a resumed run
    logs the steps after its checkpoint again, and the later value is the one it went on from."""
    by_step: dict[str, dict[float, float]] = {}
    for row in csv_rows(job):
        step = row.get(STEP, row.get(OLD_STEP))
        if step is None:
            continue
        for k, v in row.items():
            if k not in NOT_METRICS:
                by_step.setdefault(k, {})[step] = v
    return {k: sorted(values.items()) for k, values in by_step.items()}


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value; a NaN stays: a diverged seed shows)."""
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(mean: float, std: float, digits: int = 4) -> str:
    return f"{mean:.{digits}g} ± {std:.2g}"


def fmt_values(values: Iterable[float], digits: int = 3, skip_nan: bool = False) -> str:
    """``mean ± std`` of ``values`` (``n/a`` when there are none, NaNs left out with ``skip_nan``)."""
    values = [v for v in values if not (skip_nan and math.isnan(v))]
    return fmt(*mean_std(values), digits) if values else "n/a"


def full_length_runs(roots: list[Path], sweep: str, describe: Callable[[dict, dict], dict | None]) -> list[dict]:
    """One record per job under ``roots`` that logged its final metrics to CSV: ``describe(overrides,
    final metrics)`` gives the record, or None while the job is running (or failed). Only the runs that
    reached the sweep's length (the longest) are kept: the others are listed as left out, never compared."""
    runs = []
    for job in sweep_jobs(roots):
        if not has_csv(job):
            continue
        final = final_metrics(job)
        record = describe(overrides_of(job), final)
        if record is not None:
            runs.append({**record, "steps": int(final.get(STEP, 0)), "job": job})
    if not runs:
        no_runs(f"no finished {sweep} runs under {', '.join(map(str, roots))}")
    length = max(r["steps"] for r in runs)
    partial = [r for r in runs if r["steps"] < length]
    if partial:
        print(f"Left out {len(partial)} run(s) that stopped before step {length}: "
              + ", ".join(f"{r['job'].parent.name}/{r['job'].name} (step {r['steps']})" for r in partial))
    return [r for r in runs if r["steps"] == length]
