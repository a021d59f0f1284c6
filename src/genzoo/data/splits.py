"""The two splits of every dataset: ``train`` (what training sees) and ``test`` (held out: the official test
split where the dataset has one, else a fixed seeded share that training never sees)."""

from __future__ import annotations

import torch

from genzoo.errors import ConfigError

SPLITS = ("train", "test")
#: seed of the fixed held-out share of datasets without an official test split: the same images
#: are held out whatever the run's seed, so every run of a sweep is scored on the same ones
HELD_OUT_SEED = 20240607

def check_split(split: str, key: str = "metrics.split") -> str:
    if split not in SPLITS:
        raise ConfigError(f"{key}={split!r} is not a split; choose train (the training images) or test "
                          "(the held-out images: the official test split, or a fixed held-out share).")
    return split


def held_out_share(n: int, fraction: float, split: str) -> torch.Tensor:
    """Indices of ``split`` in a fixed partition of ``n`` items: a seeded ``fraction`` is held out."""
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"data.held_out_fraction must be in (0, 1), got {fraction}.")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(HELD_OUT_SEED))
    k = max(1, round(n * fraction))
    return order[:k].sort().values if split == "test" else order[k:].sort().values
