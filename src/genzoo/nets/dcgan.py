"""DCGAN-style conv nets (Radford et al. 2016) that adapt to the data's size and channels.

A square image of side ``s = b * 2**n`` (3 <= b <= 8, n >= 1) is generated from a b x b seed
by n 2x up-sampling layers (``upsample``: stride-2 transposed convolutions, the paper's, or a resize
then a 3x3 convolution); the discriminator mirrors it with stride-2 convolutions. 16, 28, 32 and 64 px (and
8, 12, 20, 24, 40, 48, 56, 96, 128 ...) all work; other sizes get an error naming the ones that do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn

from genzoo.config_rules import Key
from genzoo.errors import ConfigError
from genzoo.nets.common import act_width, activation, norm2d, output_layer


def dcgan_geometry(size: int) -> tuple[int, int]:
    """Return (base, n_up) with size == base * 2**n_up, the most up-sampling steps possible."""
    best = None
    n = 1
    while size % (2**n) == 0 and size // (2**n) >= 3:
        base = size // (2**n)
        if base <= 8:
            best = (base, n)
        n += 1
    if best is None:
        ok = sorted({b * 2**k for b in range(3, 9) for k in range(1, 6) if b * 2**k <= 128})
        raise ConfigError(
            f"The DCGAN nets cannot produce images of size {size}: the size must be b * 2**n with "
            f"3 <= b <= 8 and n >= 1. Sizes that work: {', '.join(map(str, ok))}. "
            f"Set data.size to one of them, or use net=mlp, which takes any size."
        )
    return best


def _check_image_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 3 or shape[1] != shape[2]:
        raise ConfigError(
            f"The DCGAN nets need square images (C, H, H); the data has shape {tuple(shape)}. "
            "For 2-D toy data use net=mlp, for text (data=text) net=resnet1d."
        )
    return shape[0], shape[1]


UPSAMPLES = ("transpose", "nearest", "bilinear")


def upsample_layer(kind: str, c_in: int, c_out: int, bias: bool) -> nn.Module:
    """One 2x up-sampling layer from c_in to c_out channels.

    ``transpose``: a 4x4 stride-2 transposed convolution (DCGAN's). Each output pixel's parity class
    (row and column even or odd) has its own 2x2 sub-kernel, so a flat input can come out as a pattern
    of period 2: the checkerboard of Odena et al. 2016 ("Deconvolution and Checkerboard Artifacts").
    ``nearest`` / ``bilinear``: resize by 2, then a 3x3 convolution (their fix): the same kernel at every
    output pixel, so a flat input stays flat (away from the border) and no lattice is built in.
    """
    if kind == "transpose":
        return nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)
    if kind in ("nearest", "bilinear"):
        align = False if kind == "bilinear" else None
        return nn.Sequential(nn.Upsample(scale_factor=2, mode=kind, align_corners=align),
                             nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias))
    raise ConfigError(f"Unknown net.generator.upsample={kind!r}; choose one of {', '.join(UPSAMPLES)} "
                      f"(transpose: DCGAN's strided transposed convolutions; nearest/bilinear: resize, then a 3x3 conv).")


class DCGANGenerator(nn.Module):
    """A linear map of z to a base x base seed, then ``n`` 2x up-sampling layers (``upsample``: see
    ``upsample_layer``), ``norm`` and ``act`` (ReLU, the paper's) after each but the last. ``norm=none``,
    ``act=tanh`` and ``act=gated`` (each layer emits twice the features, then tanh(a) * sigmoid(b) of its
    halves) are three of WGAN-GP's hard settings (seed claim C16)."""

    # checkpoints from before the key up-sampled by transposed convolutions (genzoo.resume)
    config_keys = (Key("upsample", resume="refused", absent="transpose"),)

    def __init__(self, shape: Sequence[int], z_dim: int = 64, width: int = 64, norm: str = "batch",
                 output: str = "tanh", act: str = "relu", upsample: str = "transpose") -> None:
        super().__init__()
        channels, size = _check_image_shape(shape)
        base, n_up = dcgan_geometry(size)
        self.shape = tuple(shape)
        self.z_dim = z_dim
        self.upsample = upsample
        widths = [width * 2 ** (n_up - 1 - i) for i in range(n_up)]  # e.g. 4w, 2w, w
        k = act_width(act)  # a gated unit takes 2 features for each it outputs
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, k * widths[0], base, 1, 0, bias=norm == "none"),
            norm2d(norm, k * widths[0]),
            activation(act),
        ]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [upsample_layer(upsample, a, k * b, bias=norm == "none"), norm2d(norm, k * b), activation(act)]
        layers += [upsample_layer(upsample, widths[-1], channels, bias=True), output_layer(output)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.z_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """Strided convs with ``act`` (LeakyReLU 0.2, the paper's); no norm on the first layer; one score per
    sample, a linear ``head`` of the flattened ``features``.

    ``norm=batch`` is the DCGAN paper's; use ``layer`` or ``none`` with a gradient penalty.
    """

    def __init__(self, shape: Sequence[int], width: int = 64, norm: str = "batch", act: str = "leaky_relu") -> None:
        super().__init__()
        channels, size = _check_image_shape(shape)
        base, n_down = dcgan_geometry(size)
        widths = [width * 2**i for i in range(n_down)]  # w, 2w, 4w
        k = act_width(act)
        layers: list[nn.Module] = [nn.Conv2d(channels, k * widths[0], 4, 2, 1), activation(act)]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(a, k * b, 4, 2, 1, bias=norm == "none"), norm2d(norm, k * b), activation(act)]
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.feature_dim = widths[-1] * base * base
        # The DCGAN paper's last layer, a base x base convolution to one channel, is this linear map
        # of the flattened features (same initialisation); kept separate for projection conditioning.
        self.head = nn.Linear(self.feature_dim, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """phi(x), the (N, feature_dim) features the score is a linear function of."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)
