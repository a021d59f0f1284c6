"""Palettes (``data.palette_size``, seed claim C21): every image quantised to a few colours, the k-means
centres of the training images' pixels rounded to 8-bit values, fitted once and cached; a family that takes
the palette models palette indices."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from genzoo.data.splits import HELD_OUT_SEED
from genzoo.data.tensors import MappedImages, TensorImages, take, to_unit_range
from genzoo.errors import ConfigError

PALETTE_PIXELS = 200_000  # pixels of the training images the palette is fitted on


class Palettised(MappedImages):
    """Images with every pixel replaced by its nearest palette colour, per batch (file-backed sets)."""

    def __init__(self, dataset: Dataset, palette: torch.Tensor) -> None:
        super().__init__(dataset)
        self.palette = palette

    def images(self, x: torch.Tensor, idx: Sequence[int]) -> torch.Tensor:
        return quantise_to_palette(x, self.palette)


def nearest_colour(x: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, H, W) index of the nearest of the palette's (K, C) colours."""
    d = torch.cdist(x.float().movedim(1, -1).reshape(-1, x.shape[1]), palette.float(),
                    compute_mode="donot_use_mm_for_euclid_dist")  # exact: a palette colour maps to itself
    return d.argmin(1).view(x.shape[0], *x.shape[2:])


def quantise_to_palette(x: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
    return palette[nearest_colour(x, palette)].movedim(-1, 1).to(x.dtype)


def palettised(dataset: Dataset, palette: torch.Tensor) -> Dataset:
    """``dataset`` with its colours quantised to ``palette``: an in-memory set once (stored as uint8), others
    per batch (``Palettised``)."""
    if not isinstance(dataset, TensorImages):
        return Palettised(dataset, palette)
    x = quantise_to_palette(to_unit_range(dataset.x.clone()).float(), palette)
    return TensorImages(torch.round((x + 1) * 127.5).to(torch.uint8), dataset.y)


def kmeans(points: torch.Tensor, k: int, seed: int, iters: int = 300) -> torch.Tensor:
    """The (k, C) centres of scikit-learn's k-means of ``points`` (M, C): k-means++ seeding and Lloyd's
    iterations, one run, in double precision; the same centres for the same ``seed``."""
    from sklearn.cluster import KMeans

    fit = KMeans(n_clusters=k, init="k-means++", n_init=1, max_iter=iters, random_state=seed, algorithm="lloyd")
    return torch.from_numpy(fit.fit(points.double().numpy()).cluster_centers_).float()


def load_or_fit_palette(dm: Any) -> torch.Tensor:
    """The palette of data module ``dm`` (its ``palette_size`` colours, in [-1, 1]): read from its cache
    (``dm.cache_dir``), or fitted on up to ``PALETTE_PIXELS`` pixels of a fixed draw of its training images
    and cached."""
    from genzoo.metrics.extractors import dataset_key, read_cache

    if len(dm.shape) != 3:
        raise ConfigError(f"data.palette_size quantises image colours; this data has shape {dm.shape}. "
                          "Set data.palette_size=null.")
    path = Path(dm.cache_dir) / f"palette-{dataset_key(dm)}.pt" if dm.cache_dir else None
    cached = read_cache(path) if path is not None else None
    if isinstance(cached, torch.Tensor) and cached.shape == (dm.palette_size, dm.shape[0]):
        return cached
    ds = dm.build_dataset("train")
    g = torch.Generator().manual_seed(HELD_OUT_SEED)
    n_img = len(ds)
    per_image = math.prod(dm.shape[1:])
    chosen = torch.randperm(n_img, generator=g)[: max(1, min(n_img, -(-PALETTE_PIXELS // per_image)))].tolist()
    x = to_unit_range(take(ds, chosen)[0]).float()
    pixels = x.movedim(1, -1).reshape(-1, dm.shape[0])
    if len(torch.unique(pixels, dim=0)) < dm.palette_size:
        raise ConfigError(f"data.palette_size={dm.palette_size}: the training images have only "
                          f"{len(torch.unique(pixels, dim=0))} distinct colours; choose fewer.")
    centres = kmeans(pixels, dm.palette_size, seed=HELD_OUT_SEED)
    palette = torch.round((centres.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1  # 8-bit colours: images stay uint8
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(palette, tmp)
        os.replace(tmp, path)
    return palette
