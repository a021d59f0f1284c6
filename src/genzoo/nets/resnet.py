"""The residual nets of WGAN-GP's CIFAR-10 experiments (Gulrajani et al. 2017, appendix; their
``gan_cifar_resnet.py``): a generator of up-sampling residual blocks from a 4x4 seed, and a critic
of down-sampling residual blocks to 8x8, two more blocks, ReLU, global mean pool and a linear score.
The critic has no normalisation by default (the paper's), so it suits a gradient penalty.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from genzoo.errors import ConfigError
from genzoo.nets.common import norm2d, output_layer


def _check(shape: Sequence[int], smallest: int) -> tuple[int, int]:
    if len(shape) != 3 or shape[1] != shape[2] or shape[1] < smallest or 2 ** round(math.log2(shape[1])) != shape[1]:
        raise ConfigError(
            f"The ResNet nets need square images whose side is a power of two >= {smallest} (16, 32, 64, 128); "
            f"the data has shape {tuple(shape)}. Set data.size accordingly or use net=dcgan."
        )
    return shape[0], shape[1]


class _UpBlock(nn.Module):
    """Pre-activation residual block of the generator; ``up`` doubles the resolution (nearest)."""

    def __init__(self, c_in: int, c_out: int, norm: str, up: bool = True) -> None:
        super().__init__()
        self.up = up
        self.n1, self.c1 = norm2d(norm, c_in), nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.n2, self.c2 = norm2d(norm, c_out), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if (up or c_in != c_out) else nn.Identity()

    def _resample(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest") if self.up else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.c1(self._resample(F.relu(self.n1(x))))
        h = self.c2(F.relu(self.n2(h)))
        return h + self.skip(self._resample(x))


class _DownBlock(nn.Module):
    """Residual block for the critic; ``first`` is the paper's 'optimized' block (no pre-activation)."""

    def __init__(self, c_in: int, c_out: int, down: bool, first: bool, norm: str) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.n1, self.c1 = norm2d(norm, c_in) if not first else nn.Identity(), nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.n2, self.c2 = norm2d(norm, c_out), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if (down or c_in != c_out) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(self.n1(x))
        h = self.c2(F.relu(self.n2(self.c1(h))))
        s = x
        if self.down:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + self.skip(s)


def _check_depth(depth: int) -> int:
    if depth < 1:  # the type is checked with the config (genzoo.validation)
        raise ConfigError(
            f"net.*.depth must be a whole number >= 1 (residual blocks per resolution); got {depth!r}."
        )
    return depth


class ResNetGenerator(nn.Module):
    """Linear map to a 4x4 seed, then one up-sampling residual block per doubling, each followed by
    ``depth - 1`` residual blocks at the same resolution (``depth=1``: the paper's CIFAR-10 net; larger:
    WGAN-GP's deep-ResNet setting, seed claim C16; ``weight_layers`` counts the layers)."""

    def __init__(self, shape: Sequence[int], z_dim: int = 128, width: int = 128, norm: str = "batch",
                 output: str = "tanh", depth: int = 1) -> None:
        super().__init__()
        channels, size = _check(shape, 8)
        depth = _check_depth(depth)
        self.z_dim, self.width = z_dim, width
        self.fc = nn.Linear(z_dim, 4 * 4 * width)
        self.blocks = nn.Sequential(*[
            _UpBlock(width, width, norm, up=i == 0)
            for _ in range(int(math.log2(size // 4))) for i in range(depth)
        ])
        self.out = nn.Sequential(norm2d(norm, width), nn.ReLU(), nn.Conv2d(width, channels, 3, 1, 1),
                                 output_layer(output))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.blocks(self.fc(z).view(z.shape[0], self.width, 4, 4)))


class ResNetDiscriminator(nn.Module):
    """Down-sampling residual blocks to 8x8 (each followed by ``depth - 1`` blocks at its resolution),
    two more blocks, ReLU, global mean pool and a linear score."""

    def __init__(self, shape: Sequence[int], width: int = 128, norm: str = "none", depth: int = 1) -> None:
        super().__init__()
        channels, size = _check(shape, 16)
        depth = _check_depth(depth)
        n_down = int(math.log2(size // 8))
        blocks = []
        for stage in range(n_down):
            c_in = channels if stage == 0 else width
            blocks.append(_DownBlock(c_in, width, down=True, first=stage == 0, norm=norm))
            blocks += [_DownBlock(width, width, down=False, first=False, norm=norm) for _ in range(depth - 1)]
        blocks += [_DownBlock(width, width, down=False, first=False, norm=norm) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.feature_dim = width
        self.head = nn.Linear(width, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.blocks(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)
