"""The checkpoint IO plugin genzoo gives Lightning: atomic writes, and every read with weights_only
(non-finite weights are refused earlier, in ``GenerativeModule.on_save_checkpoint``, on every rank)."""

from __future__ import annotations

from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from genzoo.checkpoints import atomic_write, load_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO, writing atomically (a temporary file, then a rename) and
    reading with ``weights_only=True``."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        with atomic_write(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        # onto the CPU unless asked otherwise (Lightning moves the state where it belongs): a GPU
        # checkpoint resumes on a CPU machine, and DDP ranks do not all load onto cuda:0
        return load_checkpoint(path, map_location=map_location or "cpu")
