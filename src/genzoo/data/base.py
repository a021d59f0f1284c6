"""The base of every genzoo DataModule (``GenDataModule``), and the names of the data package's parts:
in-memory datasets (``genzoo.data.tensors``), the resumable training loaders (``genzoo.data.loaders``),
binarisation (``genzoo.data.binarisation``), palettes (``genzoo.data.palettes``) and the splits
(``genzoo.data.splits``), all importable from here as before.

Batches are ``(x,)`` or ``(x, y)``: ``x`` float in [-1, 1] (NCHW images, or N x 2 toy points),
``y`` integer labels where the dataset has them.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from genzoo.data.binarisation import BINARIZE, Binarized, binarize, binarized, fixed_uniforms
from genzoo.data.loaders import ResidentLoader, ResumableLoader, ResumableSampler
from genzoo.data.palettes import (
    PALETTE_PIXELS,
    Palettised,
    kmeans,
    load_or_fit_palette,
    nearest_colour,
    palettised,
    quantise_to_palette,
)
from genzoo.data.splits import HELD_OUT_SEED, SPLITS, check_split, held_out_share
from genzoo.data.tensors import MappedImages, TensorImages, passthrough_collate, resident_capable, take, to_unit_range
from genzoo.errors import ConfigError

__all__ = ["BINARIZE", "DATA_KINDS", "HELD_OUT_SEED", "ON_DEVICE", "PALETTE_PIXELS", "SPLITS", "Binarized",
           "GenDataModule", "MappedImages", "Palettised", "ResidentLoader", "ResumableLoader", "ResumableSampler",
           "TensorImages", "binarize", "binarized", "check_split", "fixed_uniforms", "held_out_share", "kmeans",
           "nearest_colour", "passthrough_collate", "quantise_to_palette", "resident_capable", "take", "to_unit_range"]

ON_DEVICE = ("auto", True, False)
#: the kinds of data (``GenDataModule.data_kind``; a family declares those it trains on: ``data_kinds``), as
#: a sentence names them
DATA_KINDS = {"images": "images", "points": "2-D points", "text": "text (one-hot characters)",
              "unpaired_images": "two unpaired image domains"}



class GenDataModule(pl.LightningDataModule):
    """Base of every genzoo DataModule.

    Subclasses implement ``shape`` (known from the config, before any data is read),
    ``num_classes`` (None when unlabelled) and ``build_dataset(split)`` for ``split`` in
    ``train`` (what training sees) and ``test`` (held out: the official test split where the
    dataset has one, else a fixed seeded share that training never sees).
    """

    def __init__(self, batch_size: int = 64, num_workers: int = 0, seed: int = 0, binarize: str = "none",
                 palette_size: int | None = None, on_device: str | bool = "auto") -> None:
        super().__init__()
        if isinstance(on_device, str) and on_device.lower() in ("true", "false"):
            on_device = on_device.lower() == "true"
        if on_device not in ON_DEVICE or (not isinstance(on_device, bool) and on_device != "auto"):
            raise ConfigError(f"data.on_device={on_device!r}: choose auto (hold an in-memory training set on the run's "
                              "device when it has one), true (always; an error for file-backed data) or false "
                              "(a DataLoader).")
        self.on_device = on_device
        if binarize not in BINARIZE:
            raise ConfigError(f"data.binarize={binarize!r}: choose none, static (each image binarised once, with a "
                              "fixed draw) or dynamic (a fresh Bernoulli draw each time an image is used).")
        if palette_size is not None and (isinstance(palette_size, bool) or not isinstance(palette_size, int)
                                         or palette_size < 2):
            raise ConfigError(f"data.palette_size={palette_size!r} must be a whole number >= 2 (the notes' Pokemon "
                              "sprites use 167), or null for no palette.")
        if palette_size is not None and binarize != "none":
            raise ConfigError("data.palette_size and data.binarize both reduce the pixel values; use one of them.")
        self.binarize = binarize
        self.palette_size = palette_size
        #: where the fitted palette is cached (set by genzoo.building.build_datamodule; None: not cached)
        self.cache_dir: str | None = None
        self._palette: torch.Tensor | None = None
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.train_set: Dataset | None = None
        self.held_out_set: Dataset | None = None
        self._sampler: ResumableSampler | None = None

    #: the training loader's sampler (a subclass of ResumableSampler: its position is checkpointed)
    sampler_class: type[ResumableSampler] = ResumableSampler
    #: what a sample is (a key of ``DATA_KINDS``); a family trains on the kinds it declares (``data_kinds``)
    data_kind = "images"

    # --- to implement -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def num_classes(self) -> int | None:
        return None

    @property
    def modality(self) -> str:
        """What a sample is, which decides how samples are shown: ``image`` (C, H, W: grids), ``points``
        (2-D toy data: scatter plots) or ``text`` (one-hot characters: text files and tables)."""
        return "points" if len(self.shape) == 1 else "image"

    def build_dataset(self, split: str) -> Dataset:
        raise NotImplementedError

    # --- Lightning hooks --------------------------------------------------------------------------
    def _built(self, split: str) -> Dataset:
        """``build_dataset(split)``, binarised where asked: the held-out split always with one fixed draw
        (every evaluation scores the same binary images), the training split with a fixed draw
        (``static``) or a fresh one per use (``dynamic``, drawn in ``on_after_batch_transfer``)."""
        ds = self.build_dataset(split)
        if self.binarize != "none":
            if len(self.shape) != 3:
                raise ConfigError(f"data.binarize={self.binarize} binarises images; this data has shape {self.shape}. "
                                  "Set data.binarize=none.")
            if split == "test" or self.binarize == "static":
                ds = binarized(ds, HELD_OUT_SEED + (split == "test"))
        if self.palette_size is not None:
            ds = palettised(ds, self.palette)
        return ds

    # --- palette quantisation ----------------------------------------------------------------------
    @property
    def palette(self) -> torch.Tensor | None:
        """The (palette_size, C) colours in [-1, 1] that every image is quantised to (``data.palette_size``):
        k-means of the training images' pixels, rounded to 8-bit values, cached; None without a palette."""
        if self.palette_size is None:
            return None
        if self._palette is None:
            self._palette = load_or_fit_palette(self)
        return self._palette

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = self._built("train")
            if len(self.train_set) < self.batch_size:
                f, n = getattr(self, "held_out_fraction", None), len(self.train_set)
                k = 0 if f is None else len(self.dataset("test"))  # one item alone is both splits: nothing held out
                held = "" if f is None or n + k <= 2 else \
                    f" ({k} of its {n + k} are held out for evaluation: data.held_out_fraction={f})"
                raise ConfigError(f"{type(self).__name__} has {n} training samples{held}, fewer than one batch "
                                  f"(data.batch_size={self.batch_size}). Lower data.batch_size"
                                  f"{' or data.held_out_fraction' if held else ''}, or add data.")

    def dataset(self, split: str = "train") -> Dataset:
        """The training set, or the held-out set (built on first use)."""
        if check_split(split) == "train":
            self.setup("fit")
            return self.train_set
        if self.held_out_set is None:
            self.held_out_set = self._built("test")
            if len(self.held_out_set) == 0:
                raise ConfigError(f"{type(self).__name__} has no held-out images; use metrics.split=train.")
        return self.held_out_set
    def _device(self) -> torch.device:
        """The device the training step runs on (the CPU without a trainer)."""
        if self.trainer is None:
            return torch.device("cpu")
        return self.trainer.strategy.root_device

    def uses_resident_loader(self) -> bool:
        """Whether training batches come from ``ResidentLoader`` (``data.on_device``): ``auto`` and ``true``
        for an in-memory training set; ``true`` for a file-backed one is an error."""
        self.setup("fit")
        if self.on_device is False:
            return False
        capable = resident_capable(self.train_set)
        if self.on_device is True and not capable:
            raise ConfigError(f"data.on_device=true, but {type(self).__name__} reads its training images per batch "
                              "(file-backed, or a wrapped set): set data.on_device=auto or false, or load it into "
                              "memory (data.in_memory=true where the dataset has it).")
        return capable

    def train_dataloader(self) -> DataLoader | ResidentLoader:
        self.setup("fit")
        world, rank = 1, 0
        if self.trainer is not None:
            world, rank = self.trainer.world_size, self.trainer.global_rank
        self._sampler = self.sampler_class(self.train_set, self.batch_size, world, rank, seed=self.seed)
        if self.uses_resident_loader():
            return ResidentLoader(self.train_set, self._sampler, self.batch_size, self._device())
        batched = callable(getattr(self.train_set, "__getitems__", None))
        return ResumableLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=self._sampler,
            drop_last=True,
            num_workers=self.num_workers,
            collate_fn=passthrough_collate if batched else None,
            persistent_workers=self.num_workers > 0,
            pin_memory=self.num_workers > 0 and self._device().type == "cuda",
            # Creating an iterator draws a seed from the loader's generator; a private one keeps the
            # global RNG (model noise) untouched, so a resumed run draws the same noise as an uninterrupted one.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self._sampler is not None and self.trainer is not None and self.trainer.training:
            self._sampler.consumed += 1
        return batch

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        # Dynamic binarisation: a fresh draw each time an image is used, on the device, from the global
        # RNG right before the training step (saved and restored with checkpoints: resume stays exact).
        if self.binarize == "dynamic" and self.trainer is not None and self.trainer.training:
            x = batch[0]
            batch = (binarize(x, torch.rand_like(x)), *batch[1:])
        return batch

    #: items ``idx`` of a dataset as one batch
    take = staticmethod(take)

    def sample_real(self, n: int, with_labels: bool = False, split: str = "train"):
        """``n`` real examples in [-1, 1] of ``split`` (the first n of a fixed shuffle), for plots and
        metrics; ``with_labels``: ``(x, y)``."""
        ds = self.dataset(split)
        g = torch.Generator().manual_seed(self.seed)
        idx = torch.randperm(len(ds), generator=g)[:n].tolist()
        batch = self.take(ds, idx)
        if not with_labels:
            return batch[0]
        if len(batch) < 2:
            raise ConfigError(f"{type(self).__name__} has no labels; conditional models need labelled data.")
        return batch[0], batch[1]

    def held_out_batches(self, batch_size: int, world: int = 1, rank: int = 0, max_examples: int | None = None):
        """This rank's share of the held-out split (the first ``max_examples``, in order), in batches."""
        ds = self.dataset("test")
        n = len(ds) if max_examples is None else min(max_examples, len(ds))
        mine = list(range(rank, n, world))
        for i in range(0, len(mine), batch_size):
            yield self.take(ds, mine[i : i + batch_size])
