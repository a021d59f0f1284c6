"""WGAN and WGAN-GP: losses and penalties against hand computations, seed claims C2/C9, C11, C12,
C13, C14, C15, fp16 penalty scaling, and a WGAN-GP critic step under 2-process DDP."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from conftest import fast, fit_briefly, run_cli
from genzoo.data import Toy2DDistribution
from genzoo.losses import Minimax, Wasserstein, gradient_penalty
from genzoo.metrics import clipped_fraction, layer_input_grad_norms
from genzoo.nets import DCGANDiscriminator, MLPDiscriminator
from genzoo.training import train


def test_wasserstein_losses_match_hand_computation():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.5, 0.0])
    assert math.isclose(Wasserstein().d_loss(real, fake).item(), (-1.5 / 3) - 2.0, rel_tol=1e-6)
    assert math.isclose(Wasserstein().g_loss(fake).item(), 1.5 / 3, rel_tol=1e-6)


class Linear(nn.Module):
    """D(x) = <w, x> (over all non-batch dims): its input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = w

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1)


class HalfSquare(nn.Module):
    """D(x) = ||x||^2 / 2: its input gradient at x is x."""

    def forward(self, x):
        return 0.5 * x.flatten(1).pow(2).sum(1)


def test_penalty_two_and_one_sided_on_a_linear_critic():
    w = torch.full((1, 2, 2), 0.25)  # ||w|| = 0.5 over the 4 non-batch entries
    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    assert math.isclose(gradient_penalty(Linear(w), real, fake, "two_sided").item(), 0.25, rel_tol=1e-6)
    assert gradient_penalty(Linear(w), real, fake, "one_sided").item() == 0.0
    w3 = torch.full((1, 2, 2), 1.5)  # ||w|| = 3
    assert math.isclose(gradient_penalty(Linear(w3), real, fake, "one_sided").item(), 4.0, rel_tol=1e-6)


def test_penalty_norm_is_per_sample_over_all_non_batch_dims():
    real, fake = torch.randn(4, 3, 5, 5), torch.randn(4, 3, 5, 5)
    eps = torch.rand(4)
    x_hat = eps.view(-1, 1, 1, 1) * real + (1 - eps.view(-1, 1, 1, 1)) * fake
    expected = (x_hat.flatten(1).norm(dim=1) - 1).pow(2).mean()
    got = gradient_penalty(HalfSquare(), real, fake, "two_sided", eps=eps)
    assert torch.allclose(got, expected, rtol=1e-5)
    per_pixel = (x_hat.abs() - 1).pow(2).mean()  # the known bug: a norm per pixel
    assert not torch.allclose(got, per_pixel, rtol=1e-2)


def test_penalty_finite_difference_on_a_linear_critic():
    w = torch.tensor([[3.0, 4.0]])  # 2-D points
    real, fake = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    eps1, eps2 = torch.tensor([0.9, 0.2]), torch.tensor([0.1, 0.7])
    # |D(x1) - D(x2)| / ||x1 - x2|| = |<w, r - f>| / ||r - f||: 3 for the first pair, 4 for the second
    expected = ((3 - 1) ** 2 + (4 - 1) ** 2) / 2
    got = gradient_penalty(Linear(w), real, fake, "finite_difference", eps=eps1, eps2=eps2)
    assert math.isclose(got.item(), expected, rel_tol=1e-5)
    # it needs no second derivatives: the penalty's graph reaches the critic's parameters by first derivatives only
    lin = nn.Linear(2, 1)
    gp = gradient_penalty(lambda x: lin(x).squeeze(1), real, fake, "finite_difference", eps=eps1, eps2=eps2)
    gp.backward()
    assert lin.weight.grad is not None


def test_fp16_penalty_with_grad_scaler_matches_fp32():
    torch.manual_seed(0)
    D = DCGANDiscriminator((1, 16, 16), width=8, norm="none")
    real, fake, eps = torch.rand(8, 1, 16, 16) * 2 - 1, torch.rand(8, 1, 16, 16) * 2 - 1, torch.rand(8)
    p32 = gradient_penalty(D, real, fake, eps=eps)
    # A scale GradScaler settles on (its first 2**16 overflows in fp16; it then skips that step and halves)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    with torch.autocast("cpu", dtype=torch.float16):
        p16 = gradient_penalty(D, real, fake, eps=eps, scaler=scaler)
    assert abs(p16.item() - p32.item()) / p32.item() < 1e-2


# --- C2 / C9: disjoint supports ----------------------------------------------------------------

def two_lines(theta, n, g):
    z = torch.rand(n, 1, generator=g)
    return torch.cat([torch.zeros(n, 1), z], 1), torch.cat([theta.expand(n, 1), z], 1)


def generator_gradient(loss, critic_steps, theta_value, penalty):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    D = MLPDiscriminator((2,), hidden=64, depth=2)
    opt = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.9))
    theta = torch.tensor([theta_value])
    for _ in range(critic_steps):
        real, fake = two_lines(theta, 256, g)
        d = loss.d_loss(D(real), D(fake)) + (10 * gradient_penalty(D, real, fake) if penalty else 0)
        opt.zero_grad()
        d.backward()
        opt.step()
    theta = theta.clone().requires_grad_(True)
    real, fake = two_lines(theta, 4096, g)
    loss.g_loss(D(fake)).backward()
    with torch.no_grad():
        value = (D(real).mean() - D(fake).mean()).item()
    return theta.grad.item(), value


@pytest.mark.slow
def test_c2_c9_disjoint_supports_gan_gradient_vanishes_wgan_critic_keeps_giving_one():
    thetas = [0.5, 1.0, 2.0]
    gan = [abs(generator_gradient(Minimax(), 300, t, penalty=False)[0]) for t in thetas]
    wgan = [generator_gradient(Wasserstein(), 300, t, penalty=True) for t in thetas]
    for t, g_gan, (g_w, _w_est) in zip(thetas, gan, wgan):
        assert g_gan < 0.05 * abs(g_w), (t, g_gan, g_w)  # JS-based gradient ~ 0 ...
        assert abs(g_w) > 0.5                              # ... the critic's is ~ 1 (|d W / d theta| = 1)
    estimates = [w for _, w in wgan]
    assert estimates[0] < estimates[1] < estimates[2]      # the W estimate grows with the distance
    for t, w in zip(thetas, estimates):
        assert abs(w - t) < 0.35 * t                       # and approaches W = |theta|


# --- C11 / C12 -----------------------------------------------------------------------------------

def test_c11_short_runs_clipping_piles_weights_at_c_penalty_keeps_them_spread(compose_cfg):
    out = {}
    for model in ("wgan", "wgan_gp"):
        cfg = compose_cfg(*fast(f"model={model}", "trainer.max_steps=10", "model.n_critic=3"), name=model)
        train(cfg)
        plots = Path(cfg.paths.output_dir) / "plots"
        assert (plots / "critic_weights.png").is_file() and (plots / "critic_grad_norms.png").is_file()
        ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
        w = torch.cat([v.flatten() for k, v in ckpt["state_dict"].items()
                       if k.startswith("discriminator.") and k.endswith("weight") and v.ndim > 1])
        out[model] = clipped_fraction(w, 0.01)
    assert out["wgan"] > 0.5       # most clipped weights sit at +-c
    assert out["wgan_gp"] < 0.05   # penalised weights do not


@pytest.mark.slow
def test_c12_gradient_norms_per_layer_explode_or_vanish_with_clipping_not_with_penalty():
    x, _ = Toy2DDistribution("swiss_roll").sample(256, torch.Generator().manual_seed(0))

    def clipped_critic(c):  # C11: clipping drives the weights to +-c
        torch.manual_seed(0)
        D = MLPDiscriminator((2,), hidden=512, depth=10)
        with torch.no_grad():
            for p in D.parameters():
                p.copy_(c * torch.sign(torch.randn_like(p)))
        return layer_input_grad_norms(D, x)

    big, small = clipped_critic(0.1), clipped_critic(0.001)
    assert big[1] > 10 * big[-1]       # c = 0.1: norms grow towards the input (explode)
    assert small[1] < 1e-6 * small[-1]  # c = 0.001: they vanish

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    D = MLPDiscriminator((2,), hidden=128, depth=8)
    opt = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.0, 0.9))
    dist = Toy2DDistribution("swiss_roll")
    for _ in range(100):
        real, fake = dist.sample(256, g)[0], torch.randn(256, 2, generator=g)
        loss = Wasserstein().d_loss(D(real), D(fake)) + 10 * gradient_penalty(D, real, fake)
        opt.zero_grad()
        loss.backward()
        opt.step()
    norms = layer_input_grad_norms(D, x)[1:]
    assert max(norms) < 10 * min(norms)  # stable across layers


def test_c15_batchnorm_in_a_penalised_critic_is_refused(compose_cfg):
    from genzoo.training import build_datamodule, build_model

    cfg = compose_cfg(*fast("model=wgan_gp", "net.discriminator.norm=batch"))
    with pytest.raises(Exception, match="net.discriminator.norm=layer"):
        build_model(cfg, build_datamodule(cfg))


def test_wgan_paper_schedule_and_run_length():
    from genzoo.models import WGAN
    from genzoo.nets import MLPGenerator

    m = WGAN(MLPGenerator, MLPDiscriminator, Wasserstein(), (2,), torch.optim.RMSprop, torch.optim.RMSprop,
             n_critic=5, paper_schedule=True)
    assert [m.critic_steps(g) for g in (0, 24, 25, 499, 500, 501)] == [100, 100, 5, 5, 100, 5]
    assert m.lightning_steps(26) == 25 * 101 + 6


def test_wgan_gp_penalty_variants_train_on_the_penalised_loss(compose_cfg):
    """One generator step with each penalty, in one process: the critic minimised -W + lambda * penalty."""
    for penalty in ("two_sided", "one_sided", "finite_difference"):
        model, m = fit_briefly(compose_cfg(*fast("model=wgan_gp", f"model.penalty={penalty}", "model.n_critic=2"),
                                           name=penalty))
        assert m["penalty"] >= 0 and math.isfinite(m["loss/g"]), penalty
        assert m["loss/d"] == pytest.approx(-m["wasserstein/estimate"] + model.penalty_weight * m["penalty"], rel=1e-5,
                                            abs=1e-6), penalty


def test_model_loss_mismatch_names_the_fitting_losses(compose_cfg):
    from genzoo.training import build_datamodule, build_model

    for model, loss, fitting in (("gan", "wasserstein", "minimax, nonsaturating, lsgan"), ("wgan", "minimax", "wasserstein")):
        cfg = compose_cfg(*fast(f"model={model}", f"loss={loss}"))
        with pytest.raises(Exception, match=f"Losses that fit model={model}: {fitting}"):
            build_model(cfg, build_datamodule(cfg))


# --- DDP: one critic step on 2 processes == one process with the global batch -------------------

def _critic_step(module, real, fake, eps):
    """One WGAN-GP critic step as GAN.training_step takes it, with the eps draws fixed."""
    import genzoo.models.wgan as wgan_mod

    orig = wgan_mod.gradient_penalty
    wgan_mod.gradient_penalty = lambda critic, r, f, kind, scaler=None: orig(critic, r, f, kind, eps=eps, scaler=scaler)
    try:
        return module.discriminator_loss(real, fake)["loss/d"]
    finally:
        wgan_mod.gradient_penalty = orig


def _make_model():
    from genzoo.models import WGANGP
    from genzoo.nets import DCGANGenerator

    torch.manual_seed(0)
    return WGANGP(DCGANGenerator, lambda shape: DCGANDiscriminator(shape, width=8, norm="layer"), Wasserstein(),
                  (1, 16, 16), torch.optim.Adam, torch.optim.Adam, z_dim=8)


def _global_batch():
    g = torch.Generator().manual_seed(1)
    return (torch.rand(8, 1, 16, 16, generator=g) * 2 - 1, torch.rand(8, 1, 16, 16, generator=g) * 2 - 1,
            torch.rand(8, generator=g))


class _Wrapped(nn.Module):
    """What Lightning's DDP wraps: the whole module (G and D); forward = the critic step."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, real, fake, eps):
        return _critic_step(self.module, real, fake, eps)


def _ddp_worker(rank, world, init_file, out_file):
    import torch.distributed as dist
    from pytorch_lightning.overrides.distributed import prepare_for_backward
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    model = _make_model()
    ddp = DDP(_Wrapped(model), find_unused_parameters=True)  # Lightning's ddp_find_unused_parameters_true
    opt = torch.optim.SGD(model.discriminator.parameters(), lr=0.1)
    real, fake, eps = _global_batch()
    sl = slice(rank * 4, rank * 4 + 4)
    loss = ddp(real[sl], fake[sl], eps[sl])
    prepare_for_backward(ddp, loss)  # as Lightning does before every manual_backward
    loss.backward()
    opt.step()
    if rank == 0:
        torch.save(model.discriminator.state_dict(), out_file)
    dist.destroy_process_group()


@pytest.mark.ddp
@pytest.mark.full
def test_wgan_gp_critic_step_under_ddp_matches_one_process_with_the_global_batch(tmp_path):
    import torch.multiprocessing as mp

    mp.start_processes(_ddp_worker, args=(2, str(tmp_path / "init"), str(tmp_path / "ddp.pt")), nprocs=2,
                       start_method="spawn")
    ddp_weights = torch.load(tmp_path / "ddp.pt")

    model = _make_model()
    opt = torch.optim.SGD(model.discriminator.parameters(), lr=0.1)
    before = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    real, fake, eps = _global_batch()
    _critic_step(model, real, fake, eps).backward()
    opt.step()
    moved = 0.0
    for k, v in model.discriminator.state_dict().items():
        assert torch.allclose(ddp_weights[k], v, atol=1e-5, rtol=0), k
        moved = max(moved, (v - before[k]).abs().max().item())
    assert moved > 1e-3  # the step really changed the weights (the comparison is not vacuous)


def make_celeba_tree(root: Path, n: int = 40) -> None:
    import numpy as np
    from PIL import Image

    (root / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        names.append(f"{i + 1:06d}.jpg")
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(root / "img_align_celeba" / names[-1])
    (root / "list_eval_partition.txt").write_text("".join(f"{m} 0\n" for m in names))


@pytest.mark.cli
@pytest.mark.ddp
@pytest.mark.full
def test_cli_design_card_command_wgan_gp_celeba_4_devices(tmp_path):
    make_celeba_tree(tmp_path / "data" / "celeba")
    r = run_cli("model=wgan_gp", "data=celeba", "trainer.devices=4", "trainer.accelerator=cpu",
                "debug=quick", "trainer.max_steps=2", "model.n_critic=2", "data.batch_size=4", "data.num_workers=0",
                "net.generator.width=8", "net.discriminator.width=8", "callbacks.rich_progress_bar=null",
                "trainer.enable_progress_bar=false", cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Trained 2 model steps (6 optimiser steps)" in r.stdout
    (run,) = sorted((tmp_path / "outputs" / "train" / "runs").glob("*"))
    assert (run / "samples" / "last.png").is_file() and (run / "plots" / "critic_grad_norms.png").is_file()


@pytest.mark.parametrize("size,channels", [(16, 1), (32, 3), (64, 3)])
def test_resnet_nets_shapes(size, channels):
    from genzoo.nets import ResNetDiscriminator, ResNetGenerator

    G, D = ResNetGenerator((channels, size, size), z_dim=16, width=8), ResNetDiscriminator((channels, size, size), width=8)
    x = G(torch.randn(3, 16))
    assert x.shape == (3, channels, size, size) and D(x).shape == (3,)
    with pytest.raises(Exception, match="power of two"):
        ResNetDiscriminator((1, 28, 28))


def test_cifar10_recipe_decays_lr_linearly_per_generator_step(compose_cfg):
    cfg = compose_cfg(*fast("experiment=wgan_gp_cifar10", "data=digits", "data.size=32", "trainer.max_steps=2",
                            "model.n_critic=2", "model.g_batch_size=16", "data.batch_size=8",
                            "model.scheduler_g.total_iters=4", "model.scheduler_d.total_iters=4"))
    train(cfg)
    ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    lrs = [s["param_groups"][0]["lr"] for s in ckpt["optimizer_states"]]
    assert lrs == pytest.approx([1e-4, 1e-4])  # 2e-4 * (1 - 2/4) after 2 of 4 generator steps
    assert ckpt["global_step"] == 2 * 3
