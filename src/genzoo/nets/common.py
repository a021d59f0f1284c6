"""Small building blocks shared by several architectures."""

from __future__ import annotations

import torch
import torch.nn as nn

from genzoo.errors import ConfigError

NORMS = ("batch", "layer", "none")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "gated")
OUTPUTS = ("tanh", "linear")


def gate(t: torch.Tensor) -> torch.Tensor:
    """The gated multiplicative unit of PixelCNN (van den Oord et al. 2016): tanh(a) * sigmoid(b), where a
    and b are the two halves of the features (dim 1), so 2c inputs give c outputs."""
    a, b = t.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class Gated(nn.Module):
    """``gate`` as a layer: the layer before it must emit ``act_width("gated")`` = 2 features per output."""

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return gate(t)


def act_width(kind: str) -> int:
    """How many features the layer before an activation emits per feature after it: 2 for ``gated``."""
    return 2 if kind == "gated" else 1


def activation(kind: str) -> nn.Module:
    """``relu``, ``leaky_relu`` (slope 0.2, the GAN critics'), ``tanh`` (the IWAE paper's nets) or ``gated``
    (tanh(a) * sigmoid(b) of the two halves of the features: WGAN-GP's gated multiplicative nets)."""
    if kind == "relu":
        return nn.ReLU()
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if kind == "tanh":
        return nn.Tanh()
    if kind == "gated":
        return Gated()
    raise ConfigError(f"Unknown activation {kind!r}; choose one of {', '.join(ACTIVATIONS)}.")


def output_layer(kind: str) -> nn.Module:
    """A generator's last nonlinearity: ``tanh`` (images in [-1, 1]) or ``linear`` (unbounded: the
    parameters of a VAE decoder's distribution, 2-D toy points)."""
    if kind == "tanh":
        return nn.Tanh()
    if kind == "linear":
        return nn.Identity()
    raise ConfigError(f"Unknown generator output {kind!r}; choose one of {', '.join(OUTPUTS)}.")


def norm2d(kind: str, channels: int, batch_norm: type[nn.Module] = nn.BatchNorm2d) -> nn.Module:
    """A normalisation layer for conv features (2-D maps; 1-D sequences with ``batch_norm=nn.BatchNorm1d``).

    ``layer`` normalises each sample over (C, H, W) or (C, L) (GroupNorm with one group), which keeps a
    per-sample gradient penalty valid; ``batch`` mixes samples and must not be used there.
    """
    if kind == "batch":
        return batch_norm(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"Unknown norm {kind!r}; choose one of {', '.join(NORMS)}.")


def norm1d(kind: str, features: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(features)
    if kind == "layer":
        return nn.LayerNorm(features)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"Unknown norm {kind!r}; choose one of {', '.join(NORMS)}.")


def weight_layers(net: nn.Module) -> int:
    """A net's depth as papers count it: its convolutions and linear maps on the main path (the 1x1
    convolutions of residual shortcuts, modules named ``skip``, are left out)."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)
    return sum(
        isinstance(m, kinds) and "skip" not in name.split(".")
        for name, m in net.named_modules()
    )
