"""Colour statistics of images (seed claim C21: regressing RGB gives greyish samples)."""

from __future__ import annotations

import torch


def saturation(images: torch.Tensor) -> torch.Tensor:
    """Per-image mean HSV saturation, (max - min) / max over the RGB channels of each pixel (0 for grey
    and black pixels, 1 for pure hues), of RGB images in [-1, 1] (N, 3, H, W)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"saturation() takes RGB images (N, 3, H, W); got shape {tuple(images.shape)}")
    x = (images.double().clamp(-1, 1) + 1) / 2
    hi, lo = x.amax(1), x.amin(1)
    s = torch.where(hi > 0, (hi - lo) / hi.clamp(min=1e-12), torch.zeros_like(hi))
    return s.flatten(1).mean(1)
