"""Multi-layer perceptrons: the seed notes' generator, and the usual nets for 2-D toy data."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn

from genzoo.nets.common import norm1d


def _mlp(sizes: Sequence[int], act: nn.Module, norm: str) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), norm1d(norm, b), act]
    return layers


class MLPGenerator(nn.Module):
    """z -> hidden layers (ReLU) -> data. Images end in tanh ([-1, 1]); 2-D toy data is linear."""

    def __init__(self, shape: Sequence[int], z_dim: int = 64, hidden: int = 256, depth: int = 3,
                 norm: str = "none") -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.z_dim = z_dim
        out = math.prod(self.shape)
        layers = _mlp([z_dim] + [hidden] * depth, nn.ReLU(), norm)
        layers.append(nn.Linear(hidden, out))
        if len(self.shape) == 3:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.shape)


class MLPDiscriminator(nn.Module):
    """data -> hidden layers (LeakyReLU 0.2) -> one unbounded score per sample (a logit or critic value)."""

    def __init__(self, shape: Sequence[int], hidden: int = 256, depth: int = 3, norm: str = "none") -> None:
        super().__init__()
        layers = _mlp([math.prod(shape)] + [hidden] * depth, nn.LeakyReLU(0.2), norm)
        layers.append(nn.Linear(hidden, 1))
        self.net = nn.Sequential(nn.Flatten(), *layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)
