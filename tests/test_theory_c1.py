"""Seed claim C1: for a fixed generator the optimal discriminator is p_data / (p_data + p_G), and
V(D*, G) = -2 log 2 + 2 JS(p_data || p_G). A discriminator trained with genzoo's loss and MLP
against a fixed, known p_G approaches D*, and its value approaches the JS computed by quadrature."""

import math

import pytest
import torch

from genzoo.losses import Minimax, gan_value
from genzoo.nets import MLPDiscriminator


def log_p_data(x):  # mixture of N((-1, 0), 0.5^2 I) and N((1, 0), 0.5^2 I)
    c = torch.tensor([[-1.0, 0.0], [1.0, 0.0]], dtype=x.dtype)
    d2 = torch.cdist(x, c).pow(2)
    return torch.logsumexp(-d2 / (2 * 0.25) - math.log(2 * math.pi * 0.25) + math.log(0.5), 1)


def log_p_g(x):  # the fixed "generator": N(0, I)
    return -x.pow(2).sum(1) / 2 - math.log(2 * math.pi)


def sample_data(n, g):
    k = torch.randint(2, (n,), generator=g) * 2 - 1
    return torch.stack([k.float(), torch.zeros(n)], 1) + 0.5 * torch.randn(n, 2, generator=g)


def js_by_quadrature():
    t = torch.linspace(-7, 7, 701, dtype=torch.float64)
    xy = torch.cartesian_prod(t, t)
    lp, lq = log_p_data(xy), log_p_g(xy)
    lm = torch.logaddexp(lp, lq) - math.log(2)
    da = (t[1] - t[0]) ** 2
    kl_pm = (lp.exp() * (lp - lm)).sum() * da
    kl_qm = (lq.exp() * (lq - lm)).sum() * da
    return float(0.5 * kl_pm + 0.5 * kl_qm)


@pytest.mark.slow
def test_c1_trained_discriminator_approaches_optimum_and_value_matches_js():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    D = MLPDiscriminator((2,), hidden=64, depth=2)
    opt = torch.optim.Adam(D.parameters(), lr=2e-3)
    loss = Minimax()
    for _step in range(1500):
        real, fake = sample_data(256, g), torch.randn(256, 2, generator=g)
        opt.zero_grad()
        loss.d_loss(D(real), D(fake)).backward()
        opt.step()

    real, fake = sample_data(20000, g), torch.randn(20000, 2, generator=g)
    with torch.no_grad():
        x = torch.cat([real, fake])
        d_trained = torch.sigmoid(D(x))
        d_star = torch.sigmoid(log_p_data(x) - log_p_g(x))  # p / (p + q)
        v_trained = gan_value(D(real), D(fake)).item()
    assert (d_trained - d_star).abs().mean() < 0.03

    js = js_by_quadrature()
    assert 0.05 < js < math.log(2)  # overlapping, non-trivial pair
    assert abs(v_trained - (-2 * math.log(2) + 2 * js)) < 0.02
