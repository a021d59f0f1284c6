"""Reliability: preemption leaves a resumable checkpoint, nothing in a crafted file runs, divergence
never overwrites a good checkpoint, a full disk loses nothing, junk data is skipped, and resuming
checks the config. The CLI cases run the real entry points as a user (or a scheduler) would."""

from __future__ import annotations

import errno
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from conftest import ROOT, cli_env, fast, run_in_process, run_script
from genzoo.errors import ConfigError
from genzoo.training import train

QUICK = ["logger=csv", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
         "net.generator.width=8", "net.discriminator.width=8"]


def cli(script: str, *args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return run_script(script, *args, cwd=cwd, timeout=timeout)


def ckpt_step(path: Path) -> int:
    return torch.load(path, weights_only=True)["genzoo"]["counters"]["model_step"]


def csv_rows(run: Path) -> list[dict]:
    import csv

    with open(run / "csv" / "metrics.csv", newline="") as f:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]


def finite(path: Path) -> bool:
    state = torch.load(path, weights_only=True)["state_dict"]
    return all(torch.isfinite(v).all() for v in state.values() if torch.is_tensor(v) and v.is_floating_point())


# --- preemption -----------------------------------------------------------------------------------

LONG_RUN = [*QUICK, "metrics=none", "trainer.max_steps=5000", "callbacks.sample_grid.every_n_steps=10",
            "callbacks.model_checkpoint.every_n_steps=100000", "trainer.log_every_n_steps=5"]


def signal_when(tmp_path: Path, sig: int, args: list[str], ready: str) -> tuple[subprocess.Popen, str]:
    """Start ``python src/train.py ARGS``, wait until a file matching ``ready`` (a glob under tmp_path)
    exists, send ``sig`` to its whole process group (as a scheduler or Ctrl-C does), wait for the end."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "src" / "train.py"), *args], cwd=tmp_path, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    start = time.time()
    while not list(tmp_path.glob(ready)):
        assert proc.poll() is None and time.time() - start < 240, proc.stdout.read() if proc.poll() is not None else ""
        time.sleep(0.2)
    os.killpg(proc.pid, sig)
    out, _ = proc.communicate(timeout=180)
    return proc, out


def interrupt_a_run(tmp_path: Path, sig: int, *extra: str) -> tuple[subprocess.Popen, str, Path]:
    """A long run, signalled once it has done 20 model steps (its grid g0000020.png)."""
    proc, out = signal_when(tmp_path, sig, [*LONG_RUN, *extra], "outputs/train/runs/*/samples/g0000020.png")
    (run,) = tmp_path.glob("outputs/train/runs/*")
    return proc, out, run


@pytest.mark.cli
@pytest.mark.parametrize("sig,devices", [
    (signal.SIGTERM, 1),  # the fast tier's signal-and-resume
    pytest.param(signal.SIGINT, 1, marks=pytest.mark.full),
    pytest.param(signal.SIGTERM, 2, marks=[pytest.mark.full, pytest.mark.ddp]),
])
def test_a_signal_leaves_a_resumable_checkpoint_and_the_resume_continues_from_it(tmp_path, sig, devices):
    extra = ["trainer.accelerator=cpu", f"trainer.devices={devices}"]
    proc, out, run = interrupt_a_run(tmp_path, sig, *extra)
    name = signal.Signals(sig).name
    assert proc.returncode == 75, out[-3000:]  # "interrupted, resumable"
    assert f"Interrupted by {name} at model step" in out and "Traceback" not in out
    last = run / "checkpoints" / "last.ckpt"
    stopped = ckpt_step(last)
    rows_before = csv_rows(run)
    assert rows_before and max(r["model_step"] for r in rows_before) <= stopped
    assert stopped >= 20 and finite(last)
    assert not list((run / "checkpoints").glob(".*tmp*"))  # no half-written file left behind
    command = next(line for line in out.splitlines() if line.startswith("Resume with:")).split(":", 1)[1].split()
    assert command[:2] == ["python", "src/train.py"] and "ckpt_path=last" in command
    # resume with the printed command (4 more steps than it had), in the same folder
    args = [a for a in command[2:] if not a.startswith("trainer.max_steps=")] + [f"trainer.max_steps={stopped + 4}"]
    r = cli("train.py", *args, cwd=tmp_path, timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"at model step {stopped}" in r.stdout + r.stderr and f"Trained {stopped + 4} model steps" in r.stdout
    for what in ("Output folder:", "Checkpoint:", "Samples:", "CSV metrics:"):  # the summary says where things went
        assert what in r.stdout
    assert ckpt_step(last) == stopped + 4
    rows = csv_rows(run)
    assert [r for r in rows if r["model_step"] <= stopped] == rows_before  # what was logged before is kept
    steps = [r["model_step"] for r in rows if r.get("loss/d") is not None]
    assert steps == sorted(set(steps)) and steps[-1] == stopped + 4, (steps, stopped, rows_before)  # no step logged twice


@pytest.mark.cli
@pytest.mark.full
def test_a_signal_stops_a_local_multirun_after_checkpointing_its_current_job(tmp_path):
    """Hydra's basic launcher runs a sweep's jobs in one process: SIGTERM checkpoints the running job and
    ends the command (status 75) instead of starting the next job."""
    proc, out = signal_when(tmp_path, signal.SIGTERM, ["-m", *LONG_RUN, "seed=0,1"],
                            "outputs/train/multiruns/*/0/samples/g0000020.png")
    assert proc.returncode == 75, out[-3000:]
    assert "Sweep interrupted in job 0" in out and "Traceback" not in out
    (sweep,) = tmp_path.glob("outputs/train/multiruns/*")
    assert ckpt_step(sweep / "0" / "checkpoints" / "last.ckpt") >= 20
    assert not (sweep / "1").exists()


# --- crafted, truncated and foreign checkpoints -----------------------------------------------------

class Payload:
    """Unpickling this creates the marker file: proof that code from the checkpoint ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def a_checkpoint(tiny_run, tmp_path) -> Path:
    """A copy of the session's tiny GAN run (trained without sample metrics), inside this test's folder."""
    return tiny_run("gan_no_metrics").copy_to(tmp_path / "ckpt_run")


def bad_checkpoints(folder: Path, good: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, what the message must say)."""
    marker = folder / "PWNED"
    raw = folder / "evil_pickle.ckpt"
    raw.write_bytes(pickle.dumps({"state_dict": Payload(marker)}))
    zipped = folder / "evil_zip.ckpt"
    torch.save({"state_dict": {}, "x": Payload(marker)}, zipped)
    truncated = folder / "truncated.ckpt"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    foreign = folder / "foreign.ckpt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    text = folder / "notes.ckpt"
    text.write_text("not a checkpoint at all\n")
    # weights-only-safe, a real checkpoint's layout, but its stored config names a shell command
    crafted = torch.load(good, weights_only=True)
    crafted["genzoo"]["config"]["data"] = {"_target_": "os.system", "_args_": [f"touch {marker}"]}
    config = folder / "crafted_config.ckpt"
    torch.save(crafted, config)
    return {"pickle": (raw, "could run code"), "zip": (zipped, "could run code"),
            "truncated": (truncated, "truncated or damaged"), "foreign": (foreign, "not a Lightning checkpoint"),
            "text": (text, ""), "config": (config, "'os.system' (data._target_)")}


def test_no_code_from_a_checkpoint_runs_and_each_bad_file_is_one_clear_line(tmp_path, a_checkpoint):
    files = bad_checkpoints(tmp_path, a_checkpoint)
    for name, (path, says) in files.items():
        for script in ("train.py", "eval.py", "sample.py"):
            args = {"train.py": QUICK, "eval.py": ["wandb_mode=disabled"], "sample.py": []}[script] + [f"ckpt_path={path}"]
            r = run_in_process(script, *args, cwd=tmp_path)
            assert r.returncode == 2, (name, script, r.stderr[-2000:])
            assert "Traceback" not in r.stderr and str(path) in r.stderr and says in r.stderr, (name, script, r.stderr)
            assert not (tmp_path / "PWNED").exists(), f"{name} ran code in {script}"


@pytest.mark.cli
def test_each_entry_point_refuses_bad_input_across_the_process_boundary(tmp_path, a_checkpoint):
    """The real processes: exit status 2, the one-line message on stderr, no traceback, no code from a
    crafted file run (the in-process catalogue covers every case; this proves what only a process shows)."""
    files = bad_checkpoints(tmp_path, a_checkpoint)
    evil = files["pickle"][0]
    cases = [("train.py", [*QUICK, f"ckpt_path={evil}"], "could run code"),
             ("eval.py", ["wandb_mode=disabled", f"ckpt_path={evil}"], "could run code"),
             ("sample.py", [f"ckpt_path={files['zip'][0]}"], "could run code"),
             ("compare.py", [f"{tmp_path}/no_sweep"], "no_sweep")]
    for script, args, says in cases:
        r = cli(script, *args, cwd=tmp_path)
        assert r.returncode == 2, (script, r.stderr[-2000:])
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert "Traceback" not in r.stderr and lines[-1].startswith("Error: ") and says in lines[-1], (script, r.stderr)
    assert not (tmp_path / "PWNED").exists()


# --- divergence ------------------------------------------------------------------------------------

class BlowUp(pl.Callback):
    """Multiplies every learning rate by 1e30 at model step 15 (a stand-in for a diverging run)."""

    def __init__(self, at: int = 15) -> None:
        self.at, self.done = at, False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if pl_module.model_step == self.at and not self.done:
            self.done = True
            for opt in trainer.optimizers:
                for g in opt.param_groups:
                    g["lr"] *= 1e30


class PoisonOneBatch(pl.Callback):
    """Replaces one real batch with NaN (one non-finite critic loss, then back to normal)."""

    def __init__(self, at: int = 7) -> None:
        self.at = at

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step // 2 == self.at:
            batch[0].fill_(float("nan"))


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(compose_cfg):
    from genzoo.checkpoints import NonFiniteError

    cfg = compose_cfg(*fast("trainer.max_steps=40", "metrics=none", "trainer.log_every_n_steps=5",
                            "callbacks.model_checkpoint.every_n_steps=10", "+callbacks.blowup._target_=test_reliability.BlowUp"))
    with pytest.raises(NonFiniteError, match=r"loss/. \(the (generator|discriminator)'s loss\) became non-finite at "
                                             r"model step 1[5-9]"):
        train(cfg)
    ckpts = Path(cfg.paths.output_dir) / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("*.ckpt")) == ["g0000010.ckpt", "last.ckpt"]
    assert finite(ckpts / "last.ckpt") and ckpt_step(ckpts / "last.ckpt") == 10


def test_skip_step_skips_the_non_finite_steps_and_trains_on(compose_cfg):
    cfg = compose_cfg(*fast("trainer.max_steps=12", "metrics=none", "model.nonfinite=skip_step",
                            "trainer.log_every_n_steps=1", "+callbacks.poison._target_=test_reliability.PoisonOneBatch"))
    metrics = train(cfg)
    assert metrics["model_step"] == 12 and metrics["nonfinite/skipped_steps"] == 1.0
    assert finite(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")


# --- full disk, damaged caches, existing folders ---------------------------------------------------

def test_a_full_disk_is_one_clear_error_and_every_checkpoint_stays_loadable(compose_cfg, monkeypatch):
    """torch.save fills the disk half-way through the third checkpoint file (ENOSPC)."""
    import genzoo.checkpoint_io as cio
    from genzoo.errors import GenzooError

    calls = {"n": 0}
    real_save = torch.save

    def filling(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            Path(f).write_bytes(b"PK\x03\x04 half a checkpoint")
            raise OSError(errno.ENOSPC, "No space left on device", str(f))
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(cio.torch, "save", filling)
    cfg = compose_cfg(*fast("trainer.max_steps=12", "metrics=none", "callbacks.model_checkpoint.every_n_steps=4"))
    with pytest.raises(GenzooError, match="the disk is full"):
        train(cfg)
    ckpts = Path(cfg.paths.output_dir) / "checkpoints"
    files = sorted(ckpts.iterdir())
    assert [p.name for p in files] == ["g0000004.ckpt", "last.ckpt"]  # no temporary file left
    for p in files:
        assert ckpt_step(p) == 4


def test_a_damaged_cache_is_rebuilt_with_a_warning(tmp_path):
    from genzoo.data import Digits
    from genzoo.metrics import build_extractor

    dm = Digits(size=16)
    first = build_extractor("classifier", dm, tmp_path)
    (cached,) = tmp_path.glob("classifier-*.pt")
    cached.write_bytes(cached.read_bytes()[:100])  # truncated by a crash
    with pytest.warns(UserWarning, match="is damaged"):
        again = build_extractor("classifier", dm, tmp_path)
    assert torch.equal(again.classifier.head.weight, first.classifier.head.weight)  # same seed, same classifier
    assert torch.load(cached, weights_only=True)["accuracy"] > 0.9  # and the cache is whole again


def test_a_new_run_never_empties_an_existing_run_folder(compose_cfg, tmp_path):
    cfg = compose_cfg(*fast("trainer.max_steps=2", "metrics=none"), name="first")
    train(cfg)
    csv = Path(cfg.paths.output_dir) / "csv" / "metrics.csv"
    before = csv.read_bytes()
    again = compose_cfg(*fast("trainer.max_steps=2", "metrics=none"), name="first")
    with pytest.raises(ConfigError, match="already holds a run .*ckpt_path=last"):
        train(again)
    assert csv.read_bytes() == before


@pytest.mark.cli
def test_short_runs_write_their_csv_and_compare_reads_them(tmp_path):
    """Fewer steps than trainer.log_every_n_steps (50): the last step is still a CSV row."""
    r = cli("train.py", "-m", *QUICK, "metrics=none", "trainer.max_steps=3", "seed=0,1", cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (sweep,) = tmp_path.glob("outputs/train/multiruns/*")
    for job in ("0", "1"):
        text = (sweep / job / "csv" / "metrics.csv").read_text()
        header, *rows = text.splitlines()
        assert rows and rows[-1].split(",")[header.split(",").index("model_step")] == "3.0"
    c = subprocess.run([sys.executable, str(ROOT / "src" / "compare.py"), str(sweep), "--out", str(tmp_path / "cmp")],
                       capture_output=True, text=True, env=cli_env(), timeout=300)
    assert c.returncode == 0, c.stderr[-2000:]
    assert "| (defaults) | 2 |" in (tmp_path / "cmp" / "comparison.md").read_text()


# --- resume rules ---------------------------------------------------------------------------------

@pytest.fixture
def gan_run(tiny_run) -> Path:
    return tiny_run("gan_no_metrics").ckpt


@pytest.mark.parametrize("change,named", [
    (["model=wgan_gp"], "model._target_"), (["loss=minimax"], "loss._target_"), (["model.z_dim=32"], "model.z_dim"),
    (["net.generator.width=16"], "net.generator.width"), (["data=mnist5k"], "data._target_"),
    (["optimizer@model.optimizer_d=sgd"], "model.optimizer_d._target_"),
])
def test_resume_refuses_a_config_that_changes_what_the_weights_mean(compose_cfg, gan_run, change, named):
    cfg = compose_cfg(*fast("trainer.max_steps=5", "metrics=none", f"ckpt_path={gan_run}", *change))
    with pytest.raises(ConfigError, match=f"cannot be resumed with this config: .*{named}"):
        train(cfg)


def test_keys_added_later_resume_old_checkpoints_only_where_their_meaning_is_the_same():
    """A checkpoint from before a key existed resumes silently with the value that means what it did then
    (transposed up-sampling, a [-1, 1] encoder input) and is refused with any other, naming the key."""
    from genzoo.resume import compare

    cases = [("net", "generator", "upsample", "transpose", "nearest"), ("model", None, "encoder_input", "signed", "unit"),
             ("model", None, "encoder_input", "signed", "auto")]
    owner = {"net": "genzoo.nets.DCGANGenerator", "model": "genzoo.models.VAE"}  # the class that declares the key
    for top, sub, key, same, other in cases:
        def cfg(value, top=top, sub=sub, key=key):
            leaf = {"_target_": owner[top], "width": 8, **({} if value is None else {key: value})}
            return {top: {sub: leaf} if sub else leaf}
        name = ".".join(p for p in (top, sub, key) if p)
        assert compare(cfg(None), cfg(same)) == ([], []), name
        refused, applied = compare(cfg(None), cfg(other))
        assert applied == [] and refused == [f"{name}: <absent> in the checkpoint, {other} now"], name


def test_resume_applies_a_new_learning_rate_and_says_so(compose_cfg, gan_run, capsys, caplog):
    import logging

    caplog.set_level(logging.INFO)
    cfg = compose_cfg(*fast("trainer.max_steps=5", "metrics=none", f"ckpt_path={gan_run}", "model.optimizer_g.lr=0.001",
                            "model.n_critic=2"))
    metrics = train(cfg)
    assert metrics["model_step"] == 5  # run length under the new n_critic, counted from the checkpoint
    said = caplog.text + capsys.readouterr().out
    assert "model.optimizer_g.lr=0.001 (the checkpoint had 0.0002)" in said and "model.n_critic=2" in said
    ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == 0.001  # applied, not the restored 2e-4
    assert ckpt["optimizer_states"][1]["param_groups"][0]["lr"] == 2e-4


# --- bad data -------------------------------------------------------------------------------------

def test_an_image_folder_skips_unreadable_files_and_resource_forks(tmp_path):
    import numpy as np
    from PIL import Image

    from genzoo.data import ImageFolder
    from genzoo.errors import DatasetNotFoundError

    rng = np.random.default_rng(0)
    for i in range(20):
        Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(tmp_path / f"img{i:02d}.png")
    (tmp_path / "junk.png").write_bytes(os.urandom(500))
    (tmp_path / "._img00.png").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    for in_memory in (True, False):
        dm = ImageFolder(root=str(tmp_path), size=16, in_memory=in_memory, batch_size=4)
        with pytest.warns(UserWarning, match=r"Skipped 1 unreadable image file\(s\) in .*junk.png"):
            n = len(dm.dataset("train")) + len(dm.dataset("test"))
        assert n == 20
        assert dm.sample_real(4).shape == (4, 3, 16, 16)
    empty = tmp_path / "only_junk"
    empty.mkdir()
    (empty / "a.png").write_bytes(os.urandom(100))
    with pytest.warns(UserWarning), pytest.raises(DatasetNotFoundError, match="No readable images"):
        ImageFolder(root=str(empty), size=16, batch_size=1).dataset("train")


# --- the catalogue: bad inputs through the real CLIs ------------------------------------------------

def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_catalogue_of_bad_inputs_gives_one_clear_line_each(tmp_path, a_checkpoint):
    """Each bad input, through the entry point's own command line and error handler (in this process):
    exit status 2, no traceback, the key or file named in the message, and every file that existed
    before intact (checkpoints, CSVs, data, the old run's folder)."""
    import numpy as np
    from PIL import Image

    files = bad_checkpoints(tmp_path, a_checkpoint)
    junk = tmp_path / "junk_images"
    junk.mkdir()
    (junk / "a.png").write_bytes(os.urandom(64))
    # an existing run folder, with the record a CLI run leaves: a new run into it, or a refused resume in
    # it, must leave it as it was (the record included: the message tells the user to read it)
    old_run = a_checkpoint.parent.parent
    (old_run / ".hydra").mkdir(exist_ok=True)
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (old_run / ".hydra" / name).write_text(f"# the earlier run's {name}\n")
    pics = tmp_path / "pics"
    pics.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(pics / "one.png")
    good = str(a_checkpoint)
    T, E, S, R = "train.py", "eval.py", "sample.py", "src/genzoo/reports/"
    cases = [  # (script, args, what the message must name)
        (T, ["data.batch_size=0"], "data.batch_size"),
        (T, ["data.batch_size=-3"], "data.batch_size"),
        (T, ["model.z_dim=0"], "model.z_dim"),
        (T, ["model.optimizer_d.lr=-1"], "model.optimizer_d.lr"),
        (T, ["trainer.max_steps=-5"], "trainer.max_steps"),
        (T, ["metrics.num_samples=1"], "metrics.num_samples"),
        (T, ["model.ema_decay=1.5"], "model.ema_decay"),
        (T, ["data.held_out_fraction=0"], "data.held_out_fraction"),
        (T, ["callbacks.sample_grid.every_n_steps=-1"], "callbacks.sample_grid.every_n_steps"),
        (T, ["net.generator.width=0"], "net.generator.width"),
        (T, ["data.batch_size=abc"], "data.batch_size"),
        (T, ["trainer.accelerator=gpu"], "trainer.accelerator=cpu"),
        (T, [f"ckpt_path={tmp_path}/missing.ckpt"], "missing.ckpt"),
        (T, [f"ckpt_path={files['truncated'][0]}"], "truncated.ckpt"),
        (T, [f"ckpt_path={files['pickle'][0]}"], "evil_pickle.ckpt"),
        (T, ["ckpt_path=last", f"hydra.run.dir={tmp_path}/fresh"], "ckpt_path=last"),
        (T, [f"ckpt_path={good}", "model=wgan_gp"], "model._target_"),
        (T, [f"hydra.run.dir={old_run}"], str(old_run)),
        (T, [f"hydra.run.dir={old_run}", "ckpt_path=last", "model=wgan_gp"], "model._target_"),
        (T, ["data=image_folder", f"data.root={tmp_path}/nowhere"], "data.root"),
        (T, ["data=image_folder", f"data.root={junk}"], str(junk)),
        (T, ["data=mnist", f"data.root={tmp_path}/no_mnist"], "data.root"),
        (T, ["data.size=30"], "Sizes that work"),
        (T, ["model=cgan", "loss=wasserstein"], "model=wgan_gp"),
        (T, ["model=fgan", "loss=gan"], "loss=gan_divergence"),
        (T, ["metrics.split=valid"], "metrics.split"),
        (T, ["model=wgan_gp", "net.discriminator.norm=batch"], "net.discriminator.norm"),
        (T, ["data=toy2d", "net=dcgan"], "net=mlp"),
        (T, ["model=wgan_gp", "model.penalty=bogus"], "model.penalty"),
        (T, ["model.nonfinite=ignore"], "model.nonfinite"),
        (T, ["model=cyclegan", "data=digits"], "data=unpaired_digits"),
        (T, ["model=cyclegan", "data=unpaired"], "data.root"),
        (T, ["model=cyclegan", "data=unpaired", f"data.root={tmp_path}/nowhere"], "nowhere"),
        (T, ["model=cyclegan", "data=unpaired_digits", "model.pool_size=-1"], "model.pool_size"),
        (T, ["model=cyclegan", "data=unpaired_digits", "loss=wasserstein"], "loss=wasserstein"),
        (T, ["model=cyclegan", "data=unpaired_digits", "callbacks=wasserstein"], "callbacks=wasserstein"),
        (T, ["data=text", f"data.path={tmp_path}/no_corpus.txt"], "data.path"),
        (T, ["data=text", "data.seq_len=1"], "data.seq_len"),
        (T, ["data=text", "net=dcgan"], "net=resnet1d"),
        (T, ["metrics=ngram"], "metrics=ngram"),
        (S, [f"ckpt_path={good}", f"input_dir={pics}"], "input_dir"),
        (E, [f"ckpt_path={tmp_path}/missing.ckpt"], "missing.ckpt"),
        (E, [f"ckpt_path={good}", "metrics.extractor=bogus"], "metrics.extractor"),
        (E, [f"ckpt_path={good}", "metrics.split=valid"], "metrics.split"),
        (E, [f"ckpt_path={good}", "metrics.num_samples=0"], "metrics.num_samples"),
        (E, [f"ckpt_path={good}", "metrics.extractor=inception", f"metrics.inception_weights={tmp_path}/no.pth"],
         "metrics.inception_weights"),
        (S, [f"ckpt_path={good}", "label=3"], "label=3"),
        (S, [f"ckpt_path={good}", "num_samples=0"], "num_samples"),
        (S, [f"ckpt_path={files['zip'][0]}"], "evil_zip.ckpt"),
        # the sweeps' report scripts: a folder that is not there, one with no runs, a checkpoint that is not there
        (R + "c6.py", [f"{tmp_path}/no_sweep"], "no_sweep"),
        (R + "c16.py", [str(pics)], str(pics)),
        (R + "c17.py", [str(pics), f"{tmp_path}/no_sweep"], "no_sweep"),
        (R + "c19.py", [f"{tmp_path}/no_sweep"], "no_sweep"),
        (R + "c26.py", [str(pics)], str(pics)),
        (R + "c5.py", [str(pics)], str(pics)),
        (R + "c22.py", [f"{tmp_path}/missing.ckpt"], "missing.ckpt"),
        # issue 34: data that is mostly not what it seems, a download that fails, options sample.py would not use
        (T, ["data.batch_size=5000"], "data.held_out_fraction=0.1"),
        (T, ["data=text", "data.charset=xz"], "outside data.charset"),
        (T, ["data=mnist", "data.download=true", f"data.root={tmp_path}/to_download"], "Downloading MNIST"),
        (S, [f"ckpt_path={good}", "model.temperature=0.8"], "model=gan has no sampling option temperature"),
        (S, [f"ckpt_path={good}", "+temperature=0.8"], "temperature= is not an option of sample.py"),
        (S, [f"ckpt_path={good}", "ema=false"], "keeps no weight average"),
        # a key the run would not take (a misspelt argument: refused before the run folder exists) or ignore
        (T, ["+model.z_dm=4"], "Did you mean model.z_dim?"),
        (T, ["+trainer.max_step=4"], "Did you mean trainer.max_steps"),
        (T, ["+data.held_out_fractio=0.2"], "Did you mean data.held_out_fraction?"),
        (T, ["+net.generator.widht=8"], "Did you mean net.generator.width?"),
        (T, ["+loss.margin=1"], "genzoo.losses.NonSaturating takes no argument margin"),
        (T, ["+lr=0.1"], "+lr= is a key nothing in this run reads"),
        (T, ["metrics=none", "+metrics.num_samples=50"], "+metrics.num_samples= is a key nothing"),
        (E, [f"ckpt_path={good}", "+metrics.num_sampels=50"], "metrics.num_sampels= is not an option of eval.py"),
        (E, [f"ckpt_path={good}", "+iw_samples=50"], "iw_samples= is not an option of eval.py"),
    ]
    before = snapshot(tmp_path)

    failures = []
    for script, args, named in cases:
        extra = {T: [*QUICK, "trainer.max_steps=2"], E: ["wandb_mode=disabled"]}.get(script, [])
        r = run_in_process(script, *extra, *args, cwd=tmp_path)
        said = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
        if r.returncode != 2 or "Traceback" in r.stderr or len(said) != 1 or named not in said[0]:
            failures.append((script, args, named, r.returncode, r.stderr[-1200:]))
    assert not failures, "\n\n".join(map(str, failures))
    assert {script for script, _, _ in cases} >= {T, E, S}  # every entry point is in the catalogue
    assert not (tmp_path / "PWNED").exists()
    after = snapshot(tmp_path)
    changed = [p for p, data in before.items() if after.get(p) != data]
    assert not changed, changed


def test_a_failed_download_says_it_failed_and_why(tmp_path, monkeypatch):
    """data.download=true offline: the message says the download failed (not "set data.download=true")."""
    from urllib.error import URLError

    import torchvision.datasets as tvd

    from genzoo.data import MNIST
    from genzoo.errors import DatasetNotFoundError

    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tvd.MNIST, "download", offline)
    with pytest.raises(DatasetNotFoundError, match=r"Downloading MNIST into .* failed \(<urlopen error .*name "
                                                   r"resolution.*\); this machine may be offline"):
        MNIST(root=str(tmp_path), download=True).dataset("train")


def test_eval_can_score_a_run_trained_without_metrics(a_checkpoint):
    from omegaconf import OmegaConf

    from genzoo.evaluation import load_run, merged_metrics_config

    run_cfg, _, _, _ = load_run(str(a_checkpoint))
    assert not run_cfg.metrics  # trained with metrics=none
    mcfg = merged_metrics_config(run_cfg, OmegaConf.create({"extractor": "classifier", "num_samples": None}))
    assert mcfg.extractor == "classifier" and mcfg.num_samples == 2000 and mcfg.split == "train"
    with pytest.raises(ConfigError, match="The run had no sample metrics; choose one"):
        merged_metrics_config(run_cfg, None)


class RecordOrder(pl.Callback):
    """Records the callback order the Trainer really uses."""

    seen: list[str] = []

    def on_train_start(self, trainer, pl_module):
        RecordOrder.seen = [type(cb).__name__ for cb in trainer.callbacks]


def test_preemption_runs_after_every_other_callback_and_allows_no_checkpointing(compose_cfg):
    """Its checkpoint must hold what the others did at that step; and trainer.enable_checkpointing=false
    (no ModelCheckpoint) still trains."""
    cfg = compose_cfg(*fast("trainer.max_steps=2", "callbacks.model_checkpoint=null", "+trainer.enable_checkpointing=false",
                            "metrics.num_samples=50", "+callbacks.order._target_=test_reliability.RecordOrder"))
    assert train(cfg)["model_step"] == 2
    order = RecordOrder.seen
    assert "SampleQuality" in order and order.index("Preemption") > order.index("SampleQuality")
    assert order.index("Preemption") > order.index("SampleGrid")
