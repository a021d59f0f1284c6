"""Real datasets through torchvision, loaded once into memory as uint8 tensors."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch

from genzoo.data.base import GenDataModule, TensorImages
from genzoo.data.embedded import resize_images
from genzoo.errors import DatasetNotFoundError


def missing_dataset(name: str, looked: str, page: str) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"{name} was not found: looked in {looked}. Set data.download=true to download it there, "
        f"point data.root at the folder that holds it, or get it from {page}."
    )


@contextmanager
def removed_on_failure(root: str, folder: str) -> Iterator[None]:
    """Whatever a download that fails adds is removed: new entries of ``root`` and of ``root/folder`` (the
    dataset's own folder; searched, the rest of ``root`` is not), then the folders up to ``root`` this command
    created, where empty. A refused command leaves the data folder as it was."""
    base, own = Path(root), Path(root) / folder
    created = [p for p in (base, *base.parents) if not p.exists()]  # deepest first
    before = {*(base.iterdir() if base.is_dir() else ()), *(own.rglob("*") if own.is_dir() else ())}
    try:
        yield
    except BaseException:
        added = {*(base.iterdir() if base.is_dir() else ()), *(own.rglob("*") if own.is_dir() else ())} - before
        for p in sorted(added, key=lambda p: len(p.parts), reverse=True):  # a folder after what it holds
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists() or p.is_symlink():
                p.unlink(missing_ok=True)
        for p in created:
            try:
                p.rmdir()
            except OSError:  # not empty (another command's files) or not there
                break
        raise


class _TorchvisionImages(GenDataModule):
    """Loads a torchvision dataset's ``.data``/``.targets`` into memory (no per-sample PIL). Training
    reads the official training split, the held-out (test) split the official test split."""

    tv_name: str
    page: str
    channels: int
    native: int

    def __init__(self, root: str = "data", download: bool = False, size: int | None = None, **kw) -> None:
        super().__init__(**kw)
        self.root = os.path.expanduser(str(root))
        self.download = download
        self.size = size or self.native

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels, self.size, self.size)

    @property
    def num_classes(self) -> int:
        return 10

    def _tv_dataset(self, split: str = "train"):
        import torchvision.datasets as tvd

        cls = getattr(tvd, self.tv_name)
        try:
            with removed_on_failure(self.root, getattr(cls, "base_folder", self.tv_name)) if self.download else \
                    nullcontext():
                return cls(self.root, train=split == "train", download=self.download)
        except Exception as e:
            if self.download:  # the download itself failed: say so, and why (offline, blocked, disk)
                reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                raise DatasetNotFoundError(
                    f"Downloading {self.tv_name} into {self.root} failed ({reason}); this machine may be offline. "
                    f"Download it on a machine with a connection (or from {self.page}) and point data.root at it.") from None
            if not isinstance(e, RuntimeError):  # torchvision: "Dataset not found or corrupted ..."
                raise
            looked = os.path.join(self.root, getattr(cls, "base_folder", os.path.join(self.tv_name, "raw")))
            raise missing_dataset(self.tv_name, looked, self.page) from e

    def prepare_data(self) -> None:
        if self.download:
            self._tv_dataset("train")
            self._tv_dataset("test")

    def build_dataset(self, split: str) -> TensorImages:
        ds = self._tv_dataset(split)
        x = torch.as_tensor(np.asarray(ds.data))
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2).contiguous()  # NHWC -> NCHW
        if self.size != self.native:
            x = resize_images(x.float().div(127.5).sub(1), self.size)
        return TensorImages(x, torch.as_tensor(np.asarray(ds.targets)).long())


class MNIST(_TorchvisionImages):
    tv_name, page, channels, native = "MNIST", "http://yann.lecun.com/exdb/mnist/", 1, 28


class FashionMNIST(_TorchvisionImages):
    tv_name, page, channels, native = "FashionMNIST", "https://github.com/zalandoresearch/fashion-mnist", 1, 28


class CIFAR10(_TorchvisionImages):
    tv_name, page, channels, native = "CIFAR10", "https://www.cs.toronto.edu/~kriz/cifar.html", 3, 32
