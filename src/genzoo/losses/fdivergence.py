"""f-GAN (Nowozin, Cseke, Tomioka, NeurIPS 2016): any f-divergence trains a GAN (seed claims C7, C8).

One table maps each divergence to its generator function f (convex, f(1) = 0), the output
activation g_f that keeps the critic's value T = g_f(V(x)) inside the domain of the Fenchel
conjugate, and the conjugate f*(t) = sup_u {u t - f(u)}. The critic maximises the variational
lower bound

    D_f(P || Q) >= E_P[T(x)] - E_Q[f*(T(x))],

and the generator minimises it (the saddle point), or maximises E_Q[T(x)] (the paper's
alternative, ``generator_objective=alternative``). For numerical stability the table also holds
the composition f*(g_f(v)) in closed form (softplus instead of log(1 + exp)). Adding a divergence
is adding a row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from genzoo.errors import ConfigError
from genzoo.losses.adversarial import AdversarialLoss

LOG2 = math.log(2.0)


def lambert_w(x: torch.Tensor, iters: int = 30) -> torch.Tensor:
    """Principal branch W(x) for x > 0 (w e^w = x), by Newton's method on w + log w = log x.

    The iterations run without gradient; one last Newton step with gradient gives the exact
    implicit derivative dW/dx = W / (x (1 + W)) at the fixed point.
    """
    s = torch.log(x)
    with torch.no_grad():
        w = F.softplus(s)  # positive start, ~ s for large s
        for _ in range(iters):
            w = (w - (w + torch.log(w) - s) / (1 + 1 / w)).clamp_min(1e-30)
    return w - (w + torch.log(w) - s) / (1 + 1 / w)


def _jeffrey_conjugate(t: torch.Tensor) -> torch.Tensor:
    w = lambert_w(torch.exp(1 - t))
    return w + 1 / w + t - 2


@dataclass(frozen=True)
class Divergence:
    f: Callable[[torch.Tensor], torch.Tensor]  # generator function, u > 0
    activation: Callable[[torch.Tensor], torch.Tensor]  # g_f: critic output v -> T in dom f*
    conjugate: Callable[[torch.Tensor], torch.Tensor]  # f*(t) on its domain
    conjugate_of_activation: Callable[[torch.Tensor], torch.Tensor]  # f*(g_f(v)), stable closed form
    domain: tuple[float, float]  # open interval of t where f* is finite


# Nowozin et al. 2016, Tables 1 and 2.
DIVERGENCES: dict[str, Divergence] = {
    "kl": Divergence(
        f=lambda u: u * torch.log(u),
        activation=lambda v: v,
        conjugate=lambda t: torch.exp(t - 1),
        conjugate_of_activation=lambda v: torch.exp(v - 1),
        domain=(-math.inf, math.inf),
    ),
    "reverse_kl": Divergence(
        f=lambda u: -torch.log(u),
        activation=lambda v: -torch.exp(-v),
        conjugate=lambda t: -1 - torch.log(-t),
        conjugate_of_activation=lambda v: v - 1,
        domain=(-math.inf, 0.0),
    ),
    "pearson": Divergence(
        f=lambda u: (u - 1) ** 2,
        activation=lambda v: v,
        conjugate=lambda t: t**2 / 4 + t,
        conjugate_of_activation=lambda v: v**2 / 4 + v,
        domain=(-math.inf, math.inf),
    ),
    "neyman": Divergence(
        f=lambda u: (1 - u) ** 2 / u,
        activation=lambda v: 1 - torch.exp(-v),
        conjugate=lambda t: 2 - 2 * torch.sqrt(1 - t),
        conjugate_of_activation=lambda v: 2 - 2 * torch.exp(-v / 2),
        domain=(-math.inf, 1.0),
    ),
    "squared_hellinger": Divergence(
        f=lambda u: (torch.sqrt(u) - 1) ** 2,
        activation=lambda v: 1 - torch.exp(-v),
        conjugate=lambda t: t / (1 - t),
        conjugate_of_activation=lambda v: torch.expm1(v),
        domain=(-math.inf, 1.0),
    ),
    "jeffrey": Divergence(
        f=lambda u: (u - 1) * torch.log(u),
        activation=lambda v: v,
        conjugate=_jeffrey_conjugate,
        conjugate_of_activation=_jeffrey_conjugate,
        domain=(-math.inf, math.inf),
    ),
    "jensen_shannon": Divergence(
        f=lambda u: -(u + 1) * torch.log((1 + u) / 2) + u * torch.log(u),
        activation=lambda v: LOG2 - F.softplus(-v),
        conjugate=lambda t: -torch.log(2 - torch.exp(t)),
        conjugate_of_activation=lambda v: F.softplus(v) - LOG2,
        domain=(-math.inf, LOG2),
    ),
    # The paper's GAN row, f(u) = u log u - (u + 1) log(u + 1), has f(1) = -log 4 (its value is
    # 2 JS - log 4). Shifted by log 4 to be a proper f-divergence (f(1) = 0, D = 2 JS); the conjugate
    # shifts by -log 4 and every gradient is the paper's.
    "gan_divergence": Divergence(
        f=lambda u: u * torch.log(u) - (u + 1) * torch.log(u + 1) + 2 * LOG2,
        activation=lambda v: -F.softplus(-v),
        conjugate=lambda t: -torch.log(1 - torch.exp(t)) - 2 * LOG2,
        conjugate_of_activation=lambda v: F.softplus(v) - 2 * LOG2,
        domain=(-math.inf, 0.0),
    ),
}

GENERATOR_OBJECTIVES = ("saddle", "alternative")


class FDivergence(AdversarialLoss):
    """The f-GAN objective for one divergence of ``DIVERGENCES``; the critic outputs unbounded V."""

    def __init__(self, divergence: str, generator_objective: str = "saddle") -> None:
        if divergence not in DIVERGENCES:
            raise ConfigError(f"Unknown f-divergence {divergence!r}; choose one of {', '.join(DIVERGENCES)}.")
        if generator_objective not in GENERATOR_OBJECTIVES:
            raise ConfigError(f"Unknown generator_objective {generator_objective!r}; choose "
                              f"{' or '.join(GENERATOR_OBJECTIVES)}.")
        self.name, self.div, self.generator_objective = divergence, DIVERGENCES[divergence], generator_objective

    def bound(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        """E_P[g_f(V)] - E_Q[f*(g_f(V))]: the variational estimate of D_f(P || Q)."""
        return self.div.activation(real_out).mean() - self.div.conjugate_of_activation(fake_out).mean()

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return -self.bound(real_out, fake_out)

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        if self.generator_objective == "alternative":
            return -self.div.activation(fake_out).mean()
        return -self.div.conjugate_of_activation(fake_out).mean()

    def estimates(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> dict[str, torch.Tensor]:
        return {f"divergence/{self.name}": self.bound(real_out, fake_out)}

    def __repr__(self) -> str:
        return f"FDivergence({self.name!r}, {self.generator_objective!r})"
