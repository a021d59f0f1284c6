"""The progress bar: the epoch with no "/-2" when the run is bounded by steps, the model step (the unit
of trainer.max_steps and of every chart's x-axis), no logger version tag."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.callbacks import RichProgressBar


class ProgressBar(RichProgressBar):
    def _get_train_description(self, current_epoch: int) -> str:
        max_epochs = self.trainer.max_epochs
        text = f"Epoch {current_epoch}" + (f"/{max_epochs - 1}" if max_epochs is not None and max_epochs > 0 else "")
        if len(self.validation_description) > len(text):  # as Lightning's: no flicker against "Validation"
            text = f"{text:{len(self.validation_description)}}"
        return text

    def get_metrics(self, trainer, pl_module) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        step = getattr(pl_module, "model_step", None)
        return {"model step": step, **items} if step is not None else items
