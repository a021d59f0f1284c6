"""Speed options agree with the default (issue 35): ``model.channels_last``, ``model.compile`` and
``trainer.precision=bf16-mixed``, each checked on the CPU against the default within a stated tolerance.

- channels_last: the same losses and parameter gradients as the default within 1e-5 relative, for one
  critic step and one generator step of a DCGAN GAN and a DCGAN WGAN-GP (3-channel 32 px batches).
- compile: torch.compile of the nets (``nn.Module.compile``; the tests use backend ``aot_eager``, whose
  compile takes seconds on this CPU where inductor's C++ takes about half a minute per net; one inductor
  case in the full tier). The gradient penalty's double backward through a compiled critic fails in
  PyTorch 2.x (AOTAutograd), so the penalty falls back to the eager critic with one logged line and gives
  eager's gradients; a compiled run's losses agree with eager's within 1e-5 relative, its checkpoint has
  the eager state dict keys, and it resumes with or without compile.
- bf16-mixed: tests/test_train.py, test_vae.py and test_cyclegan.py compare the first step's losses with
  fp32's within 5% relative (test_pixelcnn.py: 2%); here the WGAN-GP penalty under bf16 autocast.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import open_dict

from conftest import fast
from genzoo.errors import ConfigError
from genzoo.training import build_model, train

RTOL = 1e-5  # channels_last and compile against the default, fp32 on the CPU
IMAGES = SimpleNamespace(shape=(3, 32, 32), num_classes=None)  # a 3-channel data shape, no files needed


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def one_step_maths(model, seed: int = 0) -> dict[str, torch.Tensor]:
    """The losses of one critic update and one generator update (fixed draws), and the gradients each
    gives its network, with the weights as they are (no optimiser step)."""
    torch.manual_seed(seed)
    real = torch.rand(8, *model.data_shape) * 2 - 1
    out: dict[str, torch.Tensor] = {}
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        fake = model.generate(model.latents(8))
    d = model.discriminator_loss(real, fake)
    d["loss/d"].backward()
    out["loss/d"] = d["loss/d"].detach()
    out["grad/d"] = torch.cat([p.grad.flatten() for p in model.discriminator.parameters()])
    model.zero_grad(set_to_none=True)
    g = model.generator_loss(8)
    g["loss/g"].backward()
    out["loss/g"] = g["loss/g"].detach()
    out["grad/g"] = torch.cat([p.grad.flatten() for p in model.generator.parameters()])
    if "penalty" in d:
        out["penalty"] = d["penalty"]
    return out


def built(compose_cfg, model: str, *overrides: str, name: str = "run", **options):
    """The model of ``model=<model>`` (DCGAN nets of width 8) for 3 x 32 x 32 data, with ``options`` set."""
    cfg = compose_cfg(*fast(f"model={model}", *overrides), name=name)
    with open_dict(cfg):
        cfg.model.update(options)
    torch.manual_seed(0)
    return build_model(cfg, IMAGES)


@pytest.mark.parametrize("model", ["gan", "wgan_gp"])
def test_channels_last_gives_the_default_losses_and_gradients(compose_cfg, model):
    default = built(compose_cfg, model)
    fast_layout = built(compose_cfg, model, channels_last=True)
    fast_layout.load_state_dict(default.state_dict())
    convs = [p for p in fast_layout.discriminator.parameters() if p.ndim == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert not all(p.is_contiguous(memory_format=torch.channels_last)
                   for p in default.discriminator.parameters() if p.ndim == 4)
    seen = []  # the critic's first conv sees channels_last batches (real, fake and, for WGAN-GP, x_hat)
    first_conv = next(m for m in fast_layout.discriminator.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_pre_hook(lambda m, a: seen.append(a[0].is_contiguous(memory_format=torch.channels_last)))
    want, got = one_step_maths(default), one_step_maths(fast_layout)
    assert seen and all(seen)
    assert set(got) == set(want) and ("penalty" in got) == (model == "wgan_gp")
    for key in want:
        assert rel_err(got[key], want[key]) <= RTOL, (key, rel_err(got[key], want[key]))
    assert got["grad/d"].abs().max() > 0 and got["grad/g"].abs().max() > 0
    assert list(fast_layout.state_dict()) == list(default.state_dict())  # checkpoints load either way


def test_speed_options_refuse_bad_values(compose_cfg):
    with pytest.raises(ConfigError, match=r"model.compile='fastest'.*inductor.*aot_eager"):
        built(compose_cfg, "gan", "model.compile=fastest", name="bad_compile")
    with pytest.raises(ConfigError, match=r"model.channels_last='yes'"):
        built(compose_cfg, "gan", "model.channels_last='yes'", name="bad_layout")


def critic_and_batch():
    torch.manual_seed(0)
    from genzoo.nets import DCGANDiscriminator

    critic = DCGANDiscriminator(shape=(3, 16, 16), width=8, norm="layer")
    real, fake = torch.rand(6, 3, 16, 16) * 2 - 1, torch.rand(6, 3, 16, 16) * 2 - 1
    return critic, real, fake


def penalty_grads(critic, real, fake, penalty) -> tuple[torch.Tensor, torch.Tensor]:
    """(penalty, its gradient w.r.t. the critic's parameters): the double backward."""
    torch.manual_seed(1)  # the penalty's interpolation points
    gp = penalty(critic, real, fake)
    params = list(critic.parameters())
    grads = torch.autograd.grad(gp, params, allow_unused=True)
    return gp.detach(), torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for p, g in zip(params, grads)])


@pytest.mark.full  # compiles a critic (aot_eager: ~4 s; inductor: ~40 s on 2 CPU cores)
@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_compiled_penalty_gradients_equal_eager_ones(backend, caplog):
    """The raw compiled double backward either fails (PyTorch 2.x) or agrees; through PenaltyPath the
    compiled critic's penalty gradients are eager's (the fallback, said once), and the check leaves the
    global RNG as it found it."""
    from genzoo.losses import gradient_penalty
    from genzoo.losses.wasserstein import PenaltyPath, is_compiled

    critic, real, fake = critic_and_batch()
    want_gp, want = penalty_grads(critic, real, fake, gradient_penalty)
    assert want.abs().max() > 0
    critic.compile(backend=backend)
    assert is_compiled(critic)
    try:
        raw_gp, raw = penalty_grads(critic, real, fake, gradient_penalty)
        raw_ok = rel_err(raw, want) <= RTOL
    except RuntimeError:  # PyTorch 2.x: "does not currently support double backward" (or donated buffers)
        raw_ok = False
    path = PenaltyPath()
    with caplog.at_level(logging.WARNING, logger="genzoo"):
        for _ in range(3):
            gp, got = penalty_grads(critic, real, fake, lambda c, r, f: path(c, lambda **draw: gradient_penalty(c, r, f, **draw)))
            assert rel_err(got, want) <= RTOL and torch.allclose(gp, want_gp, rtol=RTOL)
    said = [r.getMessage() for r in caplog.records if "gradient penalty" in r.getMessage()]
    assert path.eager is (not raw_ok)
    assert len(said) == (0 if raw_ok else 1), said
    if not raw_ok:
        assert "runs the critic eager" in said[0]
    # an eager critic is never checked
    eager_critic, *_ = critic_and_batch()
    fresh = PenaltyPath()
    penalty_grads(eager_critic, real, fake, lambda c, r, f: fresh(c, lambda **draw: gradient_penalty(c, r, f, **draw)))
    assert fresh.eager is None


def final_state(cfg) -> dict[str, torch.Tensor]:
    return torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


@pytest.mark.full  # compiles G and D (aot_eager) and trains: ~15 s on 2 CPU cores
@pytest.mark.parametrize("model", ["gan", "wgan_gp"])
def test_compiled_run_agrees_and_its_checkpoints_load_either_way(compose_cfg, model, caplog):
    # (not with channels_last: the aot_eager backend fails on GroupNorm over channels_last inputs, inductor does not)
    common = fast(f"model={model}", "trainer.max_steps=2", "data.batch_size=8")
    runs = {}
    with caplog.at_level(logging.WARNING, logger="genzoo"):
        for name, compile_ in (("eager", "false"), ("compiled", "aot_eager")):
            cfg = compose_cfg(*common, f"model.compile={compile_}", name=name)
            runs[name] = (cfg, train(cfg))
    said = [r.getMessage() for r in caplog.records if "gradient penalty" in r.getMessage()]
    assert len(said) == (1 if model == "wgan_gp" else 0), said  # the penalty's fallback, said once
    (eager_cfg, eager), (compiled_cfg, compiled) = runs["eager"], runs["compiled"]
    for key in ("loss/d", "loss/g"):
        assert compiled[key] == pytest.approx(eager[key], rel=RTOL, abs=1e-7), key
    s_eager, s_compiled = final_state(eager_cfg), final_state(compiled_cfg)
    assert list(s_compiled) == list(s_eager) and not any("_orig_mod" in k for k in s_compiled)
    for k in s_eager:
        if s_eager[k].is_floating_point():
            assert torch.allclose(s_compiled[k], s_eager[k], rtol=1e-4, atol=1e-6), k
    # the compiled run's checkpoint resumes eager, and the eager one compiled
    for source, compile_ in ((compiled_cfg, "false"), (eager_cfg, "aot_eager")):
        cfg = compose_cfg(*common, "trainer.max_steps=3", f"model.compile={compile_}",
                          f"ckpt_path={Path(source.paths.output_dir) / 'checkpoints' / 'last.ckpt'}",
                          name=f"resume_{compile_}")
        assert train(cfg)["model_step"] == 3.0


def test_bf16_penalty_agrees_with_fp32():
    """WGAN-GP's penalty under bf16 autocast (the critic's matmuls in bf16, the norm in fp32) against fp32:
    within 5% relative (bf16 keeps 8 bits of mantissa), and really computed in bf16 (not equal)."""
    from genzoo.losses import gradient_penalty

    critic, real, fake = critic_and_batch()
    torch.manual_seed(1)
    want = gradient_penalty(critic, real, fake)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.manual_seed(1)
        got = gradient_penalty(critic, real, fake)
    assert got.dtype == torch.float32 and not torch.equal(got, want)
    assert got.item() == pytest.approx(want.item(), rel=0.05)


@pytest.mark.full  # the same layout option through a bare Trainer for the other families (~3 s each)
@pytest.mark.parametrize("model", ["vae", "pixelcnn", "cyclegan"])
def test_channels_last_trains_every_family_like_the_default(compose_cfg, model):
    from conftest import fit_briefly

    metrics = {}
    data = ["data=unpaired_digits"] if model == "cyclegan" else []  # its two image domains
    for layout in ("false", "true"):
        cfg = compose_cfg(*fast(f"model={model}", *data, f"model.channels_last={layout}"), name=layout)
        _, metrics[layout] = fit_briefly(cfg)
    assert set(metrics["true"]) == set(metrics["false"])
    for key, want in metrics["false"].items():
        assert metrics["true"][key] == pytest.approx(want, rel=RTOL, abs=1e-7), key


# --- sampling options: every one a family has is taken where samples are drawn; every other key is refused ---------
def sample_cli(tmp_path: Path, ckpt: Path, name: str, *args: str):
    """sample.py in process into ``tmp_path/name``; (result, that folder)."""
    from conftest import run_in_process

    r = run_in_process("sample.py", f"ckpt_path={ckpt}", "num_samples=4", f"hydra.run.dir={tmp_path / name}", *args,
                       cwd=tmp_path)
    return r, tmp_path / name


def sample_refused(tmp_path: Path, ckpt: Path, *args: str) -> str:
    r, folder = sample_cli(tmp_path, ckpt, "refused", *args)
    said = [line for line in r.stderr.splitlines() if line.startswith("Error: ")]
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(said) == 1, r.stderr[-1500:]
    assert not folder.exists()  # a refused command leaves no run folder
    return said[0]


def pixels(folder: Path, name: str = "random.png") -> torch.Tensor:
    import numpy as np
    from PIL import Image

    return torch.from_numpy(np.asarray(Image.open(folder / name)).copy())


def sample_config(*overrides: str):
    """conf/sample.yaml composed with ``overrides`` as sample.py's command line passes them to Hydra."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from genzoo.composition import CONFIG_DIR
    from sample import sampling_overrides

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("sample", overrides=sampling_overrides(list(overrides)), return_hydra_config=False)


def test_sample_takes_every_sampling_option_of_pixelcnn(tiny_run):
    """model.temperature, model.sample_mode and model.sampler, given to sample.py as training takes them (or
    with Hydra's +), build the run's model with them, and each reaches the samples: argmax ignores the noise
    (two seeds, one picture; sampling gives two), a low temperature changes the picture, the naive sampler
    draws the cached one's pictures."""
    from genzoo.checkpoints import load_checkpoint
    from genzoo.evaluation import load_run
    from sample import sampling_options

    ckpt = tiny_run("pixelcnn").ckpt
    stored = load_checkpoint(ckpt, mmap=True)
    given = {"temperature": 0.05, "sample_mode": "argmax", "sampler": "naive"}
    for plus in ("", "+"):
        cfg = sample_config(f"ckpt_path={ckpt}", *(f"{plus}model.{k}={v}" for k, v in given.items()))
        assert sampling_options(cfg, stored) == given

    def draws(options: dict, seed: int) -> torch.Tensor:
        model = load_run(str(ckpt), "cpu", options)[2]
        for key, value in options.items():
            assert getattr(model, key) == value
        return model.sample(3, rng=torch.Generator().manual_seed(seed))

    default, other_seed = draws({}, 0), draws({}, 1)
    assert not torch.equal(default, other_seed)  # sampling: the seed's noise matters
    assert torch.equal(draws({"sample_mode": "argmax"}, 0), draws({"sample_mode": "argmax"}, 1))  # argmax: it does not
    assert not torch.equal(draws({"temperature": 0.05}, 0), default)
    assert torch.equal(draws({"sampler": "naive"}, 0), default)


def test_sample_refuses_what_it_would_not_use(tiny_run, tmp_path):
    """Through sample.py's command line: a key the family has no sampling option for, an out-of-range value,
    a key of no use to sample.py and ema= on a run without a weight average: one line each, naming what the
    run takes, and no run folder left."""
    ckpt = tiny_run("pixelcnn").ckpt
    said = sample_refused(tmp_path, ckpt, "model.temperature=0")
    assert "model.temperature=0 must be a number > 0" in said
    assert "model.sample_mode='greedy'" in sample_refused(tmp_path, ckpt, "model.sample_mode=greedy")
    said = sample_refused(tmp_path, ckpt, "model.levels=2")
    assert "model=pixelcnn has no sampling option levels" in said
    assert "model.temperature, model.sample_mode, model.sampler" in said
    said = sample_refused(tmp_path, ckpt, "+temperature=0.8")
    assert "temperature= is not an option of sample.py" in said and "Did you mean model.temperature?" in said
    assert "interpolation.speed=" in sample_refused(tmp_path, ckpt, "+interpolation.speed=2")
    assert "keeps no weight average" in sample_refused(tmp_path, ckpt, "ema=false")


def test_sample_draws_from_the_trained_weights_with_ema_false(tiny_run, tmp_path):
    """A GAN with a weight average samples with it by default (ema=true the same); ema=false gives the
    trained generator's samples, which differ. A GAN has no model.* sampling option: each is refused."""
    ckpt = tiny_run("gan").ckpt
    drawn = {}
    for name, args in {"default": (), "ema_true": ("ema=true",), "ema_false": ("ema=false",)}.items():
        r, folder = sample_cli(tmp_path, ckpt, name, *args)
        assert r.returncode == 0, r.stderr[-1500:]
        drawn[name] = {p: pixels(folder, p) for p in ("random.png", "fixed.png", "interpolation.png")}
    for p in drawn["default"]:
        assert torch.equal(drawn["default"][p], drawn["ema_true"][p])
        assert not torch.equal(drawn["default"][p], drawn["ema_false"][p]), p
    said = sample_refused(tmp_path, ckpt, "model.temperature=0.8")
    assert "model=gan has no sampling option temperature" in said and "Its sampling options: none" in said
    assert "ema=1 must be true" in sample_refused(tmp_path, ckpt, "ema=1")
