"""Composing a run's config as ``python src/train.py OVERRIDES`` would, and instantiating its nodes
(with genzoo's own errors unwrapped from Hydra's)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, open_dict

from genzoo.errors import user_error

CONFIG_DIR = Path(__file__).resolve().parents[2] / "conf"


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
