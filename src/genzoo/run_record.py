"""The record of a command in its run folder (``.hydra/config.yaml``, ``hydra.yaml``, ``overrides.yaml``,
what ``compare.py`` and a reader of the folder go by), written only once the command's inputs are
accepted: Hydra's own copy (``hydra.output_subdir``) is off (conf/hydra/default.yaml), because Hydra writes
it before the command runs, so a refused command (a new run into an existing run's folder, a bad resume)
would overwrite the very record its message tells the user to read.

And what a refused command leaves: nothing. Hydra creates the run folder (and its log file) before the
command runs; ``RunFolderGuard``, a Hydra callback, notes what of it is there before that, and
``forget_refused_run`` (called by ``genzoo.errors.exit_on_user_error``) removes what was added since, unless
the command's inputs were accepted (its record written)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

#: the folder, inside the run folder, that holds the record (Hydra's usual name)
RECORD = ".hydra"


class _Before:
    """What this command's run folder held before Hydra created or opened it (one command per process)."""

    run_dir: Path | None = None
    created: list[Path] = []  # the run folder and the folders above it that did not exist, deepest first
    entries: set[str] = set()  # the run folder's entries, where it existed
    logs: dict[str, int] = {}  # the size of each of its log files (Hydra appends to its job log)
    accepted = False


def save_run_record(cfg: DictConfig) -> Path | None:
    """Write the record of the running Hydra command for ``cfg`` into ``<output_dir>/.hydra``; returns the
    folder, or None outside a Hydra command (a config composed in Python has no command line to record)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    _Before.accepted = True
    hydra_cfg = HydraConfig.instance().cfg  # {"hydra": ...}, as Hydra saves it
    out = Path(str(cfg.paths.output_dir)) / RECORD
    out.mkdir(parents=True, exist_ok=True)
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    OmegaConf.save(task, out / "config.yaml")
    OmegaConf.save(hydra_cfg, out / "hydra.yaml")
    OmegaConf.save(hydra_cfg.hydra.overrides.task, out / "overrides.yaml")
    return out


def launching_rank() -> bool:
    """False in the other processes of a multi-process run (they join the folder rank 0 checked)."""
    return all(int(os.environ.get(k, "0") or 0) == 0 for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


class RunFolderGuard(Callback):
    """Hydra callback (``hydra.callbacks`` in conf/hydra/default.yaml): before Hydra creates the run folder of a
    single run, note which of it and the folders above it exist, and what it holds (a multirun's jobs are left
    to Hydra, which records a failed job)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _Before.run_dir, _Before.created, _Before.entries, _Before.logs = None, [], set(), {}
        _Before.accepted = False
        if not launching_rank():  # another process of a multi-process run: the folder is the launching one's
            return
        try:  # the folder's name is resolved once (Hydra's ${now:} is cached): the same one Hydra creates next
            run_dir = Path(str(OmegaConf.select(config, "hydra.run.dir", throw_on_missing=True))).absolute()
        except Exception:  # a folder that cannot be resolved yet: nothing is noted, nothing will be removed
            return
        _Before.run_dir = run_dir
        _Before.created = [p for p in (run_dir, *run_dir.parents) if not p.exists()]
        if run_dir.is_dir():
            _Before.entries = {p.name for p in run_dir.iterdir()}
            _Before.logs = {p.name: p.stat().st_size for p in run_dir.glob("*.log") if p.is_file()}


    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        _Before.run_dir = None  # the command ended (a refusal exits before this): nothing of it is removed later


def _close_logs_in(folder: Path) -> None:
    """Close and detach the logging file handlers that write under ``folder`` (Hydra's job log)."""
    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]
    for lg in loggers:
        for h in list(lg.handlers):
            if isinstance(h, logging.FileHandler) and folder in Path(h.baseFilename).absolute().parents:
                lg.removeHandler(h)
                h.close()


def forget_refused_run() -> None:
    """After a refusal: remove what this command added to its run folder (the whole folder, and the folders
    above it, where it created them; its log file's new lines) unless the inputs were accepted first."""
    from hydra.core.hydra_config import HydraConfig

    run_dir = _Before.run_dir
    if run_dir is None or _Before.accepted or not HydraConfig.initialized():
        return
    if Path(str(HydraConfig.get().runtime.output_dir)).absolute() != run_dir:
        return  # not the folder noted: touch nothing
    _Before.run_dir = None
    _close_logs_in(run_dir)
    if _Before.created and _Before.created[0] == run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
        for p in _Before.created[1:]:
            try:
                p.rmdir()
            except OSError:  # not empty: another command's folders
                break
        return
    for p in run_dir.iterdir() if run_dir.is_dir() else ():
        if p.name not in _Before.entries and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif p.name not in _Before.entries:
            p.unlink(missing_ok=True)
        elif p.name in _Before.logs and p.is_file() and p.stat().st_size > _Before.logs[p.name]:
            with open(p, "r+b") as f:
                f.truncate(_Before.logs[p.name])
