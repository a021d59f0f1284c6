"""The real entry point, as a user runs it: ``python src/train.py ...`` in a fresh folder (a real process where
the process matters; the command line and its messages in this process otherwise)."""

from pathlib import Path

import pytest
import torch

from conftest import run_cli, run_in_process

QUICK = ["debug=quick", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
         "net.generator.width=8", "net.discriminator.width=8", "trainer.max_steps=4"]


def run_dirs(cwd: Path, kind: str = "runs") -> list[Path]:
    return sorted((cwd / "outputs" / "train" / kind).glob("*"))


@pytest.mark.cli
@pytest.mark.full  # the fast tier's train.py process: the signal-and-resume test, which checks the same summary
def test_cli_trains_and_prints_where_everything_went(tmp_path):
    r = run_cli(*QUICK, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Trained 4 model steps (8 optimiser steps)" in r.stdout
    for what in ("Output folder:", "Checkpoint:", "Samples:", "CSV metrics:"):
        assert what in r.stdout
    (run,) = run_dirs(tmp_path)
    assert (run / "checkpoints" / "last.ckpt").is_file() and (run / "samples" / "last.png").is_file()
    assert (run / ".hydra" / "config.yaml").is_file()


@pytest.mark.cli
@pytest.mark.ddp
def test_cli_ddp_two_cpu_processes(tmp_path):
    """Conditional, so that labels go through DDP too: each rank asks for its share of the classes and
    the metric gathers samples, features and labels from both."""
    r = run_cli(*QUICK, "model=cgan", "trainer.devices=2", "trainer.accelerator=cpu", "metrics.num_samples=100",
                cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout + r.stderr
    assert "world_size: 2" in out or "distributed_backend=gloo" in out
    (run,) = run_dirs(tmp_path)  # both ranks write into one run folder
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["genzoo"]["counters"]["model_step"] == 4
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if torch.is_tensor(v) and v.is_floating_point())
    header, *rows = (run / "csv" / "metrics.csv").read_text().splitlines()
    col = header.split(",").index("conditional_accuracy/classifier/100")
    assert any(row.split(",")[col] for row in rows)


@pytest.mark.cli
@pytest.mark.full
def test_cli_multirun_gives_each_job_its_own_folder_and_wandb_run(tmp_path):
    r = run_cli("-m", *[q for q in QUICK if q != "debug=quick"], "trainer.max_steps=2",
                "loss=minimax,nonsaturating", "seed=0,1", cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (sweep,) = run_dirs(tmp_path, "multiruns")
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert len(jobs) == 4
    run_ids = set()
    for job in jobs:
        assert (job / "checkpoints" / "last.ckpt").is_file()
        (wb,) = list((job / "wandb").glob("offline-run-*"))
        run_ids.add(wb.name.rsplit("-", 1)[-1])
    assert len(run_ids) == 4


def test_cli_unknown_group_option_lists_the_available_ones(tmp_path):
    r = run_in_process("train.py", "model=gann", cwd=tmp_path)
    assert r.returncode != 0
    assert "Could not find 'model/gann'" in r.stderr and "gan" in r.stderr.split("Available options")[-1]


def test_cli_missing_dataset_is_one_clear_message(tmp_path):
    r = run_in_process("train.py", *QUICK, "data=mnist", cwd=tmp_path)
    assert r.returncode == 2
    assert "Error: MNIST was not found: looked in" in r.stderr and "data.download=true" in r.stderr
    assert "Traceback" not in r.stderr


def test_cli_bad_size_is_one_clear_message(tmp_path):
    r = run_in_process("train.py", *QUICK, "data.size=30", cwd=tmp_path)
    assert r.returncode == 2 and "Sizes that work" in r.stderr and "Traceback" not in r.stderr
