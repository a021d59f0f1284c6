"""genzoo's loggers: a CSV logger that never loses rows already written, and TensorBoard, MLflow
and W&B loggers that plot against model steps and take the runs' images.

Lightning's CSV writer deletes an existing ``metrics.csv`` when it starts, and rewrites or appends
to it in place. genzoo's keeps the rows a resumed run had already written (dropping only those past
the step it resumes from, which the run writes again), and writes the whole file atomically
(a temporary file, then a rename) on each save, so a kill or a full disk never leaves half a file.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger as _LightningCSVLogger
from pytorch_lightning.loggers import MLFlowLogger as _LightningMLFlowLogger
from pytorch_lightning.loggers import TensorBoardLogger as _LightningTensorBoardLogger
from pytorch_lightning.loggers import WandbLogger as _LightningWandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment
from pytorch_lightning.utilities import rank_zero_only

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


# --- every logger plots against model steps, and takes images --------------------------------------
class LogsAtModelStep:
    """Mixin: log each row at its ``model_step`` (generator steps for the adversarial families), the
    x-axis of every genzoo chart, instead of Lightning's optimiser-step count. The CSV keeps both."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if "model_step" in metrics:
            step = int(float(metrics["model_step"]))
        super().log_metrics(metrics, step)  # type: ignore[misc]


def _text_lines(path: Path) -> list[str]:
    from genzoo.callbacks.images import read_text_samples

    return read_text_samples(path)


def _png_array(path: Path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


class TensorBoardLogger(LogsAtModelStep, _LightningTensorBoardLogger):
    """TensorBoard: scalars against model steps, the sample grids and plots as images, the resolved
    config as text (next to Lightning's ``hparams.yaml``)."""

    def __init__(self, *args: Any, default_hp_metric: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, default_hp_metric=default_hp_metric, **kwargs)

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any], metrics: Any = None) -> None:
        import yaml

        super().log_hyperparams(params, metrics)
        text = yaml.safe_dump(params, sort_keys=False)
        self.experiment.add_text("config", "```\n" + text + "\n```", 0)  # markdown: keep the indentation

    @rank_zero_only
    def log_image_file(self, key: str, path: Path, model_step: int) -> None:
        self.experiment.add_image(key, _png_array(path), model_step, dataformats="HWC")
        self.experiment.flush()

    @rank_zero_only
    def log_histogram(self, key: str, values, model_step: int) -> None:
        self.experiment.add_histogram(key, values, model_step)

    @rank_zero_only
    def log_text_file(self, key: str, path: Path, model_step: int) -> None:
        lines = _text_lines(path)
        self.experiment.add_text(key, "\n".join("    " + line for line in lines), model_step)  # markdown code block
        self.experiment.flush()


def _mlflow_names(params: dict[str, Any]) -> dict[str, Any]:
    """MLflow names allow letters, digits and ``_-. :/``; Hydra's package syntax
    (``optimizer@model.optimizer_d``) has others."""
    import re

    return {re.sub(r"[^\w\-. :/]", "_", str(k)): _mlflow_names(v) if isinstance(v, dict) else v for k, v in params.items()}


class MLFlowLogger(LogsAtModelStep, _LightningMLFlowLogger):
    """MLflow: scalars against model steps, images under the run's ``images/`` artifacts (MLflow's own
    image-over-steps view), the resolved config as params and as the artifact ``config.yaml``.

    A ``sqlite:///...`` tracking URI (genzoo's default: a database in the run folder, since MLflow 3
    has put its plain-file store in maintenance mode) keeps artifacts beside the database unless
    ``artifact_location`` says otherwise; a server URI uses the server's artifact store."""

    def __init__(self, *args: Any, tracking_uri: str | None = None, artifact_location: str | None = None,
                 **kwargs: Any) -> None:
        if artifact_location is None and tracking_uri and tracking_uri.startswith("sqlite:///"):
            database = Path(tracking_uri[len("sqlite:///"):])
            database.parent.mkdir(parents=True, exist_ok=True)
            artifact_location = str(database.parent / "artifacts")
        super().__init__(*args, tracking_uri=tracking_uri, artifact_location=artifact_location, **kwargs)
        import mlflow  # noqa: F401  (mlflow sets its loggers' level on import: quiet them after it)

        from genzoo.quiet import quiet_logs

        quiet_logs()

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any]) -> None:
        super().log_hyperparams(_mlflow_names(params))  # flattened with "/" by Lightning, 250 characters a value
        self.experiment.log_dict(self.run_id, params, "config.yaml")

    @rank_zero_only
    def log_image_file(self, key: str, path: Path, model_step: int) -> None:
        self.experiment.log_image(self.run_id, _png_array(path), key=key, step=model_step)

    @rank_zero_only
    def log_text_file(self, key: str, path: Path, model_step: int) -> None:
        self.experiment.log_text(self.run_id, "\n".join(_text_lines(path)) + "\n", f"{key}/step_{model_step:07d}.txt")


class WandbLogger(_LightningWandbLogger):
    """``pytorch_lightning.loggers.WandbLogger`` without the ``anonymous`` setting that current W&B
    warns about on every run, with images and histograms at a model step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
        settings = self._wandb_init.get("settings")
        if settings is not None and not isinstance(settings, dict):  # a Hydra DictConfig: W&B takes a dict
            from omegaconf import OmegaConf

            self._wandb_init["settings"] = OmegaConf.to_container(settings) if OmegaConf.is_config(settings) \
                else dict(settings)

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any]) -> None:
        run = self.experiment
        if getattr(run, "sweep_id", None):  # a `wandb agent` run: the sweep's own values stay as it set them
            params = {k: v for k, v in params.items() if k not in run.config.keys()}
        super().log_hyperparams(params)

    @rank_zero_only
    def log_image_file(self, key: str, path: Path, model_step: int) -> None:
        import wandb

        self.experiment.log({key: wandb.Image(str(path)), "model_step": model_step})

    @rank_zero_only
    def log_histogram(self, key: str, values, model_step: int) -> None:
        import wandb

        self.experiment.log({key: wandb.Histogram(values), "model_step": model_step})

    @rank_zero_only
    def log_text_file(self, key: str, path: Path, model_step: int) -> None:
        """Text samples as a W&B table (one row a sample, with the model step: tables of several steps compare)."""
        import wandb

        table = wandb.Table(columns=["model_step", "sample"], data=[[model_step, t] for t in _text_lines(path)])
        self.experiment.log({key: table, "model_step": model_step})
