"""The WGAN-GP paper's 1-D convolutional ResNets for character sequences (Gulrajani et al. 2017,
section 5.3 and its language-model code).

Data of shape (V, L): V characters, L positions. The generator maps z linearly to a (width, L) map,
runs ``blocks`` residual blocks (ReLU, conv k, ReLU, conv k; the block's output added at 0.3 to its
input, as the paper's code does) and a 1x1 conv to V logits per position, then a softmax over the
characters: its output is a distribution over characters at every position, not one-hot, and the
critic compares it with one-hot real text. The critic mirrors it: a 1x1 conv from V, the blocks, and
a linear score of the flattened map. The paper's width is 512 (``net.*.width``) and kernel 5; no
normalisation (``norm=layer`` normalises each sample over (C, L), which keeps a gradient penalty valid).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from genzoo.errors import ConfigError
from genzoo.nets.common import norm2d

#: the paper's code scales each residual branch by 0.3 before adding it
RESIDUAL_SCALE = 0.3


def _sequence_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 2:
        raise ConfigError(f"net=resnet1d takes sequences of shape (characters, length), such as data=text; the data "
                          f"has shape {tuple(shape)}. For images use net=dcgan (or resnet); for 2-D toy data net=mlp.")
    return int(shape[0]), int(shape[1])


def _check(width: int, blocks: int, kernel: int) -> None:
    if kernel < 1 or kernel % 2 == 0:
        raise ConfigError(f"net.*.kernel={kernel} must be odd (a centred 1-D convolution keeps the length), e.g. 5.")
    if blocks < 0:
        raise ConfigError(f"net.*.blocks={blocks} must be >= 0 (the paper's is 5).")


def norm_seq(kind: str, channels: int) -> nn.Module:
    """Normalisation of (N, C, L) features: ``batch``, ``layer`` (each sample over (C, L)) or ``none``."""
    return norm2d(kind, channels, nn.BatchNorm1d)


class ResBlock1d(nn.Module):
    def __init__(self, width: int, kernel: int, norm: str) -> None:
        super().__init__()
        pad = kernel // 2
        self.branch = nn.Sequential(
            norm_seq(norm, width), nn.ReLU(), nn.Conv1d(width, width, kernel, padding=pad),
            norm_seq(norm, width), nn.ReLU(), nn.Conv1d(width, width, kernel, padding=pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_SCALE * self.branch(x)


class ResNet1DGenerator(nn.Module):
    """z -> (N, V, L) per-position character distributions (softmax over V)."""

    def __init__(self, shape: Sequence[int], z_dim: int = 128, width: int = 128, blocks: int = 5, kernel: int = 5,
                 norm: str = "none") -> None:
        super().__init__()
        self.vocab, self.length = _sequence_shape(shape)
        _check(width, blocks, kernel)
        self.width = width
        self.z_dim = z_dim
        self.input = nn.Linear(z_dim, width * self.length)
        self.blocks = nn.Sequential(*[ResBlock1d(width, kernel, norm) for _ in range(blocks)])
        self.output = nn.Conv1d(width, self.vocab, 1)

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        h = self.input(z.view(z.shape[0], -1)).view(z.shape[0], self.width, self.length)
        return self.output(self.blocks(h))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(z).float(), dim=1)  # float32 under bf16 autocast: rows sum to 1


class ResNet1DDiscriminator(nn.Module):
    """(N, V, L) -> one score per sample: a linear ``head`` of the flattened ``features``."""

    def __init__(self, shape: Sequence[int], width: int = 128, blocks: int = 5, kernel: int = 5,
                 norm: str = "none") -> None:
        super().__init__()
        vocab, length = _sequence_shape(shape)
        _check(width, blocks, kernel)
        self.body = nn.Sequential(nn.Conv1d(vocab, width, 1), *[ResBlock1d(width, kernel, norm) for _ in range(blocks)],
                                  nn.Flatten())
        self.feature_dim = width * length
        self.head = nn.Linear(self.feature_dim, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)
