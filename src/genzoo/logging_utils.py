"""Weights & Biases set-up: online with a login, offline (sync later) without one, x-axis in generator steps."""

from __future__ import annotations

import netrc
import os
from urllib.parse import urlparse

import pytorch_lightning as pl


def wandb_credentials_present() -> bool:
    """True when W&B would find an API key: WANDB_API_KEY, or a netrc entry for the W&B host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    path = os.environ.get("NETRC", os.path.expanduser("~/.netrc"))
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def resolve_wandb_mode(mode: str | None) -> str:
    """``auto``/None -> WANDB_MODE if set, else online with credentials and offline without."""
    if mode not in (None, "auto"):
        return mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    return "online" if wandb_credentials_present() else "offline"


# overrides that say where or how a run is recorded, not what it trains: they never split a group
NOT_THE_EXPERIMENT = ("seed=", "ckpt_path=", "hydra.", "logger", "paths.")


def experiment_overrides(overrides: list[str]) -> list[str]:
    """The command-line overrides that define the experiment: all but the seed, the resume path and
    where things are written, with Hydra's +/++/~ prefixes dropped; sorted."""
    return sorted(o.lstrip("+~") for o in overrides if not o.lstrip("+~").startswith(NOT_THE_EXPERIMENT))


def configuration_label(overrides: list[str]) -> str:
    """The name of a configuration: its experiment overrides, space separated (runs of one
    configuration that differ only in seed share it)."""
    return " ".join(experiment_overrides(overrides)) or "(defaults)"


class ModelStepAxis(pl.Callback):
    """Makes ``model_step`` the x-axis of every W&B chart (Lightning logs against ``global_step``)."""

    def on_train_start(self, trainer, pl_module) -> None:
        from pytorch_lightning.loggers import WandbLogger

        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and trainer.is_global_zero:
                logger.experiment.define_metric("model_step")
                logger.experiment.define_metric("*", step_metric="model_step")
