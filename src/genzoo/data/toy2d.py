"""2-D toy distributions whose densities are known exactly (used for GAN theory checks).

- ``ring``: 8 Gaussians on a circle of radius 2, std 0.02 (Metz et al., Unrolled GANs).
- ``grid``: 25 Gaussians on the 5x5 grid {-4,-2,0,2,4}^2, std 0.05 (VEEGAN, PacGAN).
- ``bimodal``: 2 Gaussians at (-1.5, 0) and (1.5, 0), std 0.3: the two-mode target of seed claim C5
  (reverse KL fits one mode, forward KL spreads over both).
- ``swiss_roll``: a spiral curve c(t) = t (cos t, sin t) / 5, t ~ U[1.5 pi, 4.5 pi], plus
  isotropic Gaussian noise of std 0.1; its density is a 1-D integral over t, evaluated by quadrature.
"""

from __future__ import annotations

import math

import torch

from genzoo.data.base import HELD_OUT_SEED, GenDataModule, TensorImages
from genzoo.errors import ConfigError

TOY2D = ("ring", "grid", "bimodal", "swiss_roll")
_SWISS_T = (1.5 * math.pi, 4.5 * math.pi)


class Toy2DDistribution:
    """Sampling and exact log-density of one toy distribution."""

    def __init__(self, name: str) -> None:
        if name not in TOY2D:
            raise ConfigError(f"Unknown toy2d distribution {name!r}; choose data.name from {', '.join(TOY2D)}.")
        self.name = name
        if name == "ring":
            angles = torch.arange(8) * (2 * math.pi / 8)
            self.centers = 2.0 * torch.stack([angles.cos(), angles.sin()], 1)
            self.std = 0.02
        elif name == "grid":
            g = torch.arange(-4.0, 5.0, 2.0)
            self.centers = torch.cartesian_prod(g, g)
            self.std = 0.05
        elif name == "bimodal":
            self.centers = torch.tensor([[-1.5, 0.0], [1.5, 0.0]])
            self.std = 0.3
        else:
            self.centers = None
            self.std = 0.1

    @staticmethod
    def _curve(t: torch.Tensor) -> torch.Tensor:
        return torch.stack([t * t.cos(), t * t.sin()], -1) / 5.0

    def sample(self, n: int, rng: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        noise = torch.randn(n, 2, generator=rng) * self.std
        if self.centers is not None:
            k = torch.randint(len(self.centers), (n,), generator=rng)
            return self.centers[k] + noise, k
        lo, hi = _SWISS_T
        t = lo + (hi - lo) * torch.rand(n, generator=rng)
        return self._curve(t) + noise, None

    def log_prob(self, x: torch.Tensor, quadrature: int = 4000) -> torch.Tensor:
        """Exact log p(x) for the mixtures; for the swiss roll a trapezoid rule over t (log-sum-exp)."""
        x = x.double()
        if self.centers is not None:
            c = self.centers.double()
            w = math.log(1.0 / len(c))
        else:
            lo, hi = _SWISS_T
            t = torch.linspace(lo, hi, quadrature, dtype=torch.float64)
            c = self._curve(t)
            wts = torch.full((quadrature,), (hi - lo) / (quadrature - 1), dtype=torch.float64)
            wts[0] = wts[-1] = wts[0] / 2
            w = (wts / (hi - lo)).log()
        out = []
        for chunk in x.split(max(1, 2**22 // len(c))):  # bounded memory: chunk x (N, 2) against c
            d2 = torch.cdist(chunk, c).pow(2)
            log_n = -d2 / (2 * self.std**2) - math.log(2 * math.pi * self.std**2)
            out.append(torch.logsumexp(log_n + w, dim=1))
        return torch.cat(out)


class Toy2D(GenDataModule):
    """``num_samples`` points drawn once (seeded) from a toy distribution, held in memory; the held-out
    split is as many fresh points from the same distribution."""

    data_kind = "points"

    def __init__(self, name: str = "ring", num_samples: int = 20000, **kw) -> None:
        super().__init__(**kw)
        self.distribution = Toy2DDistribution(name)
        self.num_samples = num_samples

    @property
    def shape(self) -> tuple[int, ...]:
        return (2,)

    @property
    def num_classes(self) -> int | None:
        c = self.distribution.centers
        return None if c is None else len(c)

    def build_dataset(self, split: str) -> TensorImages:
        # the held-out split is a fresh draw from the exact distribution (another seed)
        g = torch.Generator().manual_seed(self.seed if split == "train" else self.seed + HELD_OUT_SEED)
        x, y = self.distribution.sample(self.num_samples, rng=g)
        return TensorImages(x, y)
