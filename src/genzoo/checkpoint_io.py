"""The checkpoint IO plugin genzoo gives Lightning: atomic writes, never non-finite weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from genzoo.checkpoints import NonFiniteError, atomic_write, first_nonfinite, load_checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint IO, writing atomically and refusing non-finite weights."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        bad = first_nonfinite(checkpoint.get("state_dict", {}))
        if bad is not None:
            step = (checkpoint.get("genzoo") or {}).get("counters", {}).get("model_step")
            raise NonFiniteError(
                f"Training diverged: the weight {bad} is not finite at model step {step}, so {Path(path).name} was not "
                "written (the checkpoints already on disk are the last good ones). Lower the learning rate, or set "
                "model.nonfinite=skip_step to skip steps whose loss is not finite.")
        with atomic_write(path) as tmp:
            torch.save(checkpoint, tmp)

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        return load_checkpoint(path, map_location=map_location)
