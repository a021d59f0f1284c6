"""Multi-layer perceptrons: the seed notes' generator, and the usual nets for 2-D toy data."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn

from genzoo.nets.common import act_width, activation, norm1d, output_layer


def _mlp(sizes: Sequence[int], act: str, norm: str) -> list[nn.Module]:
    layers: list[nn.Module] = []
    k = act_width(act)  # a gated unit takes 2 features for each it outputs
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, k * b), norm1d(norm, k * b), activation(act)]
    return layers


class MLPGenerator(nn.Module):
    """z -> hidden layers (ReLU) -> data. Images end in tanh ([-1, 1]); 2-D toy data is linear.

    ``depth=0`` is an affine map of the Gaussian noise: a Gaussian model (full covariance with
    z_dim >= the data's dimension), the limited model of the KL-direction experiment (seed C5).
    ``output=linear`` drops the final tanh of images (a VAE decoder outputs logits or means).
    """

    def __init__(self, shape: Sequence[int], z_dim: int = 64, hidden: int = 256, depth: int = 3,
                 norm: str = "none", act: str = "relu", output: str | None = None) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.z_dim = z_dim
        out = math.prod(self.shape)
        sizes = [z_dim] + [hidden] * depth
        layers = _mlp(sizes, act, norm)
        layers.append(nn.Linear(sizes[-1], out))
        layers.append(output_layer(output or ("tanh" if len(self.shape) == 3 else "linear")))
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    """data -> hidden layers (LeakyReLU 0.2) = ``features`` -> linear ``head``: one unbounded score
    per sample (a logit or critic value)."""

    def __init__(self, shape: Sequence[int], hidden: int = 256, depth: int = 3, norm: str = "none",
                 act: str = "leaky_relu") -> None:
        super().__init__()
        sizes = [math.prod(shape)] + [hidden] * depth
        self.body = nn.Sequential(nn.Flatten(), *_mlp(sizes, act, norm))
        self.feature_dim = sizes[-1]
        self.head = nn.Linear(sizes[-1], 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)
