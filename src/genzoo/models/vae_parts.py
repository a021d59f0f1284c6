"""The VAE's parts around its objective (``genzoo.models.vae``): the Gaussian encoder, the per-example
generators of held-out codes, and the pictures made from a held-out batch.

What the encoder sees (``encoder_input``): ``unit``, the pixels on [0, 1] ((x + 1) / 2: a binary image
as {0, 1}), or ``signed``, the data's own [-1, 1]; ``auto`` (the default) derives it from the likelihood, so
the encoder reads the numbers its decoder's likelihood scores: ``unit`` for ``bernoulli`` (it reads pixels
as probabilities), ``signed`` for ``gaussian`` and ``logistic`` (densities and levels on [-1, 1]). Why it
matters (issue 32): with {-1, 1} every background pixel of a binary digit is a non-zero input, so an MLP
encoder's first layer gets some 650 constant inputs that act as copies of one bias, each of whose
weights Adam moves by about lr per step. The first layer then trains at roughly 8 times the learning
rate of the rest (its pre-activations move with the L1 norm of the input: 784 non-zero pixels against
about 100). Measured on mnist5k, 784-200-200-50 tanh, Adam 1e-3, 3,000 steps: held-out -ELBO 123.2 /
124.5 (seeds 0/1) with {0, 1}, 138.6 / 136.6 with {-1, 1}, 125.9 / 124.4 with {-1, 1} and the first
layer's lr / 8, 187.7 / 184.1 with {1, 2} (every input non-zero and no contrast).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from genzoo.errors import ConfigError
from genzoo.losses.likelihood import gaussian_kl
from genzoo.models.base import at_least_float32
from genzoo.sampling import interpolate_latents

#: seed of the codes drawn for held-out estimates, mixed with each example's content (the same draws every
#: time: curves compare like with like, and evaluation never touches the training RNG)
HELD_OUT_NOISE_SEED = 9173


def example_generators(x: torch.Tensor, y: torch.Tensor | None = None) -> list[torch.Generator]:
    """One generator per example, seeded by its content (and class): an example's held-out codes are the
    same whatever the batch size, its place in the batch or the number of processes, so the held-out
    average is exactly the same number every way it is computed."""
    flat = x.detach().float().cpu().flatten(1).numpy()
    labels = None if y is None else y.detach().cpu().tolist()
    gens = []
    for i, row in enumerate(flat):
        seed = zlib.crc32(row.tobytes(), HELD_OUT_NOISE_SEED) + (0 if labels is None else 1_000_003 * (labels[i] + 1))
        gens.append(torch.Generator(device=x.device).manual_seed(seed))
    return gens


class GaussianEncoder(nn.Module):
    """x -> (mu, logvar): a critic body's ``features`` and a linear head with 2 * z_dim outputs."""

    def __init__(self, body: Callable[..., nn.Module], shape: Sequence[int], z_dim: int) -> None:
        super().__init__()
        net = body(shape=tuple(shape))
        if not (callable(getattr(net, "features", None)) and hasattr(net, "feature_dim")):
            raise ConfigError(f"A VAE encoder needs a net with features(x) and feature_dim; {type(net).__name__} "
                              "has none. Use net=vae_dcgan or net=vae_mlp.")
        net.head = nn.Identity()  # the critic's score is not used (and unused parameters would stall DDP)
        self.body = net
        self.head = nn.Linear(net.feature_dim, 2 * z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = at_least_float32(self.head(self.body.features(x))).chunk(2, dim=1)
        return mu, logvar


class VAEPictures:
    """Mixed into ``VAE``: its pictures (``picture_names``), from the encoder's means of a held-out batch."""

    @torch.no_grad()
    def pictures(self, batch: tuple[torch.Tensor, ...], rng: torch.Generator) -> dict[str, tuple[torch.Tensor, int]]:
        x = batch[0]
        y = batch[1] if self.conditional else None
        mu, logvar = self.encode(x, y)
        out: dict[str, tuple[torch.Tensor, int]] = {}
        n = max(8, min(32, len(x)) // 8 * 8) if len(x) >= 8 else len(x)
        recon = self.mean_image(self.decode(mu[:n], None if y is None else y[:n]))
        out["reconstructions"] = (torch.cat([x[:n], recon]), min(8, n))  # inputs above, reconstructions below
        out["traversal"] = (self.traversal(mu, logvar, None if y is None else y[:1]), 8)
        pairs, steps = max(1, min(8, len(x) // 2)), 10
        codes = interpolate_latents(mu[:pairs].cpu(), mu[pairs:2 * pairs].cpu(), steps, mode="linear").to(mu.device)
        yi = None if y is None else y[:pairs].repeat_interleave(steps)  # CVAE: the first image's class, style moves
        out["interpolations"] = (self.mean_image(self.decode(codes, yi)), steps)
        if self.conditional:
            out["style_transfer"] = (self.style_transfer(x[:8], mu[:8]), self.num_classes + 1)
        return out

    def traversal(self, mu: torch.Tensor, logvar: torch.Tensor, y: torch.Tensor | None, side: int = 8) -> torch.Tensor:
        """The two latent dimensions with the largest mean KL on this batch (the ones the encoder uses
        most) swept over the N(0, 1) quantiles 5%..95%, all others fixed at the first example's code:
        row i varies the first dimension, column j the second (C24)."""
        dims = gaussian_kl(mu, logvar).mean(0).topk(min(2, mu.shape[1])).indices
        values = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, side)).to(mu.device)
        z = mu[:1].repeat(side * side, 1)
        z[:, dims[0]] = values.repeat_interleave(side)
        if len(dims) > 1:  # a one-dimensional latent: every column is the same sweep
            z[:, dims[1]] = values.repeat(side)
        return self.mean_image(self.decode(z, None if y is None else y.expand(side * side)))

    def style_transfer(self, x: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
        """C25: each input's code (its style) decoded as every class: one row per input, the input
        first, then classes 0..K-1."""
        k, n = self.num_classes, len(x)
        codes = mu.repeat_interleave(k, 0)
        classes = torch.arange(k, device=mu.device).repeat(n)
        redrawn = self.mean_image(self.decode(codes, classes)).view(n, k, *self.data_shape)
        return torch.cat([x.unsqueeze(1), redrawn], 1).flatten(0, 1)
