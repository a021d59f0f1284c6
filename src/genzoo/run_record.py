"""The record of a command in its run folder (``.hydra/config.yaml``, ``hydra.yaml``, ``overrides.yaml``,
what ``compare.py`` and a reader of the folder go by), written only once the command's inputs are
accepted: Hydra's own copy (``hydra.output_subdir``) is off (conf/hydra/default.yaml), because Hydra writes
it before the command runs, so a refused command (a new run into an existing run's folder, a bad resume)
would overwrite the very record its message tells the user to read."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

#: the folder, inside the run folder, that holds the record (Hydra's usual name)
RECORD = ".hydra"


def save_run_record(cfg: DictConfig) -> Path | None:
    """Write the record of the running Hydra command for ``cfg`` into ``<output_dir>/.hydra``; returns the
    folder, or None outside a Hydra command (a config composed in Python has no command line to record)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.instance().cfg  # {"hydra": ...}, as Hydra saves it
    out = Path(str(cfg.paths.output_dir)) / RECORD
    out.mkdir(parents=True, exist_ok=True)
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    OmegaConf.save(task, out / "config.yaml")
    OmegaConf.save(hydra_cfg, out / "hydra.yaml")
    OmegaConf.save(hydra_cfg.hydra.overrides.task, out / "overrides.yaml")
    return out
