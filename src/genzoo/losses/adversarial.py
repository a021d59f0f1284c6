"""Adversarial losses of the original GAN, written on discriminator *logits*.

D(x) = sigmoid(l(x)). All logs of sigmoids go through softplus, which is exact and never
overflows:  -log sigmoid(l) = softplus(-l)   and   -log(1 - sigmoid(l)) = softplus(l).

A loss object carries two pure functions, ``d_loss(real_out, fake_out)`` (minimised by the
discriminator) and ``g_loss(fake_out)`` (minimised by the generator), plus its config ``name``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gan_value(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """V(D, G) = E_data[log D(x)] + E_z[log(1 - D(G(z)))] (Goodfellow et al. 2014, eq. 1)."""
    return -(F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean())


class AdversarialLoss:
    """Base class: a name and the two objectives. Subclasses override ``g_loss``."""

    name: str = "adversarial"

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        # The discriminator maximises V(D, G), i.e. minimises -V.
        return -gan_value(real_out, fake_out)

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def estimates(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> dict[str, torch.Tensor]:
        """What the critic's outputs estimate under this loss, for logging (none for the GAN losses)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Minimax(AdversarialLoss):
    """The original minimax game: G minimises E_z[log(1 - D(G(z)))].

    Saturates: where D confidently rejects fakes (l -> -inf) the gradient w.r.t. l is
    -sigmoid(l) -> 0 (seed claim C2/C3).
    """

    name = "minimax"

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return -F.softplus(fake_out).mean()  # = mean log(1 - sigmoid(l))


class NonSaturating(AdversarialLoss):
    """The non-saturating heuristic: G minimises -E_z[log D(G(z))] (seed claim C3).

    Same fixed point as minimax, but the gradient w.r.t. l is -(1 - sigmoid(l)) -> -1 where D
    rejects the fakes, so the generator keeps learning.
    """

    name = "nonsaturating"

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return F.softplus(-fake_out).mean()  # = -mean log sigmoid(l)


class LSGAN(AdversarialLoss):
    """Least-squares GAN (Mao et al. 2017, a = 0, b = c = 1), as CycleGAN's reference code trains it:
    the critic's output is a plain score (no sigmoid); D minimises E[(D(x) - 1)^2] + E[D(G(z))^2] and
    G minimises E[(D(G(z)) - 1)^2]. (CycleGAN halves the critic's sum, like every loss it uses.)"""

    name = "lsgan"

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return (real_out.float() - 1).pow(2).mean() + fake_out.float().pow(2).mean()

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return (fake_out.float() - 1).pow(2).mean()
