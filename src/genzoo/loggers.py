"""A CSV logger that never loses rows already written.

Lightning's CSV writer deletes an existing ``metrics.csv`` when it starts, and rewrites or appends
to it in place. genzoo's keeps the rows a resumed run had already written (dropping only those past
the step it resumes from, which the run writes again), and writes the whole file atomically
(a temporary file, then a rename) on each save, so a kill or a full disk never leaves half a file.
"""

from __future__ import annotations

import csv
import math
from typing import Any

from pytorch_lightning.loggers import CSVLogger as _LightningCSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from genzoo.checkpoints import atomic_write


class KeepingExperimentWriter(ExperimentWriter):
    def _check_log_dir_exists(self) -> None:  # Lightning's deletes metrics.csv here; keep it
        self.rows: list[dict[str, Any]] = []
        try:
            with open(self.metrics_file_path, newline="") as f:
                reader = csv.DictReader(f)
                self.rows = list(reader)
                self.metrics_keys = list(reader.fieldnames or [])
        except FileNotFoundError:
            pass

    def log_metrics(self, metrics_dict: dict[str, float], step: int | None = None) -> None:
        """Record a row, unless it repeats the previous one (Lightning flushes the last logged values
        once more when a run is stopped mid-step; a stale copy is not a new measurement)."""
        before = len(self.metrics)
        super().log_metrics(metrics_dict, step)
        new = {k: v for k, v in self.metrics[-1].items() if k != "step"}
        last = self.metrics[before - 1] if before else (self.rows[-1] if self.rows else None)
        if last is not None and {k: v for k, v in last.items() if k != "step"} == new:
            self.metrics.pop()

    def drop_after(self, model_step: int, logger_step: int | None = None) -> None:
        """Forget rows logged after a checkpoint of ``model_step`` (saved at ``logger_step``): a resumed
        run logs those steps again. Rows of that model step logged after the checkpoint (critic-only
        batches of an adversarial model step) go too."""
        def keep(row: dict[str, Any]) -> bool:
            value = row.get("model_step")
            if value in (None, "") or not math.isfinite(float(value)):
                return True
            if float(value) != model_step or logger_step is None or row.get("step") in (None, ""):
                return float(value) <= model_step
            return int(float(row["step"])) <= logger_step

        self.rows = [r for r in self.rows if keep(r)]

    def save(self) -> None:
        if not self.metrics and not self.rows:
            return
        if self.metrics:
            self._record_new_keys()
        self.rows.extend(self.metrics)
        self.metrics = []
        with atomic_write(self.metrics_file_path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(self.rows)


class CSVLogger(_LightningCSVLogger):
    """``pytorch_lightning.loggers.CSVLogger`` with the keeping, atomic writer above."""

    @property
    @rank_zero_experiment
    def experiment(self) -> KeepingExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = KeepingExperimentWriter(log_dir=self.log_dir)
        return self._experiment
