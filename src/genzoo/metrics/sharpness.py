"""How sharp images are, as numbers (seed claim C26: VAE samples are blurrier than GAN samples).

Two measures, each computed for samples and for real images, and compared as a ratio
(samples / real: 1 is as sharp as the data, below 1 blurrier):

- ``gradient_magnitude``: the mean absolute difference between neighbouring pixels (horizontal plus
  vertical), in the [-1, 1] range. Blur averages neighbours, so it lowers this.
- ``high_frequency_energy``: the share of an image's spectral energy (its mean removed) at spatial
  frequencies above ``cutoff`` times the Nyquist frequency (radially). Blur is a low-pass filter.
"""

from __future__ import annotations

import torch


def gradient_magnitude(images: torch.Tensor) -> float:
    """Mean |x[i, j+1] - x[i, j]| + mean |x[i+1, j] - x[i, j]| over images, channels and pixels."""
    x = images.double()
    return float((x[..., :, 1:] - x[..., :, :-1]).abs().mean() + (x[..., 1:, :] - x[..., :-1, :]).abs().mean())


def high_frequency_energy(images: torch.Tensor, cutoff: float = 0.5) -> float:
    """Share of the spectral energy above ``cutoff`` x Nyquist, pooled over images and channels."""
    x = images.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2)
    fy = torch.fft.fftfreq(x.shape[-2], dtype=torch.double).abs() / 0.5  # 1 = Nyquist
    fx = torch.fft.fftfreq(x.shape[-1], dtype=torch.double).abs() / 0.5
    radius = torch.sqrt(fy.view(-1, 1) ** 2 + fx.view(1, -1) ** 2)
    total = power.sum()
    return float(power[..., radius > cutoff].sum() / total) if total > 0 else 0.0


def sharpness(samples: torch.Tensor, real: torch.Tensor, prefix: str = "sharpness") -> dict[str, float]:
    """Both measures for ``samples`` and ``real`` images, and their ratios (samples / real)."""
    out = {}
    for name, fn in (("gradient", gradient_magnitude), ("high_freq", high_frequency_energy)):
        s, r = fn(samples), fn(real)
        out.update({f"{prefix}/{name}": s, f"{prefix}/{name}_real": r, f"{prefix}/{name}_ratio": s / r if r else 0.0})
    return out
