"""``train(cfg)``: compose data, nets, loss, model, callbacks, loggers and trainer, then fit.

``src/train.py`` is the thin Hydra entry point around this function; tests call it directly
on composed configs. It returns the final metrics (for Optuna and sweeps).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.utilities import rank_zero_only

from genzoo.callbacks.preemption import EXIT_INTERRUPTED, Preemption
from genzoo.checkpoint_io import AtomicCheckpointIO
from genzoo.errors import ConfigError, user_error
from genzoo.logging_utils import ModelStepAxis, resolve_wandb_mode
from genzoo.models.base import GenerativeModule
from genzoo.preflight import is_multirun, preflight
from genzoo.quiet import quiet_logs
from genzoo.run_record import save_run_record

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"
#: ``model.*`` keys every family takes, handled by ``GenerativeModule.speed_options`` (not the family's __init__)
SPEED_KEYS = ("compile", "channels_last")


def with_model_data(overrides: list[str] | tuple[str, ...], config_dir: str | Path = CONFIG_DIR) -> list[str]:
    """``overrides`` plus ``data=<option>`` when they choose a model whose data has another form than the
    default digits (``conf/model_data.yaml``: CycleGAN's two domains) and choose no data themselves
    (no ``data=``, no ``experiment=``, no sweep over models)."""
    import yaml

    overrides = list(overrides)
    path = Path(config_dir) / "model_data.yaml"
    chosen = {o.split("=", 1)[0].lstrip("+~"): o.split("=", 1)[1] for o in overrides if "=" in o}
    model = chosen.get("model")
    if not path.is_file() or model is None or "data" in chosen or "experiment" in chosen:
        return overrides
    data = (yaml.safe_load(path.read_text()) or {}).get(model)
    return overrides + [f"data={data}"] if data else overrides


def compose_config(overrides: list[str] | tuple[str, ...], output_dir: str | Path, config_name: str = "train",
                   config_dir: str | Path = CONFIG_DIR) -> DictConfig:
    """The config ``python src/train.py OVERRIDES`` would run, writing into ``output_dir``
    (for notebooks, tests and benchmarks: then call ``train(cfg)``)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=with_model_data(overrides, config_dir) if config_name == "train"
                      else list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = os.getcwd()
        cfg.hydra.job.num = 0
        # self-contained: the output folder does not depend on the (global) Hydra config composed last
        cfg.paths.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg


def instantiate(node: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate``, raising the genzoo error (bad input) that Hydra wraps, unwrapped."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except Exception as e:
        err = user_error(e)
        if err is not None and err is not e:
            raise err from None
        raise


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a dict-of-configs group (callbacks, logger); ``null`` entries are skipped."""
    if not cfg:
        return []
    return [instantiate(c) for c in cfg.values() if c is not None and "_target_" in c]


@rank_zero_only
def say(message: str) -> None:
    """Print once (rank 0), on stdout where the run's summary goes."""
    print(message, flush=True)


def build_datamodule(cfg: DictConfig):
    dm = instantiate(cfg.data)
    if hasattr(dm, "cache_dir"):
        dm.cache_dir = (cfg.get("paths") or {}).get("cache_dir")  # where a fitted palette is kept
    return dm


def model_class(cfg: DictConfig) -> type[GenerativeModule]:
    try:
        cls = hydra.utils.get_class(cfg.model._target_)
    except Exception as e:
        raise ConfigError(f"model._target_={cfg.model._target_} is not a genzoo family class ({e}).") from e
    if not (isinstance(cls, type) and issubclass(cls, GenerativeModule)):
        raise ConfigError(f"model._target_={cfg.model._target_} is not a GenerativeModule.")
    return cls


def net_options(keys: tuple[str, ...]) -> list[str]:
    """The ``net=`` options of this config tree whose nets are ``keys``."""
    import yaml

    def top_keys(path: Path) -> set[str]:  # a file's nets and those of the net files it extends
        node = yaml.safe_load(path.read_text()) or {}
        parents = [d for d in node.get("defaults", []) if isinstance(d, str) and d != "_self_"]
        return {k for k in node if k != "defaults"}.union(
            *(top_keys(path.with_name(f"{p}.yaml")) for p in parents if path.with_name(f"{p}.yaml").is_file()))

    return [path.stem for path in sorted((CONFIG_DIR / "net").glob("*.yaml")) if top_keys(path) == set(keys)]


def build_model(cfg: DictConfig, datamodule) -> GenerativeModule:
    """Instantiate the model with what its family declares (``net_keys``, ``uses_loss``), plus the
    data's shape and class count; the resolved run config goes into every checkpoint."""
    cls = model_class(cfg)
    name = cfg.model.get("name", cls.__name__.lower())
    parts: dict[str, Any] = {}
    net_cfg = cfg.get("net") or {}
    if set(net_cfg) != set(cls.net_keys):
        fitting = net_options(cls.net_keys)
        raise ConfigError(f"model={name} takes nets {', '.join(cls.net_keys) or '(none)'}, but the net= config gives "
                          f"{', '.join(net_cfg) or '(none)'}. Choose a net= option made for model={name}"
                          + (f": {', '.join(f'net={o}' for o in fitting)}" if fitting else "")
                          + (" (data=toy2d chooses net=mlp, for the adversarial families)"
                             if len(datamodule.shape) == 1 else "") + ".")
    if cls.directions and not callable(getattr(datamodule, "domain", None)):
        raise ConfigError(f"model={name} translates between two image domains, so it trains on unpaired data: "
                          "data=unpaired_digits (embedded), data=unpaired data.root=DIR (trainA/, trainB/, testA/, "
                          "testB/) or data=unpaired data.root_a=DIR data.root_b=DIR.")
    for key in cls.net_keys:
        parts[key] = instantiate(net_cfg[key])
    if cls.uses_loss:
        if not cfg.get("loss"):
            raise ConfigError(f"model={name} needs a loss: choose one with loss=<name>.")
        parts["loss"] = instantiate(cfg.loss)
    elif cfg.get("loss"):
        raise ConfigError(f"model={name} takes no loss= (its objective is its own); drop the loss override.")
    if cls.takes_palette and getattr(datamodule, "palette", None) is not None:
        parts["palette"] = datamodule.palette
    model_cfg = cfg.model
    speed = {k: model_cfg.get(k, False) for k in SPEED_KEYS}
    if any(k in model_cfg for k in SPEED_KEYS):  # options of the base class, not of the family's __init__
        model_cfg = copy.deepcopy(cfg)
        with open_dict(model_cfg):
            for k in SPEED_KEYS:
                model_cfg.model.pop(k, None)
        model_cfg = model_cfg.model
    model = instantiate(model_cfg, **parts, data_shape=list(datamodule.shape),
                        num_classes=datamodule.num_classes, _convert_="partial")
    model.speed_options(**speed)
    model.run_config = OmegaConf.to_container(cfg, resolve=True)
    return model


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


def trainer_arguments(cfg: DictConfig, model: GenerativeModule, resumed: dict[str, Any] | None = None) -> dict[str, Any]:
    """What train() decides for the trainer: run length in Lightning steps (from a resumed
    checkpoint: its optimiser steps plus those left under this run's schedule), and the DDP flavour."""
    t = cfg.trainer
    out: dict[str, Any] = {}
    model_steps = t.get("max_steps", -1)
    if model_steps is not None and model_steps >= 0:
        if resumed is not None:
            out["max_steps"] = resumed["global_step"] + model.lightning_steps_left(resumed["counters"], int(model_steps))
        else:
            out["max_steps"] = model.lightning_steps(int(model_steps))
    if t.get("strategy", "auto") == "auto" and (_device_count(t.get("devices", 1)) > 1 or t.get("num_nodes", 1) > 1):
        strategy = model.ddp_strategy
        if is_multirun():  # Lightning cannot re-launch a script inside a Hydra multirun job
            strategy = strategy.replace("ddp", "ddp_spawn", 1)
        out["strategy"] = strategy
    return out


def build_trainer(cfg: DictConfig, model: GenerativeModule, callbacks: list[Any], loggers: list[Any],
                  resumed: dict[str, Any] | None = None) -> pl.Trainer:
    """The Trainer, with genzoo's atomic checkpoint IO; trainer settings this machine cannot run (a
    GPU where there is none, more devices than it has) are one clear error naming the fix."""
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    from genzoo.lightning_compat import plain_cuda_check_without_gpus

    plain_cuda_check_without_gpus()  # ~0.15 ms an optimiser step on a machine without a GPU
    try:
        return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()],
                           **trainer_arguments(cfg, model, resumed))
    except Exception as wrapped:  # Hydra wraps what the Trainer raised
        e: BaseException | None = wrapped
        while e is not None and not isinstance(e, MisconfigurationException):
            e = e.__cause__
        if e is None:
            raise
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "backend" in text.lower() or "gpu" in text.lower() or "cuda" in text.lower():
            raise ConfigError(f"trainer.accelerator={cfg.trainer.get('accelerator')} cannot run here ({text}). Use "
                              "trainer.accelerator=cpu, or trainer.accelerator=auto to take a GPU when there is one.") from None
        raise ConfigError(f"The trainer settings do not work here: {text} Check trainer.* (for example "
                          "trainer.devices, trainer.strategy, trainer.precision).") from None


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

    has_scheduler = any(k.startswith("scheduler") and v is not None for k, v in cfg.model.items())
    said, overrides = resume.check(state["config"], OmegaConf.to_container(cfg, resolve=True), path,
                                   model.optimizer_keys, has_scheduler)
    model.resume_overrides = overrides
    return said


def train(cfg: DictConfig, checked: tuple[str | None, dict[str, Any] | None] | None = None) -> dict[str, float]:
    """Build everything, check every input, then start the loggers and fit. Nothing that can fail
    on bad input runs after a logger has started; the W&B run is finished on every path.
    ``checked``: what ``genzoo.preflight.preflight(cfg)`` returned, when the caller ran it already."""
    ckpt_path, resumed = checked if checked is not None else preflight(cfg)
    quiet_logs()
    if cfg.get("seed") is not None:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
    _prepare_wandb(cfg)
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule)
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
    wandb_used = any(type(lg).__name__ == "WandbLogger" for lg in loggers)
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
                if type(lg).__name__ == "WandbLogger" and lg._experiment is not None and \
                        cfg.logger.wandb.get("mode") != "offline":
                    lg.run_url = getattr(lg._experiment, "url", None)  # for the summary, after the run is closed
            wandb.finish()

    metrics = {k: float(v) for k, v in {**trainer.callback_metrics, **model.last_metrics}.items()}
    metrics["model_step"] = float(model.model_step)
    if model.interrupted:
        metrics["interrupted"] = 1.0
    if trainer.is_global_zero:
        print(summary(cfg, trainer, model, loggers))
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
