"""The Wasserstein-1 objective of WGAN (Arjovsky et al. 2017) and WGAN-GP's penalties
(Gulrajani et al. 2017), on unbounded critic outputs: no sigmoid, no log (seed claim C9)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from genzoo.errors import ConfigError
from genzoo.losses.adversarial import AdversarialLoss

PENALTIES = ("two_sided", "one_sided", "finite_difference")


class Wasserstein(AdversarialLoss):
    """Critic minimises E[D(fake)] - E[D(real)] (= -W estimate); generator minimises -E[D(fake)]."""

    name = "wasserstein"

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return fake_out.mean() - real_out.mean()

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return -fake_out.mean()

    def estimates(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"wasserstein/estimate": real_out.mean() - fake_out.mean()}  # E D(real) - E D(fake)


def _per_sample(eps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return eps.view(-1, *([1] * (like.ndim - 1)))


def interpolate(real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x_hat = eps x_real + (1 - eps) x_fake, one eps per sample."""
    e = _per_sample(eps, real).to(real.dtype)
    return e * real + (1 - e) * fake


def critic_input_gradient_norm(critic: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                               scaler=None) -> torch.Tensor:
    """||grad_x D(x)|| per sample, over all non-batch dimensions, keeping the graph (create_graph).

    With a fp16 ``GradScaler`` the gradient is taken of the *scaled* output (so small gradients
    do not underflow in half precision) and unscaled afterwards: the PyTorch AMP recipe for
    gradient penalties.
    """
    x = x.detach().requires_grad_(True)
    out = critic(x).sum()
    if scaler is not None and scaler.is_enabled():
        (g,) = torch.autograd.grad(scaler.scale(out), x, create_graph=True)
        g = g / scaler.scale(torch.ones((), device=out.device))  # the scale as a device tensor (get_scale() reads it)
    else:
        (g,) = torch.autograd.grad(out, x, create_graph=True)
    return g.float().flatten(1).norm(2, dim=1)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     kind: str = "two_sided", eps: torch.Tensor | None = None,
                     eps2: torch.Tensor | None = None, scaler=None) -> torch.Tensor:
    """Mean penalty over the batch on points x_hat between real and fake samples (seed C13, C14).

    - ``two_sided`` (WGAN-GP's choice): (||grad D(x_hat)|| - 1)^2
    - ``one_sided``: max(0, ||grad D(x_hat)|| - 1)^2
    - ``finite_difference`` (no second derivatives): two points x1, x2 on the same real-fake line,
      (|D(x1) - D(x2)| / ||x1 - x2|| - 1)^2
    ``eps``/``eps2`` ~ U[0, 1] per sample are drawn when not given.
    """
    if kind not in PENALTIES:
        raise ConfigError(f"Unknown gradient penalty {kind!r}; choose model.penalty from {', '.join(PENALTIES)}.")
    n = real.shape[0]
    if eps is None:
        eps = torch.rand(n, device=real.device)
    real, fake = real.detach(), fake.detach()
    if kind == "finite_difference":
        if eps2 is None:
            eps2 = torch.rand(n, device=real.device)
        x1, x2 = interpolate(real, fake, eps), interpolate(real, fake, eps2)
        slope = (critic(x1) - critic(x2)).float().abs() / (x1 - x2).float().flatten(1).norm(2, dim=1).clamp_min(1e-12)
        return (slope - 1).pow(2).mean()
    norm = critic_input_gradient_norm(critic, interpolate(real, fake, eps), scaler)
    if kind == "one_sided":
        return torch.relu(norm - 1).pow(2).mean()
    return (norm - 1).pow(2).mean()
