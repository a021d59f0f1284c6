"""Shared fixtures: compose the real Hydra config tree with a run folder under tmp_path."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# one metric cache (classifiers, real statistics) for the whole session, also for CLI subprocesses
CACHE = ROOT / ".cache" / "genzoo-tests"
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

import torch  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))

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
    """FAST + small conv widths (the GAN's or the VAE's nets; none with MLP nets) + the given overrides."""
    mlp = any(o in ("net=mlp", "net=vae_mlp", "data=toy2d") or o.startswith("experiment=gan_toy2d") for o in overrides)
    vae = any(o in ("model=vae", "model=cvae") for o in overrides)
    autoregressive = any(o in ("model=pixelcnn", "model=pixelrnn") for o in overrides)
    small = SMALL_PIXELCNN if autoregressive else SMALL_VAE if vae else SMALL_DCGAN
    return [*FAST, *([] if mlp else small), *overrides]


@pytest.fixture
def compose_cfg(tmp_path):
    """compose_cfg(*overrides) -> DictConfig whose outputs go to tmp_path/<name>."""
    from hydra.core.global_hydra import GlobalHydra

    from genzoo.training import compose_config

    yield lambda *overrides, name="run": compose_config(overrides, tmp_path / name)
    GlobalHydra.instance().clear()


def run_cli(*args: str, cwd: Path, timeout: int = 300, env: dict | None = None):
    """Run the real entry point ``python src/train.py ARGS`` in ``cwd``."""
    import subprocess

    e = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1", "GENZOO_CACHE": str(CACHE), **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / "src" / "train.py"), *args], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)


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

        def draw_noise(self, n, generator=None):
            return {"count": torch.zeros(n, 0)}

        def sample_given(self, noise, y=None, source=None, ema=True):
            return fn(len(noise["count"])) if y is None else fn(y=y.cpu())

    return FunctionFamily()
