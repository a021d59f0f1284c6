"""CycleGAN's networks (Zhu et al. 2017; junyanz/pytorch-CycleGAN-and-pix2pix): an image-to-image
ResNet generator and the PatchGAN discriminator, with instance norm.

Both adapt their depth to the image size when it is left to them (``None``), so the same config
trains 16 px digits on a CPU and 256 px photographs on a GPU:

- generator: two stride-2 downsamplings (one below 16 px), then ``blocks`` residual blocks at the
  bottleneck: 9 at 256 px and above, 6 at 128 px (the reference's two choices), 3 below;
- discriminator: ``layers`` stride-2 convolutions (3 from 64 px: the 70x70 PatchGAN; 2 at 32 px; 1
  below), then a stride-1 4x4 convolution and the 4x4 score convolution: a grid of patch scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from genzoo.errors import ConfigError

CYCLE_NORMS = ("instance", "batch", "none")


def cycle_norm(kind: str, channels: int) -> nn.Module:
    """Instance norm (the reference's CycleGAN default: no affine parameters, no running statistics)."""
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"Unknown norm {kind!r} for the CycleGAN nets; choose one of {', '.join(CYCLE_NORMS)}.")


def _image_size(shape: Sequence[int], what: str) -> int:
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(f"The CycleGAN {what} takes square images (C, S, S); the data has shape {tuple(shape)}.")
    return int(shape[1])


class ResidualBlock(nn.Module):
    """x + [reflect-pad, conv3x3, norm, ReLU, reflect-pad, conv3x3, norm](x)."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        bias = norm == "instance"  # the reference uses biases only where the norm has no affine shift
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), cycle_norm(norm, channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias), cycle_norm(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CycleGenerator(nn.Module):
    """Image -> image of the same shape: 7x7 conv, ``downsamplings`` stride-2 convs, residual blocks,
    as many stride-2 transposed convs, 7x7 conv, tanh (the reference's ``resnet_9blocks``)."""

    def __init__(self, shape: Sequence[int], width: int = 64, blocks: int | None = None, norm: str = "instance",
                 downsamplings: int | None = None) -> None:
        super().__init__()
        size = _image_size(shape, "generator")
        c = int(shape[0])
        if blocks is None:
            blocks = 9 if size >= 256 else 6 if size >= 128 else 3
        if downsamplings is None:
            downsamplings = 2 if size >= 16 else 1
        if size % (2 ** downsamplings) or size // (2 ** downsamplings) < 2:
            raise ConfigError(f"net.generator.downsamplings={downsamplings} does not fit {size} px images (the size "
                              "must divide by 2^downsamplings and leave at least 2 px).")
        if blocks < 0 or width < 1:
            raise ConfigError(f"net.generator needs width >= 1 and blocks >= 0, got width={width}, blocks={blocks}.")
        self.blocks, self.downsamplings = blocks, downsamplings
        bias = norm == "instance"
        pad = min(3, size - 1)  # reflection padding must be smaller than the image
        layers: list[nn.Module] = [nn.ReflectionPad2d(pad), nn.Conv2d(c, width, 2 * pad + 1, bias=bias),
                                   cycle_norm(norm, width), nn.ReLU(True)]
        ch = width
        for _ in range(downsamplings):
            layers += [nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1, bias=bias), cycle_norm(norm, 2 * ch), nn.ReLU(True)]
            ch *= 2
        layers += [ResidualBlock(ch, norm) for _ in range(blocks)]
        for _ in range(downsamplings):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=bias),
                       cycle_norm(norm, ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(pad), nn.Conv2d(ch, c, 2 * pad + 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """The PatchGAN critic: a (N, 1, h, w) grid of scores, one per overlapping patch (70x70 at 256 px
    with ``layers=3``). Plain scores, no sigmoid: the loss decides how they are read."""

    def __init__(self, shape: Sequence[int], width: int = 64, layers: int | None = None, norm: str = "instance") -> None:
        super().__init__()
        size = _image_size(shape, "discriminator")
        if layers is None:
            layers = 3 if size >= 64 else 2 if size >= 32 else 1
        if layers < 1 or size // (2 ** layers) < 3:
            raise ConfigError(f"net.discriminator.layers={layers} does not fit {size} px images: each layer halves "
                              "the size, and at least 3 px must be left for the two 4x4 score convolutions. "
                              "Use fewer layers (or null: chosen by the image size).")
        self.layers = layers
        bias = norm == "instance"
        mods: list[nn.Module] = [nn.Conv2d(int(shape[0]), width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, layers):
            prev, mult = mult, min(2 ** n, 8)
            mods += [nn.Conv2d(width * prev, width * mult, 4, stride=2, padding=1, bias=bias),
                     cycle_norm(norm, width * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** layers, 8)
        mods += [nn.Conv2d(width * prev, width * mult, 4, stride=1, padding=1, bias=bias),
                 cycle_norm(norm, width * mult), nn.LeakyReLU(0.2, True),
                 nn.Conv2d(width * mult, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def receptive_field(net: PatchDiscriminator) -> int:
    """The side of the input patch each score sees (70 for the reference's 3-layer PatchGAN)."""
    rf, jump = 1, 1
    for m in net.net:
        if isinstance(m, nn.Conv2d):
            rf += (m.kernel_size[0] - 1) * jump
            jump *= m.stride[0]
    return rf
