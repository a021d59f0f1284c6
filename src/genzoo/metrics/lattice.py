"""A measure of the checkerboard ("dot lattice") that strided up-sampling leaves in generated images.

A generator built of n stride-2 up-sampling layers (transposed convolutions, Odena et al. 2016,
"Deconvolution and Checkerboard Artifacts") can paint a pattern that repeats every 2, 4, ..., 2**n
pixels. A pattern of period p in an H x W image lives entirely at the spatial frequencies (u, v) that
are multiples of (H / p, W / p): the 2-D DFT of anything periodic with period p is zero elsewhere.
So the share of an image's power (its mean removed) at those frequencies measures the lattice:

    lattice_share(x) = sum_{(u, v) in L, (u, v) != 0} |X(u, v)|^2 / sum_{(u, v) != 0} |X(u, v)|^2,

pooled over the images and channels of a batch (a ratio of sums, so faint, almost flat images do not
dominate). Natural images put little power there (their spectra fall off with frequency); a
checkerboard puts all of it there. ``lattice_score(fake, real)`` divides the generated images' share
by that of real images of the same data: about 1 means no more lattice than the data has.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def lattice_mask(height: int, width: int, periods: Sequence[int] = (2, 4)) -> torch.Tensor:
    """(H, W) bool mask of the DFT bins where a pattern of one of ``periods`` (that divides both
    sides) puts its power, DC excluded."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    for p in periods:
        if p < 2 or height % p or width % p:
            continue
        mask[:: height // p, :: width // p] = True
    mask[0, 0] = False
    return mask


def lattice_share(images: torch.Tensor, periods: Sequence[int] = (2, 4)) -> float:
    """Share of the (mean-removed) spectral power of ``images`` (N, C, H, W) at the frequencies of
    patterns with period in ``periods``; pooled over the batch. 0 for a constant batch."""
    if images.dim() != 4:
        raise ValueError(f"lattice_share takes (N, C, H, W) images, got shape {tuple(images.shape)}")
    x = images.detach().double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2).sum(dim=(0, 1))  # (H, W), DC is 0 after the mean removal
    total = power.sum()
    if total <= 0:
        return 0.0
    mask = lattice_mask(x.shape[-2], x.shape[-1], periods)
    return float(power[mask].sum() / total)


def lattice_score(fake: torch.Tensor, real: torch.Tensor, periods: Sequence[int] = (2, 4)) -> float:
    """``lattice_share`` of the generated images over that of real ones: ~1 is the data's own level,
    well above 1 a lattice that the generator adds."""
    return lattice_share(fake, periods) / max(lattice_share(real, periods), 1e-12)
