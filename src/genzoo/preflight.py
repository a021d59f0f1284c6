"""Checks that need no data, run first (``src/train.py`` runs them before any data, logger or run file):
numeric config values (the family's declared rules: its class is imported for them, Lightning with it),
the checkpoint to resume from, and that the run folder holds no other run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from genzoo.errors import ConfigError
from genzoo.run_record import launching_rank
from genzoo.validation import validate


def is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def preflight(cfg: DictConfig) -> tuple[str | None, dict[str, Any] | None]:
    """Validate ``cfg`` (every key one the run takes, every value in its range); return the checkpoint to resume
    from and its genzoo state (or None, None)."""
    from genzoo.unknown_keys import check_known_keys

    check_known_keys(cfg)
    validate(cfg)
    return prepare_resume(cfg)


def _command_schema(config_name: str) -> tuple[dict, set[str]]:
    """``conf/<config_name>.yaml`` (a command's own config) less its defaults list, and its config groups."""
    import yaml

    from genzoo.composition import CONFIG_DIR

    schema = yaml.safe_load((CONFIG_DIR / f"{config_name}.yaml").read_text()) or {}
    return schema, {next(iter(d)) if isinstance(d, dict) else d for d in schema.pop("defaults", [])}


def command_options(config_name: str) -> list[str]:
    """The dotted keys a command's config (``conf/<config_name>.yaml``) sets, its config groups left out."""
    def leaves(node: dict, prefix: str) -> list[str]:
        return [k for key, value in node.items() for k in
                (leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else [f"{prefix}{key}"])]

    return leaves(_command_schema(config_name)[0], "")


def unused_keys(cfg: DictConfig, config_name: str, open_nodes: tuple[str, ...] = ()) -> list[str]:
    """The keys of ``cfg`` that ``conf/<config_name>.yaml`` (a command's config: sample, eval) does not have, so
    the command would ignore them (Hydra adds any key given as ``+key=value``); its config groups (``paths``)
    and ``open_nodes`` (checked by the command itself) are not searched."""
    schema, groups = _command_schema(config_name)

    def walk(node: Any, known: dict, prefix: str) -> list[str]:
        out = []
        for key, value in node.items():
            name = f"{prefix}{key}"
            if name in open_nodes or (not prefix and key in groups):
                continue
            if key not in known:
                out.append(name)
            elif isinstance(known[key], dict) and hasattr(value, "items"):
                out += walk(value, known[key], f"{name}.")
        return out

    return walk(cfg, schema, "")


def data_ready(datamodule) -> None:
    """Download what the data needs and build its training set now, before a logger starts or a file of the
    run is written, so a failed download or too little data is refused with nothing left behind. Only the
    launching rank (as Lightning prepares data on local rank 0); Lightning's own calls in ``fit`` then find
    it done, and the other ranks build their sets there, after its barrier."""
    if launching_rank():
        datamodule.prepare_data()
        datamodule.setup("fit")


def run_outputs(folder: Path) -> list[str]:
    """What an earlier run left in ``folder`` (a new run must not overwrite it)."""
    found = []
    if (folder / "csv" / "metrics.csv").is_file():
        found.append("csv/metrics.csv")
    if (folder / "checkpoints").is_dir() and any((folder / "checkpoints").glob("*.ckpt")):
        found.append("checkpoints/")
    return found


def prepare_resume(cfg: DictConfig) -> tuple[str | None, dict[str, Any] | None]:
    """Resolve ``ckpt_path`` (a file, a run folder, ``last`` or ``auto``), check the file is a genzoo
    checkpoint (safely: nothing in it runs) and that this run's folder holds no other run. Returns
    the checkpoint to resume from and its genzoo state, or (None, None)."""
    from genzoo.checkpoints import check_resumable, resolve_ckpt_path

    out = Path(cfg.paths.output_dir)
    path = resolve_ckpt_path(cfg.get("ckpt_path"), out)
    state = None
    if path is not None:
        from genzoo.lightning_compat import checkpoint_logger_step

        ckpt = check_resumable(path)
        state = {**ckpt["genzoo"], "global_step": int(ckpt.get("global_step", 0)),
                 "logger_step": checkpoint_logger_step(ckpt)}
    earlier = run_outputs(out) if launching_rank() else []
    resuming_here = path is not None and out.resolve() in Path(path).resolve().parents
    if earlier == ["csv/metrics.csv"] and cfg.get("ckpt_path") == "auto" and path is None:
        # a requeued job killed before its first checkpoint: start again, keeping the old rows aside
        csv = out / "csv" / "metrics.csv"
        aside = csv.with_name(f"metrics.before-{int(csv.stat().st_mtime)}.csv")
        csv.rename(aside)
        print(f"ckpt_path=auto: {out} has no checkpoint yet; starting afresh (the earlier rows are in {aside}).")
        earlier = []
    if earlier and not resuming_here:
        raise ConfigError(f"{out} already holds a run ({', '.join(earlier)}); a new run would overwrite it, so it was "
                          "not started. Resume that run with ckpt_path=last, or choose another folder "
                          "(hydra.run.dir=...).")
    return path, state
