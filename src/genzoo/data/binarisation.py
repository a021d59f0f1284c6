"""Binarised images ({-1, 1}): one fixed draw per image (``data.binarize=static``, and every held-out split), or a
fresh Bernoulli draw each time an image is used (``dynamic``, drawn by ``GenDataModule.on_after_batch_transfer``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import Dataset

from genzoo.data.tensors import MappedImages, TensorImages, to_unit_range

BINARIZE = ("none", "static", "dynamic")


class Binarized(MappedImages):
    """Images binarised to {-1, 1} with a fixed draw: pixel p of item i is 1 with probability
    (x + 1) / 2, from uniforms seeded by (``seed``, i), so every read of an item gives the same
    binary image, whatever the batch, worker or process (static binarisation)."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        super().__init__(dataset)
        self.seed = seed

    def images(self, x: torch.Tensor, idx: Sequence[int]) -> torch.Tensor:
        return binarize(x, fixed_uniforms(idx, x.shape[1:], self.seed))


def fixed_uniforms(idx: Sequence[int], shape: Sequence[int], seed: int) -> torch.Tensor:
    """One uniform per pixel of each item, a function of (``seed``, item index) only."""
    return torch.stack([torch.rand(tuple(shape), generator=torch.Generator().manual_seed(seed * 1_000_003 + int(i)))
                        for i in idx])


def binarized(dataset: Dataset, seed: int) -> Dataset:
    """``dataset`` with one fixed binarisation draw per item. An in-memory set is binarised once, here
    (stored as uint8 0/255: batches stay one indexing op); others are wrapped (``Binarized``)."""
    if not isinstance(dataset, TensorImages):
        return Binarized(dataset, seed)
    x = to_unit_range(dataset.x.clone()) if dataset.x.dtype == torch.uint8 else dataset.x
    u = fixed_uniforms(range(len(x)), x.shape[1:], seed)
    return TensorImages(((binarize(x, u) + 1) * 127.5).to(torch.uint8), dataset.y)


def binarize(x: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """{-1, 1} images: 1 where the uniform ``u`` < (x + 1) / 2 (a Bernoulli draw per pixel)."""
    return torch.where(u < (x + 1) / 2, 1.0, -1.0).to(x.dtype)
