"""In-memory datasets and what every genzoo dataset shares: batches are ``(x,)`` or ``(x, y)``, ``x`` float in
[-1, 1] (NCHW images, N x 2 toy points, one-hot text), ``y`` integer labels where the dataset has them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1]; float tensors pass through."""
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x


def passthrough_collate(batch: Any) -> Any:
    """Collate for datasets whose ``__getitems__`` already returns a whole batch."""
    return batch


class TensorImages(Dataset):
    """A dataset held in memory as tensors; a batch is one indexing op, no per-sample Python.

    ``x`` is stored compactly (uint8 for images) and converted to [-1, 1] per batch.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        self.x = x
        self.y = y

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return self.__getitems__([i])

    def __getitems__(self, idx: Sequence[int] | torch.Tensor) -> tuple[torch.Tensor, ...]:
        idx_t = idx if isinstance(idx, torch.Tensor) else torch.as_tensor(idx, dtype=torch.long)
        x = to_unit_range(self.x[idx_t])
        return (x,) if self.y is None else (x, self.y[idx_t])

    def to_device(self, device: torch.device | str) -> TensorImages:
        """This set with its tensors (still compact: uint8 images) on ``device`` (``ResidentLoader``)."""
        return TensorImages(self.x.to(device), None if self.y is None else self.y.to(device))


def resident_capable(dataset: Dataset) -> bool:
    """Whether ``dataset`` is held in memory and can be copied to a device (``to_device``)."""
    return callable(getattr(dataset, "to_device", None))


def take(ds: Dataset, idx: list[int]) -> tuple[torch.Tensor, ...]:
    """Items ``idx`` of ``ds`` as one batch (one ``__getitems__`` call where the dataset has it)."""
    if callable(getattr(ds, "__getitems__", None)):
        return ds.__getitems__(idx)
    items = [ds[i] for i in idx]
    batch = (torch.stack([it[0] for it in items]),)
    if len(items[0]) > 1:
        batch += (torch.as_tensor([int(it[1]) for it in items]),)
    return batch


class MappedImages(Dataset):
    """A dataset whose images go through ``images(x, idx)`` as each batch is read (labels untouched):
    the wrapper for file-backed sets; an in-memory set is transformed once instead."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def images(self, x: torch.Tensor, idx: Sequence[int]) -> torch.Tensor:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[0] for t in self.__getitems__([i]))

    def __getitems__(self, idx: Sequence[int]) -> tuple[torch.Tensor, ...]:
        batch = take(self.dataset, list(idx))
        return (self.images(to_unit_range(batch[0]), idx), *batch[1:])
