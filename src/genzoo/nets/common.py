"""Small building blocks shared by several architectures."""

from __future__ import annotations

from genzoo.errors import ConfigError

import torch.nn as nn

NORMS = ("batch", "layer", "none")


def norm2d(kind: str, channels: int) -> nn.Module:
    """A normalisation layer for conv features.

    ``layer`` normalises each sample over (C, H, W) (GroupNorm with one group), which keeps a
    per-sample gradient penalty valid; ``batch`` mixes samples and must not be used there.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels)
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
