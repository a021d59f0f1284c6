"""``train(cfg)``: compose data, nets, loss, model, callbacks, loggers and trainer, then fit.

``src/train.py`` is the thin Hydra entry point around this function; tests call it directly
on composed configs. It returns the final metrics (for Optuna and sweeps).

The parts live in their own modules and are re-exported here: ``genzoo.composition`` (compose_config,
instantiate), ``genzoo.building`` (data module, model, Trainer) and ``genzoo.run_summary`` (run name,
identity, resume command, the end-of-run summary).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf, open_dict

from genzoo.building import SPEED_KEYS, build_datamodule, build_model, build_trainer, model_class, net_options, trainer_arguments
from genzoo.callbacks.preemption import Preemption
from genzoo.composition import CONFIG_DIR, compose_config, instantiate, instantiate_group
from genzoo.errors import ConfigError
from genzoo.loggers import WandbLogger
from genzoo.logging_utils import ModelStepAxis, resolve_wandb_mode
from genzoo.models.base import GenerativeModule
from genzoo.preflight import data_ready, preflight
from genzoo.quiet import quiet_logs
from genzoo.run_log import run_log, say
from genzoo.run_record import save_run_record
from genzoo.run_summary import resume_command, run_identity, run_name, summary

__all__ = ["CONFIG_DIR", "SPEED_KEYS", "apply_resume_rules", "build_datamodule", "build_model", "build_trainer",
           "compose_config", "instantiate", "instantiate_group", "model_class", "net_options", "objective",
           "resume_command", "run_identity", "run_name", "say", "summary", "train", "trainer_arguments"]


def _prepare_wandb(cfg: DictConfig) -> None:
    if cfg.get("logger") and cfg.logger.get("wandb"):
        mode = resolve_wandb_mode(cfg.logger.wandb.get("mode"))
        with open_dict(cfg):
            cfg.logger.wandb.mode = mode
        Path(cfg.logger.wandb.save_dir).mkdir(parents=True, exist_ok=True)


def apply_resume_rules(cfg: DictConfig, model: GenerativeModule, path: str, state: dict[str, Any]) -> list[str]:
    """Refuse a resume whose config changes what the weights mean; hand the optimiser
    hyperparameters that changed to the model (written into the restored optimisers at the start of
    training); return what is applied, to say so (``genzoo.resume``)."""
    from genzoo import resume

    said, overrides = resume.check(state["config"], OmegaConf.to_container(cfg, resolve=True), path,
                                   model.optimizer_keys, model.scheduled_optimizers())
    model.resume_overrides = overrides
    return said


def train(cfg: DictConfig, checked: tuple[str | None, dict[str, Any] | None] | None = None) -> dict[str, float]:
    """Build everything, check every input, then start the loggers and fit. Nothing that can fail
    on bad input runs after a logger has started; the W&B run is finished on every path.
    ``checked``: what ``genzoo.preflight.preflight(cfg)`` returned, when the caller ran it already."""
    ckpt_path, resumed = checked if checked is not None else preflight(cfg)
    quiet_logs()
    with run_log(cfg.paths.output_dir):  # what the run says and warns, also in its train.log
        return _train(cfg, ckpt_path, resumed)


def _train(cfg: DictConfig, ckpt_path: str | None, resumed: dict[str, Any] | None) -> dict[str, float]:
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule)
    data_ready(datamodule)  # a failed download or too little data is refused here, before any logger or run file
    _prepare_wandb(cfg)
    if ckpt_path is not None:
        applied = apply_resume_rules(cfg, model, ckpt_path, resumed)
        step = model.model_step_of(resumed)
        say(f"Resuming {ckpt_path} at model step {step}" + (f"; applying {', '.join(applied)}" if applied else ""))
    callbacks = instantiate_group(cfg.get("callbacks"))
    for cb in callbacks:  # a callback that needs something of the family says so before the run
        if hasattr(cb, "check_model"):
            cb.check_model(model)
    if not cfg.trainer.get("enable_progress_bar", True):  # the bar turned off (a cluster log): drop genzoo's bar too
        callbacks = [cb for cb in callbacks if not isinstance(cb, pl.callbacks.ProgressBar)]
    if cfg.get("metrics") and "_target_" in cfg.metrics:
        callbacks.append(instantiate(cfg.metrics))
    # preemption last: the checkpoint it writes holds what every other callback did at that step
    callbacks.sort(key=lambda cb: isinstance(cb, Preemption))
    logger_cfg = cfg.get("logger") or {}
    for key, field in (("wandb", "name"), ("mlflow", "run_name")):
        if logger_cfg.get(key) is not None and logger_cfg[key].get(field) is None:
            with open_dict(cfg):
                cfg.logger[key][field] = run_name(cfg, model)
    loggers = instantiate_group(cfg.get("logger"))  # W&B starts its run lazily, at the first log
    wandb_used = any(isinstance(lg, pl.loggers.WandbLogger) for lg in loggers)
    if ckpt_path is not None:  # a resumed run writes its steps after the checkpoint's again
        for lg in loggers:
            if hasattr(lg.experiment, "drop_after"):
                lg.experiment.drop_after(model.model_step_of(resumed), resumed.get("logger_step"))
    try:
        if wandb_used:
            callbacks.append(ModelStepAxis())
        trainer = build_trainer(cfg, model, callbacks, loggers, resumed)
        if trainer.is_global_zero:
            save_run_record(cfg)  # every input accepted: only now is the run folder's record written
        resolved = {**OmegaConf.to_container(cfg, resolve=True), "run": run_identity(cfg)}
        for lg in loggers:
            lg.log_hyperparams(resolved)
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    finally:
        if wandb_used:
            import wandb

            for lg in loggers:
                if isinstance(lg, WandbLogger):
                    lg.note_run_url()  # for the summary, after the run is closed
            wandb.finish()

    metrics = {k: float(v) for k, v in {**trainer.callback_metrics, **model.last_metrics}.items()}
    metrics["model_step"] = float(model.model_step)
    if model.interrupted:
        metrics["interrupted"] = 1.0
    if trainer.is_global_zero:
        say(summary(cfg, trainer, model, loggers))
    return metrics


def objective(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The value of ``optimized_metric`` for a sweeper (None when none is asked for)."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        raise ConfigError(f"optimized_metric={name} was never logged by this run. Metrics it logged: "
                          f"{', '.join(sorted(metrics))}.")
    return metrics[name]
