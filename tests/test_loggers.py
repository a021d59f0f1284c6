"""Comparing runs: the W&B report built from a real 4-job multirun (checked against what the offline W&B
runs recorded), TensorBoard and MLflow read back by their own libraries, quiet logs, lint config."""

import csv
import os
import re
import subprocess
import sys

import pytest
import yaml

from conftest import CACHE, ROOT, run_cli, run_in_process
from wandb_offline import image_keys, offline_run, scalar_keys

TINY = ["callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
        "metrics.num_samples=200", "data=toy2d", "trainer.max_steps=4", "trainer.log_every_n_steps=1",
        "callbacks.sample_grid.every_n_steps=2"]


@pytest.fixture(scope="module")
def multirun(tmp_path_factory):
    """2 losses x 2 seeds, logged to W&B (offline), TensorBoard and MLflow at once."""
    cwd = tmp_path_factory.mktemp("multirun")
    r = run_cli("-m", "logger=[wandb,tensorboard,mlflow]", *TINY, "loss=minimax,nonsaturating", "seed=0,1",
                cwd=cwd, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (sweep,) = sorted((cwd / "outputs" / "train" / "multiruns").glob("*"))
    return sweep


def csv_series(job, metric):
    with open(job / "csv" / "metrics.csv", newline="") as f:
        return {int(float(row["model_step"])): float(row[metric]) for row in csv.DictReader(f)
                if row.get(metric) not in (None, "") and row.get("model_step") not in (None, "")}


def jobs_of(sweep):
    return sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())


@pytest.mark.cli
@pytest.mark.full
def test_the_report_groups_a_multiruns_runs_as_wandb_recorded_them(multirun):
    from wandb_workspaces import expr

    import compare

    recorded = [offline_run(d) for job in jobs_of(multirun) for d in (job / "wandb").glob("offline-run-*")]
    assert len(recorded) == 4
    report = compare.build_report(compare.report_plan([multirun]))
    grid = report.blocks[-1]
    (runset,) = grid.runsets

    # the right project and exactly these runs
    assert report.project == runset.project == "genzoo" and {r["project"] for r in recorded} == {"genzoo"}
    leaf = expr.expr_to_filters(runset.filters)  # parsed as W&B will: run name (its id) in the list
    assert (leaf.key.section, leaf.key.name, leaf.op) == ("run", "name", "IN")
    assert sorted(leaf.value) == sorted(r["id"] for r in recorded)

    # grouped by a config key every run carries: one value per loss, shared by its two seeds
    assert runset.groupby == ["config.run.configuration"]
    by_config = {}
    for r in recorded:
        by_config.setdefault(r["config"]["run"]["configuration"], set()).add(r["config"]["seed"])
    assert len(by_config) == 2 and all(seeds == {0, 1} for seeds in by_config.values())
    assert all(("loss=" + r["config"]["run"]["choices"]["loss"]) in r["config"]["run"]["configuration"] for r in recorded)

    # the runs table: configuration, then the swept override (a config group: its recorded choice)
    assert runset.pinned_columns[:2] == ["config:run.value.configuration", "config:run.value.choices.loss"]
    assert {r["config"]["run"]["choices"]["loss"] for r in recorded} == {"minimax", "nonsaturating"}

    # one line plot per metric, against model steps, seeds averaged with a std band; every plotted
    # metric is a scalar W&B recorded, and every recorded scalar but the bookkeeping has its plot
    plots = [p for p in grid.panels if type(p).__name__ == "LinePlot"]
    assert all(p.x == "model_step" and len(p.y) == 1 and p.groupby_aggfunc == "mean" and p.groupby_rangefunc == "stddev"
               for p in plots)
    plotted = [p.y[0] for p in plots]
    scalars = set.union(*(scalar_keys(r["summary"]) for r in recorded))
    assert len(plotted) == len(set(plotted)) and set(plotted) <= scalars
    assert scalars - set(plotted) == {"model_step", "epoch", "trainer/global_step"}

    # the sample grids and plots as media panels: exactly the images W&B recorded
    media = [p for p in grid.panels if type(p).__name__ == "MediaBrowser"]
    assert {k for p in media for k in p.media_keys} == set.union(*(image_keys(r["summary"]) for r in recorded))
    assert "samples" in {k for p in media for k in p.media_keys}


@pytest.mark.cli
@pytest.mark.full
def test_wandb_agent_runs_single_runs_with_overrides_group_by_configuration(tmp_path):
    """``wandb agent`` starts ``python src/train.py ${args_no_hyphens}`` once per run (sweeps/wandb_sweep.yaml):
    separate single-run folders whose overrides are the sweep's parameters. (The agent itself needs a W&B
    server; these are the runs it would start.)"""
    import compare

    runs = []
    for lr, seed in (("0.0001", 0), ("0.0001", 1), ("0.0003", 0)):
        r = run_cli("logger=wandb", *TINY, f"model.optimizer_g.lr={lr}", "loss=minimax", f"seed={seed}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
    runs = sorted((tmp_path / "outputs" / "train" / "runs").glob("*"))
    assert len(runs) == 3
    plan = compare.report_plan(runs)
    assert plan["columns"] == {"model.optimizer_g.lr": "config.model.optimizer_g.lr"}  # a value: its config path
    report = compare.build_report(plan)
    assert "config:model.value.optimizer_g.lr" in report.blocks[-1].runsets[0].pinned_columns
    recorded = [offline_run(d) for run in runs for d in (run / "wandb").glob("offline-run-*")]
    groups = {}
    for r in recorded:
        groups.setdefault(r["config"]["run"]["configuration"], []).append(r["config"]["model"]["optimizer_g"]["lr"])
    assert sorted(map(sorted, groups.values())) == [[0.0001, 0.0001], [0.0003]]  # the two seeds of one lr together


@pytest.mark.cli
@pytest.mark.full
def test_tensorboard_reads_back_scalars_at_model_steps_images_and_config(multirun):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    job = jobs_of(multirun)[0]
    acc = EventAccumulator(str(job / "tensorboard"), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    events = acc.Scalars("loss/g")
    assert [e.step for e in events] == [1, 2, 3, 4]  # model (generator) steps: the run took 8 optimiser steps
    assert [e.value for e in events] == pytest.approx([csv_series(job, "loss/g")[e.step] for e in events])
    assert "toy2d/200/modes_covered" in acc.Tags()["scalars"]
    assert {"samples", "loss_curves", "metric_curves"} <= set(acc.Tags()["images"])
    assert [e.step for e in acc.Images("samples")] == [2, 4]
    config = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert yaml.safe_load(config.strip("`\n"))["model"] == yaml.safe_load((job / ".hydra" / "config.yaml").read_text())["model"]


@pytest.mark.cli
@pytest.mark.full
def test_mlflow_reads_back_scalars_at_model_steps_images_and_config(multirun):
    from mlflow.tracking import MlflowClient

    job = jobs_of(multirun)[1]
    client = MlflowClient(tracking_uri=f"sqlite:///{job}/mlflow/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("genzoo").experiment_id])
    history = client.get_metric_history(run.info.run_id, "loss/g")
    assert [m.step for m in history] == [1, 2, 3, 4]
    assert [m.value for m in history] == pytest.approx([csv_series(job, "loss/g")[m.step] for m in history])
    assert run.info.run_name == "gan-minimax-toy2d-s1"
    assert run.data.params["run/seed"] == "1" and run.data.params["loss/_target_"] == "genzoo.losses.Minimax"
    config = yaml.safe_load(open(client.download_artifacts(run.info.run_id, "config.yaml", str(job / "dl"))))
    assert config["model"] == yaml.safe_load((job / ".hydra" / "config.yaml").read_text())["model"]
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    steps = {int(m[1]) for p in images if (m := re.match(r"images/samples\+step\+(\d+)\+.*\.png$", p))}
    assert steps == {2, 4}, images  # MLflow's image-over-steps files, at model steps


def test_a_logger_whose_package_is_missing_is_one_clear_line(compose_cfg, monkeypatch):
    import importlib.util

    from genzoo.errors import ConfigError
    from genzoo.validation import validate

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError, match=re.escape('logger=mlflow needs the mlflow package, which is not installed: '
                                                    'pip install -e ".[mlflow]"')):
        validate(compose_cfg("logger=[tensorboard,mlflow]"))


def test_compare_wandb_without_a_login_is_one_clear_line(multirun_csv_only, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(multirun_csv_only / "no-netrc"))
    r = run_in_process("compare.py", str(multirun_csv_only), "--wandb", cwd=multirun_csv_only)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no W&B runs in the job folders" in r.stderr and "logger=wandb" in r.stderr


@pytest.fixture
def multirun_csv_only(tmp_path):
    """A multirun's job folders as logger=csv leaves them (no wandb/): made by hand, nothing trains."""
    for j, seed in enumerate((0, 1)):
        job = tmp_path / str(j)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"seed={seed}", "logger=csv"]))
        (job / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"logger": {"csv": {}}}))
        (job / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {"choices": {}}}}))
        (job / "csv").mkdir()
        (job / "csv" / "metrics.csv").write_text("model_step,loss/g\n1,0.5\n")
    return tmp_path


@pytest.mark.cli
@pytest.mark.full
def test_a_default_run_prints_progress_and_its_summary_and_no_warning_it_cannot_act_on(tmp_path):
    """``make train`` as a user sees it (W&B offline, its own output not silenced), shortened."""
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_SILENT", "PYTHONWARNINGS")}
    env.update({"WANDB_MODE": "offline", "GENZOO_CACHE": str(CACHE), "PYTHONUNBUFFERED": "1"})
    r = subprocess.run([sys.executable, str(ROOT / "src" / "train.py"), "trainer.max_steps=6",
                        "callbacks.sample_grid.every_n_steps=3", "metrics.num_samples=300"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    log = r.stdout + r.stderr
    noise = [line for line in log.splitlines()
             if re.search(r"warn|deprecat|Tip:|TPU available|stopped: `max_steps|v_num|/-2\b", line, re.IGNORECASE)]
    assert noise == []
    assert "Trained 6 model steps" in log and "W&B (offline):" in log and "Traceback" not in log


def test_the_code_is_lint_clean_and_ci_lints_before_testing():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", str(ROOT)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    assert re.search(r"make lint\s*\n\s*make test", (ROOT / ".ci" / "run").read_text())
