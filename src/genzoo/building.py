"""Building a run's parts from its config: the data module, the model (with what its family
declares) and the Lightning Trainer."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf, open_dict

from genzoo.checkpoint_io import AtomicCheckpointIO
from genzoo.composition import CONFIG_DIR, instantiate
from genzoo.data.base import DATA_KINDS
from genzoo.errors import ConfigError
from genzoo.models.base import GenerativeModule
from genzoo.preflight import is_multirun

#: ``model.*`` keys every family takes, handled by ``GenerativeModule.speed_options`` (not the family's __init__)
SPEED_KEYS = ("compile", "channels_last")


def _choice(group: str) -> str | None:
    """The option of config group ``group`` this run took (None outside a Hydra command or composition)."""
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.choices.get(group) if HydraConfig.initialized() else None


def _class_of(target: Any) -> type | None:
    try:
        return hydra.utils.get_class(str(target)) if target else None
    except Exception:  # instantiate says what is wrong with it
        return None


def _kinds(kinds: tuple[str, ...]) -> str:
    names = [DATA_KINDS.get(k, k) for k in kinds]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def data_fixes(model: str, kinds: tuple[str, ...]) -> list[str]:
    """The ``experiment=`` options of this config tree that pair ``model=<model>`` with data of ``kinds``,
    then the ``data=`` options of those kinds."""
    import yaml

    def read(path: Path) -> dict[str, Any]:
        return yaml.safe_load(path.read_text()) or {}

    fits = [p.stem for p in sorted((CONFIG_DIR / "data").glob("*.yaml"))
            if getattr(_class_of(read(p).get("_target_")), "data_kind", None) in kinds]
    def chosen(path: Path) -> dict[str, str]:  # the groups an experiment chooses, with those of the ones it extends
        out: dict[str, str] = {}
        for d in read(path).get("defaults") or []:
            if isinstance(d, str) and d != "_self_" and path.with_name(f"{d}.yaml").is_file():
                out.update(chosen(path.with_name(f"{d}.yaml")))
            elif isinstance(d, dict):
                out.update({k.split()[-1].lstrip("/"): v for k, v in d.items()})
        return out

    paired = [p.stem for p in sorted((CONFIG_DIR / "experiment").glob("*.yaml"))
              if chosen(p).get("model") == model and chosen(p).get("data") in fits]
    return ([f"experiment={'|'.join(paired)}"] if paired else []) + [f"data={o}" for o in fits]


def check_data_kind(cfg: DictConfig) -> None:
    """Refuse, before anything is built, a family meeting a kind of data it does not train on (a family
    declares its ``data_kinds``, a data module its ``data_kind``), naming the options that fit."""
    cls = model_class(cfg)
    data_cls = _class_of((cfg.get("data") or {}).get("_target_"))
    kind = getattr(data_cls, "data_kind", None)
    if kind is None or kind in cls.data_kinds:
        return
    model = _choice("model") or cfg.model.get("name", cls.__name__.lower())
    data = _choice("data") or data_cls.__name__
    fixes = data_fixes(model, cls.data_kinds)
    paired = [f for f in fixes if f.startswith("experiment=")]
    options = [f for f in fixes if f not in paired]
    use = paired + ([f"one of {', '.join(options)}" if len(options) > 1 else options[0]] if options else [])
    raise ConfigError(f"model={model} trains on {_kinds(cls.data_kinds)}, but data={data} holds "
                      f"{DATA_KINDS.get(kind, kind)}." + (f" Use {' or '.join(use)}." if use else ""))


def build_datamodule(cfg: DictConfig):
    """The data module of ``cfg``, once the family is known to train on its kind of data."""
    check_data_kind(cfg)
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
    if cfg.trainer.get("enable_model_summary", True):  # Lightning's table less its FLOPs column (0 for every family)
        from genzoo.callbacks.summary import ModelSummary

        callbacks = [*callbacks, ModelSummary()]
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
