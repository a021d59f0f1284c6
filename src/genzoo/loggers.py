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

from genzoo import lightning_compat
from genzoo.checkpoints import atomic_write


class RunLogger:
    """Mixin of genzoo's loggers: each says where its record of the run is, for the run's summary."""

    def summary_line(self) -> str | None:
        """One line of the end-of-run summary (None: nothing to show)."""
        return None


class KeepingExperimentWriter(ExperimentWriter):
    def read_existing_rows(self) -> None:
        """Called where Lightning's writer deletes an existing metrics.csv (``lightning_compat.CSV_WRITER_START``):
        read its rows instead, to keep them."""
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
            lightning_compat.record_new_keys(self)
        self.rows.extend(self.metrics)
        self.metrics = []
        with atomic_write(self.metrics_file_path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.metrics_keys)
            writer.writeheader()
            writer.writerows(self.rows)


setattr(KeepingExperimentWriter, lightning_compat.CSV_WRITER_START, KeepingExperimentWriter.read_existing_rows)


class CSVLogger(RunLogger, _LightningCSVLogger):
    """``pytorch_lightning.loggers.CSVLogger`` with the keeping, atomic writer above."""

    @property
    @rank_zero_experiment
    def experiment(self) -> KeepingExperimentWriter:
        return lightning_compat.csv_experiment(self, KeepingExperimentWriter)

    @property
    def metrics_path(self) -> Path:
        return Path(self.log_dir) / "metrics.csv"

    def summary_line(self) -> str | None:
        return f"CSV metrics:    {self.metrics_path}" if self.metrics_path.is_file() else None


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


class TensorBoardLogger(RunLogger, LogsAtModelStep, _LightningTensorBoardLogger):
    """TensorBoard: scalars against model steps, the sample grids and plots as images, the resolved
    config as text (next to Lightning's ``hparams.yaml``)."""

    def __init__(self, *args: Any, default_hp_metric: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, default_hp_metric=default_hp_metric, **kwargs)

    def summary_line(self) -> str | None:
        return f"TensorBoard:    {self.log_dir}   (view: tensorboard --logdir {self.log_dir})"

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


class MLFlowLogger(RunLogger, LogsAtModelStep, _LightningMLFlowLogger):
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
        self.tracking_uri = tracking_uri
        import mlflow  # noqa: F401  (mlflow sets its loggers' level on import: quiet them after it)

        from genzoo.quiet import quiet_logs

        quiet_logs()

    def summary_line(self) -> str | None:
        uri = self.tracking_uri
        return f"MLflow:         {uri}   (run {self.run_id}; view: pip install mlflow; mlflow ui --backend-store-uri {uri})"

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


class WandbLogger(RunLogger, _LightningWandbLogger):
    """``pytorch_lightning.loggers.WandbLogger`` without the ``anonymous`` setting that current W&B
    warns about on every run, with images and histograms at a model step."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        init = lightning_compat.wandb_init_arguments(self)
        if init.get("anonymous") is None:
            init.pop("anonymous", None)
        settings = init.get("settings")
        if settings is not None and not isinstance(settings, dict):  # a Hydra DictConfig: W&B takes a dict
            from omegaconf import OmegaConf

            init["settings"] = OmegaConf.to_container(settings) if OmegaConf.is_config(settings) else dict(settings)
        self.mode: str | None = init.get("mode")
        #: the online run's page, noted when the run is finished (for the summary)
        self.run_url: str | None = None

    def note_run_url(self) -> None:
        """Note the online run's page (call before the run is finished): the summary shows it."""
        run = lightning_compat.started_experiment(self)
        if run is not None and self.mode != "offline":
            self.run_url = getattr(run, "url", None)

    def summary_line(self) -> str | None:
        run_dir = Path(self.save_dir) / "wandb"
        if self.mode == "offline":
            return f"W&B (offline):  {run_dir}   (upload later: wandb sync {run_dir}/offline-run-*)"
        return f"W&B ({self.mode}):   {self.run_url or run_dir}"

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
