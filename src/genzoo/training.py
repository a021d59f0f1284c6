"""``train(cfg)``: compose data, nets, loss, model, callbacks, loggers and trainer, then fit.

``src/train.py`` is the thin Hydra entry point around this function; tests call it directly
on composed configs. It returns the final metrics (for Optuna and sweeps).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf, open_dict

from genzoo.errors import ConfigError
from genzoo.logging_utils import GeneratorStepAxis, resolve_wandb_mode
from genzoo.models.base import GenerativeModule


CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"


def compose_config(overrides: list[str] | tuple[str, ...], output_dir: str | Path, config_name: str = "train",
                   config_dir: str | Path = CONFIG_DIR) -> DictConfig:
    """The config ``python src/train.py OVERRIDES`` would run, writing into ``output_dir``
    (for notebooks, tests and benchmarks: then call ``train(cfg)``)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = os.getcwd()
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a dict-of-configs group (callbacks, logger); ``null`` entries are skipped."""
    if not cfg:
        return []
    return [hydra.utils.instantiate(c) for c in cfg.values() if c is not None and "_target_" in c]


def build_datamodule(cfg: DictConfig):
    return hydra.utils.instantiate(cfg.data)


def build_model(cfg: DictConfig, datamodule) -> GenerativeModule:
    nets = hydra.utils.instantiate(cfg.net) if cfg.get("net") else {}
    loss = hydra.utils.instantiate(cfg.loss) if cfg.get("loss") else None
    model = hydra.utils.instantiate(
        cfg.model, **nets, loss=loss, data_shape=list(datamodule.shape), num_classes=datamodule.num_classes,
        _convert_="partial",
    )
    model.run_config = OmegaConf.to_container(cfg, resolve=True)
    return model


def _device_count(devices: Any) -> int:
    if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        return len(devices)
    if isinstance(devices, int) or (isinstance(devices, str) and devices.lstrip("-").isdigit()):
        n = int(devices)
        if n == -1:
            import torch

            return max(torch.cuda.device_count(), 1)
        return n
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    return 1  # "auto": Lightning picks one device on CPU; on GPUs, set devices explicitly for DDP


def trainer_arguments(cfg: DictConfig, model: GenerativeModule) -> dict[str, Any]:
    """What train() decides for the trainer: run length in Lightning steps, and the DDP flavour."""
    t = cfg.trainer
    out: dict[str, Any] = {}
    g_steps = t.get("max_steps", -1)
    if g_steps is not None and g_steps >= 0:
        out["max_steps"] = model.lightning_steps(int(g_steps))
    if t.get("strategy", "auto") == "auto" and (_device_count(t.get("devices", 1)) > 1 or t.get("num_nodes", 1) > 1):
        strategy = model.ddp_strategy
        if is_multirun():  # Lightning cannot re-launch a script inside a Hydra multirun job
            strategy = strategy.replace("ddp", "ddp_spawn", 1)
        out["strategy"] = strategy
    return out


def is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _prepare_wandb(cfg: DictConfig) -> None:
    if cfg.get("logger") and cfg.logger.get("wandb"):
        mode = resolve_wandb_mode(cfg.logger.wandb.get("mode"))
        with open_dict(cfg):
            cfg.logger.wandb.mode = mode
        Path(cfg.logger.wandb.save_dir).mkdir(parents=True, exist_ok=True)


def train(cfg: DictConfig) -> dict[str, float]:
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
    _prepare_wandb(cfg)
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule)
    callbacks = instantiate_group(cfg.get("callbacks"))
    if cfg.get("metrics") and "_target_" in cfg.metrics:
        callbacks.append(hydra.utils.instantiate(cfg.metrics))
    loggers = instantiate_group(cfg.get("logger"))
    if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
        callbacks.append(GeneratorStepAxis())
    trainer: pl.Trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, **trainer_arguments(cfg, model)
    )
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for lg in loggers:
        lg.log_hyperparams(resolved)

    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path and not os.path.isfile(ckpt_path):
        raise ConfigError(f"ckpt_path={ckpt_path} is not a file. Pass the path of a .ckpt saved by a genzoo run "
                          "(for example outputs/train/runs/<date>/checkpoints/last.ckpt).")
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    finally:
        if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
            import wandb

            wandb.finish()

    metrics = {k: float(v) for k, v in {**trainer.callback_metrics, **model.last_metrics}.items()}
    metrics["g_step"] = float(model.g_step)
    if trainer.is_global_zero:
        print(summary(cfg, trainer, model, loggers))
    return metrics


def summary(cfg: DictConfig, trainer: pl.Trainer, model: GenerativeModule, loggers: list[Any]) -> str:
    """Where everything went, printed at the end of a run."""
    lines = [f"\nTrained {model.g_step} generator steps ({trainer.global_step} optimiser steps).",
             f"Output folder:  {cfg.paths.output_dir}"]
    for cb in trainer.callbacks:
        if type(cb).__name__ == "GeneratorStepCheckpoint" and cb.last_model_path:
            lines.append(f"Checkpoint:     {cb.last_model_path}   (resume: python src/train.py ckpt_path=...)")
        if type(cb).__name__ == "SampleGrid" and cb.last_path:
            lines.append(f"Samples:        {cb.last_path}")
        if type(cb).__name__ == "LossCurves" and cb.path:
            lines.append(f"Loss curves:    {cb.path}")
        if type(cb).__name__ == "SampleQuality" and cb.history:
            g, last = cb.history[-1]
            shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items())
            lines.append(f"Metrics (g {g}): {shown}   ({cb.seconds:.1f} s spent evaluating)")
    for lg in loggers:
        name = type(lg).__name__
        if name == "CSVLogger":
            lines.append(f"CSV metrics:    {Path(lg.log_dir) / 'metrics.csv'}")
        elif name == "WandbLogger":
            mode = cfg.logger.wandb.get("mode")
            run_dir = Path(cfg.logger.wandb.save_dir) / "wandb"
            if mode == "offline":
                lines.append(f"W&B (offline):  {run_dir}   (upload later: wandb sync {run_dir}/offline-run-*)")
            else:
                lines.append(f"W&B ({mode}):   {run_dir}")
    return "\n".join(lines)
