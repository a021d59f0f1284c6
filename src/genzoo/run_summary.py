"""What a run is and where it went: its name, its identity (logged with its config, to group runs
across a sweep), the command that resumes it and the summary printed at its end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

from genzoo.callbacks.preemption import EXIT_INTERRUPTED
from genzoo.models.base import GenerativeModule


def run_name(cfg: DictConfig, model: GenerativeModule) -> str:
    """``<model>[-<loss>]-<data>-s<seed>``: the model names itself (the adversarial family adds its loss)."""
    from hydra.core.hydra_config import HydraConfig

    data = None
    if HydraConfig.initialized():
        data = HydraConfig.get().runtime.choices.get("data")
    data = data or cfg.data._target_.rsplit(".", 1)[-1].lower()
    return f"{model.run_name()}-{data}-s{cfg.get('seed')}"


def run_identity(cfg: DictConfig) -> dict[str, Any]:
    """What a run is, logged with its config so that runs can be grouped across a sweep (a Hydra
    multirun or a ``wandb agent``, whose runs are single runs with overrides): ``configuration``, the
    command-line overrides but the seed (runs that differ only in seed share it); ``choices``, the
    option taken in every config group; ``seed``."""
    from hydra.core.hydra_config import HydraConfig

    from genzoo.logging_utils import configuration_label, experiment_overrides

    overrides: list[str] = []
    choices: dict[str, str] = {}
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        overrides = experiment_overrides(list(hc.overrides.task))
        choices = {k: str(v) for k, v in hc.runtime.choices.items() if not k.startswith("hydra/") and v is not None}
    return {"configuration": configuration_label(overrides), "overrides": overrides, "choices": choices,
            "seed": cfg.get("seed")}


def resume_command(cfg: DictConfig) -> str:
    """The command that resumes this run in its own folder (printed when a run is interrupted)."""
    from hydra.core.hydra_config import HydraConfig

    task = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    keep = [o for o in task if not o.startswith(("ckpt_path=", "hydra.run.dir="))]
    return " ".join(["python src/train.py", *keep, f"hydra.run.dir={cfg.paths.output_dir}", "ckpt_path=last"])


def summary(cfg: DictConfig, trainer: pl.Trainer, model: GenerativeModule, loggers: list[Any]) -> str:
    """Where everything went, printed at the end of a run."""
    lines = [f"\nTrained {model.model_step} model steps ({trainer.global_step} optimiser steps).",
             f"Output folder:  {cfg.paths.output_dir}"]
    if model.interrupted:
        lines[0] = (f"\nInterrupted by {model.interrupted} at model step {model.model_step}: the run is resumable "
                    f"(exit status {EXIT_INTERRUPTED}).")
    for cb in trainer.callbacks:
        if type(cb).__name__ == "ModelStepCheckpoint" and cb.last_model_path:
            lines.append(f"Checkpoint:     {cb.last_model_path}   (resume: python src/train.py ckpt_path=...)")
            if model.interrupted:
                lines.append(f"Resume with:    {resume_command(cfg)}")
        if type(cb).__name__ == "SampleGrid" and cb.last_path:
            lines.append(f"Samples:        {cb.last_path}")
        if type(cb).__name__ == "LossCurves" and cb.path:
            lines.append(f"Loss curves:    {cb.path}")
        if type(cb).__name__ in ("SampleQuality", "HeldOutMetrics") and cb.history and cb.history[-1][1]:
            g, last = cb.history[-1]
            shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items())
            what = "Metrics" if type(cb).__name__ == "SampleQuality" else "Held-out"
            lines.append(f"{what} (step {g}): {shown}   ({cb.seconds:.1f} s spent evaluating)")
    for lg in loggers:
        name = type(lg).__name__
        if name == "CSVLogger" and (Path(lg.log_dir) / "metrics.csv").is_file():
            lines.append(f"CSV metrics:    {Path(lg.log_dir) / 'metrics.csv'}")
        elif name == "TensorBoardLogger":
            lines.append(f"TensorBoard:    {lg.log_dir}   (view: tensorboard --logdir {lg.log_dir})")
        elif name == "MLFlowLogger":
            uri = cfg.logger.mlflow.get("tracking_uri")
            lines.append(f"MLflow:         {uri}   (run {lg.run_id}; view: pip install mlflow; "
                         f"mlflow ui --backend-store-uri {uri})")
        elif name == "WandbLogger":
            mode = cfg.logger.wandb.get("mode")
            run_dir = Path(cfg.logger.wandb.save_dir) / "wandb"
            if mode == "offline":
                lines.append(f"W&B (offline):  {run_dir}   (upload later: wandb sync {run_dir}/offline-run-*)")
            else:
                lines.append(f"W&B ({mode}):   {getattr(lg, 'run_url', None) or run_dir}")
    return "\n".join(lines)
