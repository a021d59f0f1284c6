"""Adversarial losses against hand computations, and seed claims C2/C3."""

import math

import torch

from genzoo.losses import Minimax, NonSaturating, gan_value


def sig(v):
    return 1 / (1 + math.exp(-v))


def test_discriminator_loss_matches_hand_computation():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    # -( mean log D(real) + mean log(1 - D(fake)) )
    expected = -(
        (math.log(sig(2.0)) + math.log(sig(-1.0))) / 2 + (math.log(1 - sig(0.5)) + math.log(1 - sig(-3.0))) / 2
    )
    for loss in (Minimax(), NonSaturating()):
        assert math.isclose(loss.d_loss(real, fake).item(), expected, rel_tol=1e-6)
    assert math.isclose(gan_value(real, fake).item(), -expected, rel_tol=1e-6)


def test_generator_losses_match_hand_computation():
    fake = torch.tensor([0.5, -3.0, 4.0])
    minimax = sum(math.log(1 - sig(v)) for v in fake.tolist()) / 3
    nonsat = -sum(math.log(sig(v)) for v in fake.tolist()) / 3
    assert math.isclose(Minimax().g_loss(fake).item(), minimax, rel_tol=1e-6)
    assert math.isclose(NonSaturating().g_loss(fake).item(), nonsat, rel_tol=1e-6)


def test_losses_are_finite_for_extreme_logits():
    big = torch.tensor([-200.0, 200.0])
    for loss in (Minimax(), NonSaturating()):
        assert torch.isfinite(loss.d_loss(big, big)) and torch.isfinite(loss.g_loss(big))


def _grad_wrt_logit(loss, logit: float) -> float:
    x = torch.tensor([logit], requires_grad=True)
    loss.g_loss(x).backward()
    return x.grad.item()


def test_c2_c3_minimax_gradient_vanishes_where_d_rejects_fakes_nonsaturating_does_not():
    # D confidently rejects the fakes: D(G(z)) = sigmoid(-10) ~ 4.5e-5.
    mm, ns = _grad_wrt_logit(Minimax(), -10.0), _grad_wrt_logit(NonSaturating(), -10.0)
    assert abs(mm) < 1e-4                    # d/dl log(1 - sigmoid(l)) = -sigmoid(l) -> 0
    assert math.isclose(ns, -(1 - sig(-10.0)), rel_tol=1e-6)  # -> -1: still a full-size gradient
    # Both push the logit up (descent direction) and agree where D is undecided (l = 0) up to sign of scale.
    assert mm < 0 and ns < 0
    assert math.isclose(_grad_wrt_logit(Minimax(), 0.0), _grad_wrt_logit(NonSaturating(), 0.0), rel_tol=1e-6)
