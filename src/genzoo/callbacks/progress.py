"""The progress bar: model step N of the run's total (the unit of ``trainer.max_steps`` and of every
chart's x-axis, whatever the family's optimiser steps per model step), the rate in model steps per
second, the time elapsed and left, and the newest logged losses. It counts the run, not Lightning's
epoch of batches: a resumed run starts at its checkpoint's step, a run bounded by ``trainer.max_time``
shows no total."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{task.speed:.2f} steps/s" if task.speed else "- steps/s", style="progress.data.speed")


class ProgressBar(pl.callbacks.ProgressBar):
    """``total_steps``: the run's model steps (``trainer.max_steps``; <= 0 or None: no total). The numbers
    shown are ``trainer.progress_bar_metrics``, which Lightning fills on logging steps: drawing the bar
    reads nothing from the device."""

    def __init__(self, total_steps: int | None = None, console: Console | None = None) -> None:
        super().__init__()
        self.total_steps = total_steps if total_steps is not None and total_steps > 0 else None
        self.console = console
        self._enabled = True
        self.progress: Progress | None = None
        self.task_id = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def describe(self, step: int) -> str:
        return f"model step {step}" + (f"/{self.total_steps}" if self.total_steps else "")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not (self._enabled and trainer.is_global_zero):
            return
        step = int(getattr(pl_module, "model_step", 0))
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), _Rate(), TimeElapsedColumn(),
                                 TextColumn("left"), TimeRemainingColumn(), TextColumn("{task.fields[metrics]}"),
                                 console=self.console, transient=False)
        self.progress.start()
        self.task_id = self.progress.add_task(self.describe(step), total=self.total_steps, completed=step, metrics="")

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.progress is None:
            return
        step = int(getattr(pl_module, "model_step", 0))
        task = self.progress.tasks[0]
        if step != task.completed:
            self.progress.update(self.task_id, completed=step, description=self.describe(step),
                                 metrics=self.metrics_text(trainer))

    @staticmethod
    def metrics_text(trainer: pl.Trainer) -> str:
        shown = {k: v for k, v in trainer.progress_bar_metrics.items() if k not in ("v_num", "model_step")}
        return "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self.on_train_end(trainer, pl_module)
