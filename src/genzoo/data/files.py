"""Datasets of image files: CelebA (aligned, 64x64 centre crop) and any folder of images."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from genzoo.data.base import GenDataModule, TensorImages, held_out_share, to_unit_range
from genzoo.data.vision import missing_dataset, removed_on_failure
from genzoo.errors import ConfigError, DatasetNotFoundError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_image(path: str | Path, size: int, channels: int, crop: int | None = None) -> torch.Tensor:
    """Decode one file to a uint8 (C, size, size) tensor.

    Transparency is composited on white (sprites such as the seed notes' Pokemon have
    transparent backgrounds); then an optional centre crop of ``crop`` px, a resize of the
    shorter side to ``size`` and a centre crop to ``size`` x ``size``.
    """
    with Image.open(path) as im:
        if im.mode in ("RGBA", "LA", "P"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        im = im.convert("L" if channels == 1 else "RGB")
        w, h = im.size
        if crop is not None:
            c = min(crop, w, h)
            left, top = (w - c) // 2, (h - c) // 2
            im = im.crop((left, top, left + c, top + c))
            w = h = c
        scale = size / min(w, h)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), Image.BICUBIC)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        arr = np.asarray(im, dtype=np.uint8)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return torch.from_numpy(arr.copy())


def is_image_file(path: Path) -> bool:
    """An image by its name: a known extension, and not a hidden macOS resource fork (``._name``)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith("._")


def readable(paths: list[Path], where: str) -> list[Path]:
    """The paths whose image header PIL can read. Unreadable files are skipped with one warning that
    counts them and names the first few; none readable is an error."""
    good, bad = [], []
    for p in paths:
        try:
            with Image.open(p) as im:
                im.size  # noqa: B018 - the header is parsed on open; this touches it
            good.append(p)
        except (OSError, ValueError, Image.DecompressionBombError):
            bad.append(p)
    if bad:
        names = ", ".join(str(p) for p in bad[:3]) + (", ..." if len(bad) > 3 else "")
        warnings.warn(f"Skipped {len(bad)} unreadable image file(s) in {where}: {names}", stacklevel=2)
    if not good:
        raise DatasetNotFoundError(f"No readable images in {where} ({len(bad)} file(s) could not be read as images). "
                                   "Point data.root at a folder of image files.")
    return good


class ImageFiles(Dataset):
    """Decodes one file per sample (use DataLoader workers); for data too large for memory. A file
    that fails to decode (truncated after its header was read) is replaced by the next readable one,
    with a warning, rather than stopping a long run."""

    def __init__(self, paths: list[Path], size: int, channels: int, crop: int | None = None) -> None:
        self.paths, self.size, self.channels, self.crop = paths, size, channels, crop

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor]:
        for k in range(len(self.paths)):
            path = self.paths[(i + k) % len(self.paths)]
            try:
                return (to_unit_range(load_image(path, self.size, self.channels, self.crop)),)
            except (OSError, ValueError) as e:
                warnings.warn(f"Could not decode {path} ({e}); using the next image instead.", stacklevel=2)
        raise DatasetNotFoundError(f"None of the {len(self.paths)} images could be decoded.")


class _FileImages(GenDataModule):
    def __init__(self, root: str, size: int, channels: int = 3, crop: int | None = None,
                 in_memory: bool = False, **kw) -> None:
        super().__init__(**kw)
        self.root = os.path.expanduser(str(root))
        self.size, self.channels, self.crop, self.in_memory = size, channels, crop, in_memory
        self._readable: list[Path] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.channels, self.size, self.size)

    def image_paths(self, split: str) -> list[Path]:
        raise NotImplementedError

    def build_dataset(self, split: str) -> Dataset:
        paths = self.image_paths(split)
        if self.in_memory:  # decode once; training then indexes a uint8 tensor
            images, bad = [], []
            for p in paths:
                try:
                    images.append(load_image(p, self.size, self.channels, self.crop))
                except (OSError, ValueError):
                    bad.append(p)
            if bad:
                warnings.warn(f"Skipped {len(bad)} image file(s) that could not be decoded: "
                              f"{', '.join(map(str, bad[:3]))}{', ...' if len(bad) > 3 else ''}", stacklevel=2)
            if not images:
                raise DatasetNotFoundError(f"None of the {len(paths)} images under {self.root} could be decoded.")
            return TensorImages(torch.stack(images))
        return ImageFiles(paths, self.size, self.channels, self.crop)


class ImageFolder(_FileImages):
    """Every image under ``root`` (recursively), unlabelled, resized and centre-cropped to ``size``.
    Unreadable files and macOS resource forks (``._*``) are skipped; a fixed, seeded
    ``held_out_fraction`` of the images is the held-out (test) split."""

    def __init__(self, root: str, size: int, held_out_fraction: float = 0.1, **kw) -> None:
        super().__init__(root=root, size=size, **kw)
        self.held_out_fraction = held_out_fraction

    def image_paths(self, split: str) -> list[Path]:
        root = Path(self.root)
        if not root.is_dir():
            raise DatasetNotFoundError(
                f"data.root={self.root} is not a folder. Point data.root at a folder of images "
                f"({', '.join(IMAGE_EXTENSIONS)})."
            )
        paths = sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p))
        if not paths:
            raise DatasetNotFoundError(
                f"No images ({', '.join(IMAGE_EXTENSIONS)}) found under {root}. "
                "Point data.root at a folder that holds them (subfolders are searched)."
            )
        if self._readable is None:
            self._readable = readable(paths, str(root))
        paths = self._readable
        if len(paths) < 2:
            return paths  # one image: it is both the training and the held-out split
        return [paths[i] for i in held_out_share(len(paths), self.held_out_fraction, split).tolist()]


class CelebA(_FileImages):
    """Aligned CelebA in its official layout: ``img_align_celeba/`` and ``list_eval_partition.txt``.

    Both may sit in ``root`` or in ``root/celeba`` (where torchvision's downloader puts them).
    Images (178x218) are centre-cropped to ``crop`` px (108, as in the DCGAN reference code)
    and resized to ``size`` (64).
    """

    SPLITS = {"train": "0", "valid": "1", "test": "2", "all": None}
    PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"

    def __init__(self, root: str = "data", size: int = 64, crop: int | None = 108, split: str = "train",
                 download: bool = False, **kw) -> None:
        super().__init__(root=root, size=size, crop=crop, **kw)
        if split not in self.SPLITS:
            raise ConfigError(f"Unknown CelebA split {split!r}; choose data.split from {', '.join(self.SPLITS)}.")
        self.split, self.download = split, download

    def _base(self) -> Path | None:
        for base in (Path(self.root), Path(self.root) / "celeba"):
            if (base / "img_align_celeba").is_dir():
                return base
        return None

    def prepare_data(self) -> None:
        if self.download and self._base() is None:
            import torchvision.datasets as tvd

            try:
                with removed_on_failure(self.root, "celeba"):
                    tvd.CelebA(self.root, split="all", target_type=[], download=True)
            except Exception as e:  # the download failed: say so, and why (offline, Google Drive's quota, disk)
                reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
                raise DatasetNotFoundError(f"Downloading CelebA into {self.root} failed ({reason}); this machine may be "
                                           f"offline. Get it from {self.PAGE} and point data.root at it.") from None

    def image_paths(self, split: str) -> list[Path]:
        """Training: ``data.split``; held out: the official test partition."""
        if split == "test" and self.split != "train":
            raise ConfigError(f"CelebA's held-out split is its official test partition, which data.split="
                              f"{self.split} trains on. Train with data.split=train to score on held-out images.")
        base = self._base()
        if base is None:
            looked = f"{Path(self.root) / 'img_align_celeba'} and {Path(self.root) / 'celeba' / 'img_align_celeba'}"
            raise missing_dataset("CelebA", looked, self.PAGE)
        images = base / "img_align_celeba"
        wanted = self.SPLITS[self.split if split == "train" else "test"]
        if wanted is None:
            names = sorted(p.name for p in images.iterdir() if is_image_file(p))
        else:
            part = base / "list_eval_partition.txt"
            if not part.is_file():
                raise DatasetNotFoundError(
                    f"CelebA split {self.split!r} needs {part} (the official partition file); "
                    f"put it there or use data.split=all. Official page: {self.PAGE}"
                )
            names = [n for n, s in (line.split() for line in part.read_text().splitlines() if line.strip())
                     if s == wanted]
        paths = [images / n for n in names]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DatasetNotFoundError(
                f"{len(missing)} CelebA images listed in the partition file are missing from {images} "
                f"(first: {missing[0].name}). Re-extract img_align_celeba.zip there."
            )
        if not paths:
            raise DatasetNotFoundError(f"No CelebA images for split {self.split!r} in {images}.")
        return paths
