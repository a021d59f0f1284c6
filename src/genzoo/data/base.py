"""DataModule base, in-memory datasets and a sampler that makes a mid-epoch resume exact.

Batches are ``(x,)`` or ``(x, y)``: ``x`` float in [-1, 1] (NCHW images, or N x 2 toy points),
``y`` integer labels where the dataset has them.

Exact resume: Lightning 2.x saves and restores the state of any train loader that implements
``state_dict``/``load_state_dict`` (its ``_Stateful`` protocol) and restores it right before the
first ``iter()``. ``ResumableLoader`` reports the epoch and the number of batches the training
loop has *consumed* (counted in ``GenDataModule.on_before_batch_transfer``, so the batch
Lightning prefetches is not counted), and ``ResumableSampler`` skips exactly those on resume.
The permutation of epoch e is a pure function of (seed, e), so it is the same after a restart.

Data on the device (``data.on_device``, issue 35): an in-memory training set (``TensorImages``, the text
windows) is copied once to the run's device, compact (uint8 pixels, character indices), and
``ResidentLoader`` slices each batch there with one indexing op: no DataLoader, no worker, no per-step
host-to-device copy. It walks the same ``ResumableSampler`` order (the same batches, resume and DDP
sharding as the DataLoader), and dynamic binarisation draws from the same global RNG in
``on_after_batch_transfer``, so both paths give identical batches for a seed. ``auto`` (the default)
uses it whenever the training set is in memory, on CPU as on GPU (on CPU it is also faster: measured in
``tests/test_on_device.py``'s docstring); file-backed sets keep the DataLoader, its worker processes,
persistent workers and, on a GPU, pinned memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from genzoo.errors import ConfigError


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


class ResumableSampler(DistributedSampler):
    """Shuffled indices of one rank, reproducible per (seed, epoch), able to skip consumed batches.

    It subclasses ``DistributedSampler`` so that Lightning leaves it in place under DDP; it
    shards itself with the rank and world size it is given.
    """

    def __init__(self, dataset: Dataset, batch_size: int, num_replicas: int = 1, rank: int = 0,
                 seed: int = 0, shuffle: bool = True) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=True)
        self.batch_size = batch_size
        self.consumed = 0  # batches of the current epoch the training loop has taken
        self._skip = 0

    def epoch_order(self) -> torch.Tensor:
        """Every item of this epoch in order (all ranks): a function of (seed, epoch) only."""
        n = len(self.dataset)
        if self.shuffle:
            return torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + self.epoch))
        return torch.arange(n)

    def indices(self) -> torch.Tensor:
        """This rank's items of the epoch still to come, in order (the resume skip applies once)."""
        order = self.epoch_order()[: self.total_size][self.rank :: self.num_replicas]
        skip, self._skip = self._skip, 0
        self.consumed = skip
        return order[skip * self.batch_size :]

    def __iter__(self):
        return iter(self.indices().tolist())

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "consumed": self.consumed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self._skip = state["epoch"], state["consumed"]
        if self._skip * self.batch_size >= self.num_samples - self.batch_size + 1:  # epoch was finished
            self.epoch, self._skip = self.epoch + 1, 0


class ResumableLoader(DataLoader):
    """A DataLoader whose position Lightning checkpoints (see the module docstring)."""

    def state_dict(self) -> dict[str, int]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.load_state_dict(state)


class ResidentLoader:
    """The training batches of an in-memory set held on the device (``data.on_device``): the set is copied
    to ``device`` once (compact: uint8 images, character indices), and each batch is one indexing op
    there, in the order of ``sampler`` (a ``ResumableSampler``: the DataLoader's batches, resume and
    sharding). Lightning checkpoints its position like ``ResumableLoader``'s and calls the sampler's
    ``set_epoch`` through ``.sampler``."""

    def __init__(self, dataset: Dataset, sampler: ResumableSampler, batch_size: int,
                 device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.dataset = dataset.to_device(self.device)
        self.sampler = sampler
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size  # drop_last, as the DataLoader

    def __iter__(self):
        order = self.sampler.indices().to(self.device)
        b = self.batch_size
        for start in range(0, len(order) - b + 1, b):
            yield self.dataset.__getitems__(order[start : start + b])

    def state_dict(self) -> dict[str, int]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.load_state_dict(state)


def resident_capable(dataset: Dataset) -> bool:
    """Whether ``dataset`` is held in memory and can be copied to a device (``to_device``)."""
    return callable(getattr(dataset, "to_device", None))


ON_DEVICE = ("auto", True, False)


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
        batch = GenDataModule.take(self.dataset, list(idx))
        return (self.images(to_unit_range(batch[0]), idx), *batch[1:])


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


def kmeans(points: torch.Tensor, k: int, seed: int, iters: int = 50) -> torch.Tensor:
    """k-means (k-means++ seeding, then Lloyd's iterations) of ``points`` (M, C): the (k, C) centres.
    A cluster left empty is moved to the point farthest from its centre."""
    g = torch.Generator().manual_seed(seed)
    points = points.double()
    centres = points[torch.randint(len(points), (1,), generator=g)]
    d2 = torch.cdist(points, centres).squeeze(1) ** 2
    for _ in range(1, k):
        i = torch.multinomial(d2 / d2.sum(), 1, generator=g) if d2.sum() > 0 else torch.randint(len(points), (1,),
                                                                                                 generator=g)
        centres = torch.cat([centres, points[i]])
        d2 = torch.minimum(d2, (torch.cdist(points, points[i]).squeeze(1)) ** 2)
    for _ in range(iters):
        dist = torch.cdist(points, centres)
        assign = dist.argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, points)
        counts = torch.bincount(assign, minlength=k).to(points.dtype)
        new = sums / counts.clamp(min=1).unsqueeze(1)
        empty = counts == 0
        if empty.any():
            far = dist.gather(1, assign[:, None]).squeeze(1).topk(int(empty.sum())).indices
            new[empty] = points[far]
        if torch.equal(new, centres):
            break
        centres = new
    return centres.float()


PALETTE_PIXELS = 200_000  # pixels of the training images the palette is fitted on
BINARIZE = ("none", "static", "dynamic")
SPLITS = ("train", "test")
#: seed of the fixed held-out share of datasets without an official test split: the same images
#: are held out whatever the run's seed, so every run of a sweep is scored on the same ones
HELD_OUT_SEED = 20240607
#: the kinds of data (``GenDataModule.data_kind``; a family declares those it trains on: ``data_kinds``), as
#: a sentence names them
DATA_KINDS = {"images": "images", "points": "2-D points", "text": "text (one-hot characters)",
              "unpaired_images": "two unpaired image domains"}


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
        #: where the fitted palette is cached (set by genzoo.training.build_datamodule; None: not cached)
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
            ds = self._palettised(ds)
        return ds

    # --- palette quantisation ----------------------------------------------------------------------
    @property
    def palette(self) -> torch.Tensor | None:
        """The (palette_size, C) colours in [-1, 1] that every image is quantised to (``data.palette_size``):
        k-means of the training images' pixels, rounded to 8-bit values, cached; None without a palette."""
        if self.palette_size is None:
            return None
        if self._palette is None:
            self._palette = self._load_or_fit_palette()
        return self._palette

    def _load_or_fit_palette(self) -> torch.Tensor:
        import os
        from pathlib import Path

        from genzoo.metrics.extractors import dataset_key, read_cache

        if len(self.shape) != 3:
            raise ConfigError(f"data.palette_size quantises image colours; this data has shape {self.shape}. "
                              "Set data.palette_size=null.")
        path = Path(self.cache_dir) / f"palette-{dataset_key(self)}.pt" if self.cache_dir else None
        cached = read_cache(path) if path is not None else None
        if isinstance(cached, torch.Tensor) and cached.shape == (self.palette_size, self.shape[0]):
            return cached
        ds = self.build_dataset("train")
        g = torch.Generator().manual_seed(HELD_OUT_SEED)
        n_img = len(ds)
        per_image = math.prod(self.shape[1:])
        take = torch.randperm(n_img, generator=g)[: max(1, min(n_img, -(-PALETTE_PIXELS // per_image)))].tolist()
        x = to_unit_range(self.take(ds, take)[0]).float()
        pixels = x.movedim(1, -1).reshape(-1, self.shape[0])
        if len(torch.unique(pixels, dim=0)) < self.palette_size:
            raise ConfigError(f"data.palette_size={self.palette_size}: the training images have only "
                              f"{len(torch.unique(pixels, dim=0))} distinct colours; choose fewer.")
        centres = kmeans(pixels, self.palette_size, seed=HELD_OUT_SEED)
        palette = torch.round((centres.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1  # 8-bit colours: images stay uint8
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            torch.save(palette, tmp)
            os.replace(tmp, path)
        return palette

    def _palettised(self, ds: Dataset) -> Dataset:
        """``ds`` with its colours quantised to the palette: an in-memory set once (stored as uint8),
        others per batch."""
        if not isinstance(ds, TensorImages):
            return Palettised(ds, self.palette)
        x = quantise_to_palette(to_unit_range(ds.x.clone()).float(), self.palette)
        return TensorImages(torch.round((x + 1) * 127.5).to(torch.uint8), ds.y)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set = self._built("train")
            if len(self.train_set) < self.batch_size:
                f, n = getattr(self, "held_out_fraction", None), len(self.train_set)
                held = "" if f is None else (f" ({len(self.dataset('test'))} of its {n + len(self.dataset('test'))} are "
                                             f"held out for evaluation: data.held_out_fraction={f})")
                raise ConfigError(f"{type(self).__name__} has {n} training samples{held}, fewer than one batch "
                                  f"(data.batch_size={self.batch_size}). Lower data.batch_size"
                                  f"{' or data.held_out_fraction' if f is not None else ''}, or add data.")

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

    @staticmethod
    def take(ds: Dataset, idx: list[int]) -> tuple[torch.Tensor, ...]:
        if callable(getattr(ds, "__getitems__", None)):
            return ds.__getitems__(idx)
        items = [ds[i] for i in idx]
        batch = (torch.stack([it[0] for it in items]),)
        if len(items[0]) > 1:
            batch += (torch.as_tensor([int(it[1]) for it in items]),)
        return batch

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
