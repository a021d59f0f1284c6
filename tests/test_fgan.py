"""f-GAN: every row of the divergence table against its definition (seed claims C7, C8), and
model=fgan training with each divergence."""

import math

import pytest
import torch

from conftest import fast, fit_briefly
from genzoo.losses import DIVERGENCES, FDivergence

NAMES = list(DIVERGENCES)


def f_prime(div, u):
    u = u.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(div.f(u).sum(), u)
    return g


@pytest.mark.parametrize("name", NAMES)
def test_f_is_convex_with_f_of_one_zero(name):
    div = DIVERGENCES[name]
    assert abs(div.f(torch.tensor(1.0, dtype=torch.float64)).item()) < 1e-12
    u = torch.logspace(-3, 3, 2001, dtype=torch.float64)
    fu = div.f(u)
    # convex on a non-uniform grid: slopes between neighbours never decrease
    slopes = (fu[1:] - fu[:-1]) / (u[1:] - u[:-1])
    assert (slopes[1:] - slopes[:-1] >= -1e-9 * slopes.abs().max()).all()


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_equals_sup_over_u_numerically(name):
    div = DIVERGENCES[name]
    u = torch.logspace(-6, 6, 400001, dtype=torch.float64)
    fu = div.f(u)
    for u0 in (0.05, 0.3, 1.0, 2.5, 8.0):  # t = f'(u0) puts the supremum at u0, inside the grid
        t = f_prime(div, torch.tensor(u0, dtype=torch.float64))
        assert div.domain[0] < t.item() < div.domain[1]
        sup = (u * t - fu).max()
        assert torch.allclose(div.conjugate(t), sup, rtol=1e-6, atol=1e-8), (u0, div.conjugate(t).item(), sup.item())


@pytest.mark.parametrize("name", NAMES)
def test_activation_maps_into_the_domain_and_stable_form_matches(name):
    div = DIVERGENCES[name]
    v = torch.linspace(-4, 4, 81, dtype=torch.float64)
    t = div.activation(v)
    assert (t > div.domain[0]).all() and (t < div.domain[1]).all()
    assert torch.allclose(div.conjugate_of_activation(v), div.conjugate(t), rtol=1e-9, atol=1e-9)
    # the closed forms stay finite far out (softplus/expm1 instead of log(1 + exp) / 1/(1 - t))
    assert torch.isfinite(div.conjugate_of_activation(torch.tensor([-60.0, 60.0], dtype=torch.float64))).all()


@pytest.mark.parametrize("name", NAMES)
def test_bound_at_the_optimal_critic_equals_the_divergence(name):
    """C8: D_f(P||Q) >= E_P[T] - E_Q[f*(T)], with equality at T* = f'(p/q)."""
    div = DIVERGENCES[name]
    p = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    q = torch.tensor([0.35, 0.3, 0.25, 0.1], dtype=torch.float64)
    d_f = (q * div.f(p / q)).sum()
    t_star = f_prime(div, p / q)
    bound = (p * t_star).sum() - (q * div.conjugate(t_star)).sum()
    assert torch.allclose(bound, d_f, rtol=1e-8), (bound.item(), d_f.item())
    assert d_f > 0
    g = torch.Generator().manual_seed(0)
    for _ in range(20):  # any other critic gives less
        t = t_star + 0.3 * torch.randn(4, generator=g, dtype=torch.float64)
        t = t.clamp(max=div.domain[1] - 1e-3) if math.isfinite(div.domain[1]) else t
        assert (p * t).sum() - (q * div.conjugate(t)).sum() <= d_f + 1e-12


def test_loss_is_the_negative_bound_and_generator_objectives():
    loss = FDivergence("gan_divergence")
    real, fake = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 3.0])
    # GAN row: the original value function E_P[log D] + E_Q[log(1 - D)], D = sigmoid(V), plus log 4
    expected = torch.log(torch.sigmoid(real)).mean() + torch.log(1 - torch.sigmoid(fake)).mean() + math.log(4)
    assert torch.allclose(loss.bound(real, fake), expected, atol=1e-6)
    assert torch.allclose(loss.d_loss(real, fake), -expected, atol=1e-6)
    assert torch.allclose(loss.g_loss(fake), -torch.nn.functional.softplus(fake).mean() + math.log(4), atol=1e-6)
    alt = FDivergence("gan_divergence", generator_objective="alternative")
    assert torch.allclose(alt.g_loss(fake), -torch.log(torch.sigmoid(fake)).mean(), atol=1e-6)
    with pytest.raises(ValueError, match="jensen_shannon"):
        FDivergence("chi")


def test_fgan_trains_with_every_divergence_and_logs_its_bound(compose_cfg):
    """One generator step of model=fgan with each row of the table, in one process: the logged
    divergence estimate is the variational bound whose negative the critic minimises."""
    for name in NAMES:
        _, m = fit_briefly(compose_cfg(*fast("model=fgan", f"loss={name}", "data=toy2d"), name=name))
        assert math.isfinite(m["loss/g"]), name
        assert m[f"divergence/{name}"] == pytest.approx(-m["loss/d"], rel=1e-6, abs=1e-7), name
