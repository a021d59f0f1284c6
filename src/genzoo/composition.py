"""Composing a run's config as ``python src/train.py OVERRIDES`` would, and instantiating its nodes
(with genzoo's own errors unwrapped from Hydra's)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, open_dict

from genzoo.errors import ConfigError, user_error

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
        # self-contained: the output folder does not depend on the (global) Hydra config composed last
        cfg.paths.output_dir = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    return cfg


def instantiate(node: Any, **kwargs: Any) -> Any:
    """``hydra.utils.instantiate``, raising the genzoo error (bad input) that Hydra wraps, unwrapped; a
    keyword the target does not take (which ``unknown_keys`` could not check beforehand: a factory's) is one."""
    try:
        return hydra.utils.instantiate(node, **kwargs)
    except Exception as e:
        err = user_error(e)
        if err is not None and err is not e:
            raise err from None
        cause = e.__cause__
        found = re.search(r"unexpected keyword argument '(\w+)'", str(cause)) if isinstance(cause, TypeError) else None
        if found and hasattr(node, "get") and found.group(1) in node:  # a key of the config, not a bug inside
            raise ConfigError(f"{node.get('_target_')} takes no argument {found.group(1)} ({cause}), so the run could "
                              "not start with it. Check the key's name: `python src/train.py --cfg job` prints the "
                              "composed config.") from None
        raise


def instantiate_group(cfg: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a dict-of-configs group (callbacks, logger); ``null`` entries are skipped."""
    if not cfg:
        return []
    return [instantiate(c) for c in cfg.values() if c is not None and "_target_" in c]
