"""The contract's capstone: a ninth family, defined in this module and configured in a folder of its own (added to
Hydra's search path with ``hydra.searchpath``), trains, resumes, is evaluated (eval.py) and sampled (sample.py),
and has the keys it declares checked, with no edit to any file of genzoo: what the spine knows of a family it
asks the family's class (``config_keys``, ``evaluation_keys``: ``genzoo.config_rules``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from PIL import Image

from conftest import FAST, run_in_process
from genzoo.config_rules import POSITIVE, Key
from genzoo.errors import ConfigError
from genzoo.models.base import SingleOptimizerModule
from genzoo.training import compose_config, train

LOG_2PI = math.log(2 * math.pi)


class Ninth(SingleOptimizerModule):
    """A Gaussian over images with a learned mean per pixel and a learned standard deviation per pixel (or one for
    all, ``shared_std``), floored at ``std_floor``, fitted by maximum likelihood; held out: the exact negative
    log density in nats per image. Samples are mean + std * z, z the standard Gaussian latent."""

    config_keys = (Key("shared_std", resume="refused"), Key("std_floor", POSITIVE))
    evaluation_keys = (Key("held_out_std", POSITIVE),)
    name = "ninth"
    latent_key = "z"
    held_out_metric_names = ("nll",)

    def __init__(self, data_shape, optimizer, shared_std: bool = False, std_floor: float = 0.01,
                 num_classes: int | None = None, name: str = "ninth", scheduler=None) -> None:
        super().__init__()
        self.data_shape, self.z_dim, self.std_floor = tuple(data_shape), math.prod(data_shape), std_floor
        self.mean = nn.Parameter(torch.zeros(self.data_shape))
        self.log_std = nn.Parameter(torch.zeros(() if shared_std else self.data_shape))
        #: eval.py's held_out.held_out_std: score the held-out data under this fixed standard deviation instead
        self.held_out_std: float | None = None
        self._optimizer, self._scheduler = optimizer, scheduler

    def std(self) -> torch.Tensor:
        return self.log_std.exp().clamp(min=self.std_floor).expand(self.data_shape)

    def nll(self, x: torch.Tensor, std: torch.Tensor | float) -> torch.Tensor:
        std = torch.as_tensor(std, dtype=x.dtype).expand(self.data_shape)
        per_pixel = 0.5 * ((x - self.mean) / std) ** 2 + std.log() + 0.5 * LOG_2PI
        return per_pixel.flatten(1).sum(1)

    def training_step(self, batch, batch_idx):
        out = self.minimise(lambda: {"loss": self.nll(batch[0], self.std()).mean()})
        self.log_step({"train/nll": out["loss"].detach()})

    def held_out_metrics(self, batch):
        return {"nll": self.nll(batch[0], self.std() if self.held_out_std is None else self.held_out_std)}

    def sample_given(self, noise, y=None, source=None, ema=True):
        z = noise["z"].view(-1, *self.data_shape)
        return (self.mean + self.std() * z).clamp(-1, 1)


MODEL_YAML = """# @package _global_
# the ninth family: nothing of it is in genzoo's own config tree
defaults:
  - /optimizer@model.optimizer: adam
  - _self_
model:
  _target_: test_ninth_family.Ninth
  name: ninth
  shared_std: false
  std_floor: 0.01
  optimizer: {lr: 0.05}
  scheduler: null
"""


@pytest.fixture(scope="module")
def family_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ninth_conf")
    (root / "model").mkdir()
    (root / "model" / "ninth.yaml").write_text(MODEL_YAML)
    return root


def overrides(family_dir: Path, *extra: str) -> list[str]:
    return [*FAST, "metrics=none", f"hydra.searchpath=[file://{family_dir}]", "model=ninth", "trainer.max_steps=6",
            "callbacks.model_checkpoint.every_n_steps=3", *extra]


@pytest.fixture(scope="module")
def ninth_run(family_dir, tmp_path_factory):
    """The ninth family trained 6 model steps by train(), with the spine's callbacks and checkpoints (one at 3)."""
    from hydra.core.global_hydra import GlobalHydra

    out = tmp_path_factory.mktemp("ninth_runs") / "run"
    cfg = compose_config(overrides(family_dir), out)
    metrics = train(cfg)
    GlobalHydra.instance().clear()
    assert metrics["model_step"] == 6 and math.isfinite(metrics["train/nll"])
    return out


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, weights_only=True)["state_dict"]


def test_the_ninth_family_trains_and_resumes_as_if_never_interrupted(family_dir, ninth_run, tmp_path, capsys):
    # from its checkpoint at step 3 to step 6, with a change of std_floor: the family's key, declared applied on
    # resume, so said and used (inactive here: Adam moves log std by about lr = 0.05 a step, so the standard
    # deviations stay near 1, far above either floor, and the maths is the uninterrupted run's)
    mid = ninth_run / "checkpoints" / "g0000003.ckpt"
    resumed = compose_config(overrides(family_dir, f"ckpt_path={mid}", "model.std_floor=0.02"), tmp_path / "resumed")
    assert train(resumed)["model_step"] == 6
    assert "model.std_floor=0.02 (the checkpoint had 0.01)" in capsys.readouterr().out
    a, b = weights(tmp_path / "resumed" / "checkpoints" / "last.ckpt"), weights(ninth_run / "checkpoints" / "last.ckpt")
    assert a.keys() == b.keys() == {"mean", "log_std"}
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert not torch.equal(a["mean"], weights(mid)["mean"])  # it trained on


def test_the_ninth_familys_declared_keys_are_checked(family_dir, ninth_run, tmp_path):
    # a value its rule refuses: before anything starts, naming the key
    with pytest.raises(ConfigError, match=r"model.std_floor=0 must be a number > 0"):
        train(compose_config(overrides(family_dir, "model.std_floor=0"), tmp_path / "bad"))
    # a structural key changed on resume: refused, naming the key
    with pytest.raises(ConfigError, match=r"cannot be resumed with this config: .*model.shared_std: False in the "
                                          r"checkpoint, True now"):
        train(compose_config(overrides(family_dir, f"ckpt_path={ninth_run / 'checkpoints' / 'last.ckpt'}",
                                       "model.shared_std=true"), tmp_path / "changed"))
    # and through train.py's own command line: one line, exit status 2
    r = run_in_process("train.py", *overrides(family_dir, "model.std_floor=-1"), cwd=tmp_path)
    said = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
    assert r.returncode == 2 and len(said) == 1 and "model.std_floor=-1 must be a number > 0" in said[0], r.stderr[-2000:]


def test_eval_scores_the_ninth_family_with_its_own_evaluation_option(ninth_run, tmp_path):
    from genzoo.evaluation import load_run

    ckpt = ninth_run / "checkpoints" / "last.ckpt"
    args = [f"ckpt_path={ckpt}", "wandb_mode=disabled", "held_out.max_examples=40"]
    r = run_in_process("eval.py", *args, "+held_out.held_out_std=1.0", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    written = json.loads(ckpt.with_suffix(".eval.json").read_text())
    assert written["protocol"] == {"held_out_examples": 40, "held_out_std": 1.0} and written["model_step"] == 6
    # by hand: under a unit standard deviation, 0.5 |x - mean|^2 + D/2 log(2 pi) per image, over the first 40
    _, dm, model, _ = load_run(str(ckpt))
    mean = weights(ckpt)["mean"].double()
    x = torch.cat([b[0] for b in dm.held_out_batches(16, 1, 0, 40)]).double()
    by_hand = (0.5 * ((x - mean) ** 2).flatten(1).sum(1) + 0.5 * mean.numel() * LOG_2PI).mean().item()
    assert written["metrics"]["nll/test/40"] == pytest.approx(by_hand, rel=1e-5)
    # an option the family does not declare: one line naming it and the family's options
    r = run_in_process("eval.py", *args, "held_out.iw_samples=10", cwd=tmp_path)
    said = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
    assert r.returncode == 2 and len(said) == 1, r.stderr[-2000:]
    assert "model=ninth has no evaluation option iw_samples (its options: held_out.held_out_std)" in said[0]
    r = run_in_process("eval.py", *args, "+held_out.held_out_std=0", cwd=tmp_path)
    assert r.returncode == 2 and "held_out.held_out_std=0 must be a number > 0" in r.stderr


def test_sample_draws_the_ninth_familys_grids(ninth_run, tmp_path):
    ckpt = ninth_run / "checkpoints" / "last.ckpt"
    r = run_in_process("sample.py", f"ckpt_path={ckpt}", "num_samples=16", "interpolation.pairs=2",
                       "interpolation.steps=3", "hydra.run.dir=grids", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    for name in ("random", "interpolation"):  # drawn through the contract: the latent z walked for the second
        assert Image.open(tmp_path / "grids" / f"{name}.png").convert("L").getextrema()[1] > 0, name
    # fixed.png draws the training run's fixed noise: the run's own last grid
    assert (Image.open(tmp_path / "grids" / "fixed.png").tobytes()
            == Image.open(ninth_run / "samples" / "last.png").tobytes())
