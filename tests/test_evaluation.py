"""eval.py, sample.py, compare.py and the sweeps, run as a user runs them: one real process per entry
point, the rest of each command line in this process (``run_in_process``)."""

import json

import pytest
import yaml
from PIL import Image

from conftest import ROOT, run_cli, run_in_process, run_script

QUICK = ["logger=csv", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
         "net.generator.width=8", "net.discriminator.width=8", "metrics.num_samples=200"]


@pytest.fixture(scope="module")
def trained_run(tiny_run, tmp_path_factory):
    """A copy of the session's tiny GAN run (4 model steps; eval writes its JSON beside the checkpoint)."""
    cwd = tmp_path_factory.mktemp("run")
    return cwd, tiny_run("gan").copy_to(cwd / "run")


@pytest.mark.cli
def test_eval_scores_a_checkpoint_and_writes_json_beside_it(trained_run):
    cwd, ckpt = trained_run
    r = run_script("eval.py", f"ckpt_path={ckpt}", "metrics.num_samples=300", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(ckpt.with_suffix(".eval.json").read_text())
    assert out["model_step"] == 4 and out["protocol"] == {"extractor": "classifier", "num_samples": 300, "split": "train"}
    assert set(out["metrics"]) == {"fid/classifier/300/train", "kid/classifier/300/train", "is/classifier/300",
                                   "precision/classifier/300/train", "recall/classifier/300/train",
                                   "effective_classes/classifier/300"}
    assert out["metrics"]["fid/classifier/300/train"] > 0
    assert list((cwd / "outputs" / "eval" / "runs").glob("*/wandb/offline-run-*"))  # logged to W&B (offline)
    # same seed, same numbers
    r2 = run_in_process("eval.py", f"ckpt_path={ckpt}", "metrics.num_samples=300", "wandb_mode=disabled", cwd=cwd)
    assert r2.returncode == 0, r2.stderr[-2000:]
    assert json.loads(ckpt.with_suffix(".eval.json").read_text())["metrics"] == out["metrics"]
    # another seed draws other samples: the seed is really used
    r3 = run_in_process("eval.py", f"ckpt_path={ckpt}", "metrics.num_samples=300", "wandb_mode=disabled", "seed=1", cwd=cwd)
    assert r3.returncode == 0, r3.stderr[-2000:]
    other = json.loads(ckpt.with_suffix(".eval.json").read_text())["metrics"]
    assert other["fid/classifier/300/train"] != out["metrics"]["fid/classifier/300/train"]


def cells(path) -> tuple[int, int, list[int]]:
    """A saved grid's columns, rows and cell size (``genzoo.plotting.save_grid`` writes them into the PNG)."""
    from genzoo.plotting import read_grid_info

    info = read_grid_info(path)
    return info["columns"], info["rows"], info["cell"]


@pytest.mark.cli
def test_sample_writes_random_fixed_and_interpolation_grids(trained_run):
    cwd, ckpt = trained_run
    r = run_script("sample.py", f"ckpt_path={ckpt}", "interpolation.pairs=3", "interpolation.steps=5", cwd=cwd)
    assert r.returncode == 0, r.stderr[-3000:]
    (out,) = sorted((cwd / "outputs" / "sample" / "runs").glob("*"))
    assert cells(out / "random.png") == (8, 8, [16, 16]) and min(Image.open(out / "random.png").size) >= 256
    assert cells(out / "interpolation.png") == (5, 3, [16, 16])
    # fixed.png uses the training run's fixed noise: it is the training run's last grid
    train_last = ckpt.parent.parent / "samples" / "last.png"
    assert Image.open(out / "fixed.png").tobytes() == Image.open(train_last).tobytes()


def test_sample_of_a_chosen_class_needs_a_conditional_run(trained_run):
    cwd, ckpt = trained_run
    r = run_in_process("sample.py", f"ckpt_path={ckpt}", "label=1", cwd=cwd)
    assert r.returncode == 2 and "needs a class-conditional run (model=cgan)" in r.stderr


def test_sample_draws_rows_per_class_or_one_chosen_class_from_a_cgan_run(tiny_run, tmp_path):
    ckpt = tiny_run("cgan").copy_to(tmp_path / "run")
    run = ckpt.parent.parent
    r = run_in_process("sample.py", f"ckpt_path={ckpt}", "num_samples=16", "interpolation.pairs=3", "interpolation.steps=5",
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    (out,) = sorted((tmp_path / "outputs" / "sample" / "runs").glob("*"))
    assert cells(out / "random.png") == (4, 10, [16, 16])  # 10 class rows of 4
    assert Image.open(out / "fixed.png").tobytes() == Image.open(run / "samples" / "last.png").tobytes()
    r = run_in_process("sample.py", f"ckpt_path={ckpt}", "label=3", "num_samples=16", "hydra.run.dir=one_class", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert cells(tmp_path / "one_class" / "random.png") == (4, 4, [16, 16])  # 16 samples of class 3
    r = run_in_process("sample.py", f"ckpt_path={ckpt}", "label=10", cwd=tmp_path)
    assert r.returncode == 2 and "classes are 0..9" in r.stderr


def test_eval_with_a_missing_checkpoint_is_one_clear_message(tmp_path):
    r = run_in_process("eval.py", f"ckpt_path={tmp_path}/nope.ckpt", cwd=tmp_path)
    assert r.returncode == 2 and "is not a file" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.cli
@pytest.mark.full
def test_tiny_multirun_then_compare_builds_table_and_plots(tmp_path):
    r = run_cli("-m", *QUICK[:3], "metrics.num_samples=200", "data=toy2d", "trainer.max_steps=4", "trainer.log_every_n_steps=1",
                "loss=minimax,nonsaturating", "seed=0,1", cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (sweep,) = sorted((tmp_path / "outputs" / "train" / "multiruns").glob("*"))
    c = run_script("compare.py", str(sweep), cwd=tmp_path)
    assert c.returncode == 0, c.stderr[-3000:]
    md = (sweep / "comparison" / "comparison.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| loss=")]
    assert len(rows) == 2 and all("| 2 |" in row for row in rows)  # two configs, two seeds each
    assert "toy2d/200/modes_covered" in md and "loss/d" in md
    csv_rows = (sweep / "comparison" / "comparison.csv").read_text().splitlines()
    assert len(csv_rows) == 3
    assert (sweep / "comparison" / "toy2d_200_modes_covered.png").is_file()
    assert (sweep / "comparison" / "loss_d.png").is_file()


@pytest.mark.cli
@pytest.mark.full
def test_one_failing_job_does_not_stop_the_others(tmp_path):
    r = run_cli("-m", *QUICK, "trainer.max_steps=2", "loss=wasserstein,minimax", cwd=tmp_path, timeout=600)
    assert r.returncode != 0  # Hydra reports the failed job at the end
    (sweep,) = sorted((tmp_path / "outputs" / "train" / "multiruns").glob("*"))
    assert not (sweep / "0" / "checkpoints").exists()            # model=gan loss=wasserstein: refused
    assert (sweep / "1" / "checkpoints" / "last.ckpt").is_file()  # the next job still ran


@pytest.mark.cli
@pytest.mark.full
def test_optuna_sweep_minimises_the_returned_metric(tmp_path):
    r = run_cli("-m", "--config-dir", str(ROOT / "sweeps"), "--config-name", "optuna_digits", *QUICK,
                "hydra.sweeper.n_trials=2", "trainer.max_steps=2", "optimized_metric=fid/classifier/200/train",
                cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout + r.stderr
    assert "Best value:" in out and "Best parameters:" in out


@pytest.mark.cli
@pytest.mark.full
def test_slurm_sweep_runs_through_submitit_local(tmp_path):
    r = run_cli("-m", "--config-dir", str(ROOT / "sweeps"), "--config-name", "slurm", "hydra/launcher=submitit_local",
                "hydra.launcher.tasks_per_node=1", "hydra.launcher.gpus_per_node=0", "trainer.accelerator=cpu",
                *QUICK, "trainer.max_steps=2", "seed=0,1", cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (sweep,) = sorted((tmp_path / "outputs" / "slurm" / "multiruns").glob("*"))
    assert all((sweep / j / "checkpoints" / "last.ckpt").is_file() for j in ("0", "1"))


def test_wandb_sweep_file_calls_the_entry_point_with_hydra_overrides(compose_cfg):
    """Every value the W&B agent may pass is a valid override of a key the training config has (a misspelt
    key would fail to compose), and the metric the sweep minimises is the name a run logs."""
    from omegaconf import OmegaConf

    from genzoo.metrics.sample_quality import count_label

    spec = yaml.safe_load((ROOT / "sweeps" / "wandb_sweep.yaml").read_text())
    assert (ROOT / spec["program"]).is_file() and "${args_no_hyphens}" in spec["command"]
    for key, p in spec["parameters"].items():
        for value in p.get("values", [p.get("min"), p.get("max")]):
            cfg = compose_cfg(f"{key}={value}")
            if key in ("loss", "model", "data"):  # a config group: its file was chosen
                assert cfg.hydra.runtime.choices[key] == value, key
            else:
                assert OmegaConf.select(cfg, key) == value, key
    cfg = compose_cfg()
    name = f"fid/{cfg.metrics.extractor}/{count_label(cfg.metrics.num_samples)}/{cfg.metrics.split}"
    assert spec["metric"]["name"] == name


@pytest.mark.parametrize("name", ["losses_toy2d", "losses_digits", "c16_wasserstein_vs_gan", "c16_architectures",
                                  "c5_kl_directions", "optuna_digits", "slurm"])
def test_sweep_configs_compose_through_the_cli(tmp_path, name):
    r = run_in_process("train.py", "--config-dir", str(ROOT / "sweeps"), "--config-name", name, "--cfg", "all", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    cfg = yaml.safe_load(r.stdout)
    assert cfg["task_name"] == name
    if name == "slurm":  # the launcher file sweeps whatever the command line asks for
        assert cfg["hydra"]["launcher"]["_target_"].endswith("SlurmLauncher")
    else:
        assert cfg["hydra"]["sweeper"]["params"]
