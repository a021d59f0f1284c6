"""Shared fixtures: compose the real Hydra config tree with a run folder under tmp_path, tiny runs of
every family trained once per session and reused, and the entry points called in this process.

Tiers (pyproject.toml registers the markers; ``--strict-markers`` refuses any other):
- ``make test``: everything not marked ``slow`` or ``full``: the maths, the contract for every family,
  one real subprocess per entry point, one 2-process DDP run, one signal-and-resume, the bad-input
  catalogue;
- ``make test-full`` (CI): everything, including ``slow`` (long training: the claim runs) and ``full``
  (a second path to what the fast tier proves: more CLI variants, more DDP runs, every sweep file).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
# one metric cache (classifiers, real statistics) for the whole session, in process and in CLI subprocesses
CACHE = ROOT / ".cache" / "genzoo-tests"
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ["GENZOO_CACHE"] = str(CACHE)

import torch  # noqa: E402

# pytest-xdist runs two workers on two cores: one thread each; a single process keeps two
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, os.cpu_count() or 1))

# Fast settings every training test starts from; tests add their own overrides after these.
FAST = [
    "logger=csv",
    "callbacks.rich_progress_bar=null",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]
SMALL_DCGAN = ["net.generator.width=8", "net.discriminator.width=8"]
SMALL_VAE = ["net.encoder.width=8", "net.decoder.width=8"]
SMALL_PIXELCNN = ["net.network.hidden=8", "net.network.layers=2", "net.network.out_hidden=8"]


def fast(*overrides: str) -> list[str]:
    """FAST + small conv widths (the GAN's or the VAE's nets; none with MLP nets) + the given overrides;
    no sample metrics (metrics=none: a 2,000-sample evaluation at the end of every run) unless an
    override names metrics."""
    mlp = any(o in ("net=mlp", "net=vae_mlp", "data=toy2d") or o.startswith("experiment=gan_toy2d") for o in overrides)
    vae = any(o in ("model=vae", "model=cvae") for o in overrides)
    autoregressive = any(o in ("model=pixelcnn", "model=pixelrnn") for o in overrides)
    small = SMALL_PIXELCNN if autoregressive else SMALL_VAE if vae else SMALL_DCGAN
    return [*FAST, *([] if mlp else small), *no_metrics_unless_named(overrides), *overrides]


def no_metrics_unless_named(overrides) -> list[str]:
    """["metrics=none"] unless an override names metrics (then the test wants them)."""
    return [] if any(o.split("=")[0].lstrip("+~").startswith("metrics") for o in overrides) else ["metrics=none"]


@pytest.fixture
def compose_cfg(tmp_path):
    """compose_cfg(*overrides) -> DictConfig whose outputs go to tmp_path/<name>."""
    from hydra.core.global_hydra import GlobalHydra

    from genzoo.training import compose_config

    yield lambda *overrides, name="run": compose_config(overrides, tmp_path / name)
    GlobalHydra.instance().clear()


def fit_briefly(cfg, steps: int = 1):
    """The family of ``cfg`` trained ``steps`` model steps by a bare Trainer (no callbacks, loggers or
    checkpoints: what a smoke run of one family needs, in about a second) -> (model, its last metrics)."""
    import pytorch_lightning as pl

    from genzoo.training import build_datamodule, build_model, trainer_arguments

    pl.seed_everything(cfg.get("seed") or 0, verbose=False)
    dm = build_datamodule(cfg)
    model = build_model(cfg, dm)
    with_steps = OmegaConf.merge(cfg, {"trainer": {"max_steps": steps}})
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, max_steps=trainer_arguments(with_steps, model)["max_steps"])
    trainer.fit(model, datamodule=dm)
    assert model.model_step == steps
    return model, {k: float(v) for k, v in model.last_metrics.items()}


# --- the entry points: a real subprocess, or the same script run in this process -------------------

def cli_env(env: dict | None = None) -> dict[str, str]:
    return {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", "GENZOO_CACHE": str(CACHE), **(env or {})}


def run_script(script: str, *args: str, cwd: Path, timeout: int = 300, env: dict | None = None):
    """A real subprocess: ``python src/SCRIPT ARGS`` in ``cwd`` (``script`` may be a path under ROOT)."""
    path = ROOT / "src" / script if "/" not in script else ROOT / script
    return subprocess.run([sys.executable, str(path), *args], cwd=cwd, env=cli_env(env),
                          capture_output=True, text=True, timeout=timeout)


def run_cli(*args: str, cwd: Path, timeout: int = 300, env: dict | None = None):
    """Run the real entry point ``python src/train.py ARGS`` in ``cwd``."""
    return run_script("train.py", *args, cwd=cwd, timeout=timeout, env=env)


def run_in_process(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The script run as ``__main__`` in this process, as ``python src/SCRIPT ARGS`` in ``cwd`` would run
    it (Hydra's command line, the user-error handler, the exit status), without starting Python,
    torch and Lightning again: the returned ``returncode``/``stdout``/``stderr`` are those a user sees.
    The process boundary itself is proven by the ``cli`` tests."""
    from hydra.core.global_hydra import GlobalHydra

    path = ROOT / "src" / script if "/" not in script else ROOT / script
    out, err = io.StringIO(), io.StringIO()
    argv, here, code, search = sys.argv, os.getcwd(), 0, list(sys.path)
    sys.argv = [str(path), *args]
    sys.path.insert(0, str(path.parent))  # as Python does for a script: its folder first
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                runpy.run_path(str(path), run_name="__main__")
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except Exception:  # what Python would print for an uncaught exception
                import traceback

                traceback.print_exc()
                code = 1
    finally:
        sys.argv, sys.path[:] = argv, search
        os.chdir(here)
        GlobalHydra.instance().clear()
    return subprocess.CompletedProcess([script, *args], code, out.getvalue(), err.getvalue())


# --- tiny runs trained once per session (shared by pytest-xdist workers through a file lock) --------

#: name -> overrides of the tiny runs the eval, sample, resume and contract tests reuse
TINY_RUNS = {
    # every family: 4 model steps, 100-sample metrics at the end; the GAN keeps a weight average
    # (on by default for cgan only), so the averaged-weights contract is checked on both
    **{f: fast(f"model={f}", *(["data=unpaired_digits"] if f == "cyclegan" else []), "trainer.max_steps=4",
               "metrics.num_samples=100", *(["model.ema_decay=0.999"] if f == "gan" else []))
       for f in ("gan", "wgan", "wgan_gp", "fgan", "cgan", "vae", "cvae", "pixelcnn", "pixelrnn", "cyclegan")},
    # a GAN trained without sample metrics (eval must still score it; the bad-checkpoint files copy it)
    "gan_no_metrics": fast("trainer.max_steps=3", "metrics=none"),
}


@dataclass(frozen=True)
class TinyRun:
    """A finished tiny run: its composed config, the metrics train() returned, its folder. Read-only:
    a test that writes into a run (a resume in place) copies it first (``copy_to``)."""

    cfg: object
    metrics: dict
    dir: Path

    @property
    def ckpt(self) -> Path:
        return self.dir / "checkpoints" / "last.ckpt"

    def copy_to(self, where: Path) -> Path:
        import shutil

        shutil.copytree(self.dir, where)
        return where / "checkpoints" / "last.ckpt"


def _shared_root(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """tiny_run(name) -> TinyRun: trained on first use in this test session (any worker), then reused."""
    from filelock import FileLock
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from genzoo.training import compose_config, train

    root = _shared_root(tmp_path_factory) / "tiny_runs"
    root.mkdir(exist_ok=True)
    seen: dict[str, TinyRun] = {}

    def get(name: str) -> TinyRun:
        if name not in seen:
            out, done = root / name, root / f"{name}.json"
            with FileLock(str(root / f"{name}.lock")):
                if not done.exists():
                    cfg = compose_config(TINY_RUNS[name], out)
                    metrics = train(cfg)
                    GlobalHydra.instance().clear()
                    OmegaConf.save(cfg, root / f"{name}.yaml", resolve=True)
                    done.write_text(json.dumps(metrics))
            seen[name] = TinyRun(OmegaConf.load(root / f"{name}.yaml"), json.loads(done.read_text()), out)
        return seen[name]

    return get


@pytest.fixture(scope="session", autouse=True)
def _digits_classifier(tmp_path_factory):
    """The digits classifier every sample metric of the tests uses, trained once before any test asks
    (two workers would otherwise both train it)."""
    from filelock import FileLock

    from genzoo.data import Digits
    from genzoo.metrics import build_extractor

    with FileLock(str(_shared_root(tmp_path_factory) / "classifier.lock")):
        build_extractor("classifier", Digits(size=16), CACHE)


def function_family(fn, data_shape=(1, 16, 16), num_classes: int | None = None):
    """A stand-in family whose samples are ``fn(n)`` (or ``fn(y=labels)`` when ``num_classes`` is
    given): a known sampler driven through the family contract, like any trained model."""
    import torch.nn as nn

    from genzoo.models.base import GenerativeModule

    class FunctionFamily(GenerativeModule):
        name = "function"

        def __init__(self) -> None:
            super().__init__()
            self.data_shape, self.num_classes = tuple(data_shape), num_classes
            self.condition = "none" if num_classes is None else "label"
            self.anchor = nn.Parameter(torch.zeros(()))  # gives the module a device

        def draw_noise(self, n, rng=None):
            return {"count": torch.zeros(n, 0)}

        def sample_given(self, noise, y=None, source=None, ema=True):
            return fn(len(noise["count"])) if y is None else fn(y=y.cpu())

    return FunctionFamily()
