"""The training loaders, and a sampler that makes a mid-epoch resume exact.

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

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler


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
        #: this sampler's epoch minus Lightning's: 0, unless the run resumed from a checkpoint written at the
        #: end of a run (Lightning counts that epoch as ended, the sampler had not finished it)
        self._epoch_offset = 0
        self._restored = False

    def set_epoch(self, epoch: int) -> None:
        """Lightning's epoch, at the start of each: the first call after a restore keeps the restored epoch
        and notes how far Lightning's count is ahead, so later epochs follow on as in an uninterrupted run."""
        if self._restored:
            self._restored = False
            self._epoch_offset = self.epoch - epoch
        super().set_epoch(epoch + self._epoch_offset)

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
        self._restored = True


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
