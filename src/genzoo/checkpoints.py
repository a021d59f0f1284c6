"""Reading, finding and writing checkpoints safely.

- ``load_checkpoint``: every checkpoint genzoo reads goes through ``torch.load(weights_only=True)``,
  which refuses a pickle that would run code, and its stored config may name only genzoo, torch
  and Lightning objects (``check_targets``); a crafted, truncated or foreign file gets one clear
  line (``CheckpointError``) and nothing runs.
- ``resolve_ckpt_path``: ``ckpt_path=last`` / ``auto`` / a run folder -> the newest checkpoint.
- ``first_nonfinite``: checkpoints are never written with non-finite weights
  (``genzoo.checkpoint_io.AtomicCheckpointIO``, Lightning's writer, uses it and ``atomic_write``).
- ``atomic_write``: the same temp-then-rename for every other file genzoo writes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import pickle
import re
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from genzoo.errors import ConfigError, GenzooError  # noqa: F401 - GenzooError: base of the errors below


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used (missing, crafted, damaged, not genzoo's)."""


class DiskFullError(GenzooError, OSError):
    """A file could not be written (disk full, no permission); what was there before is intact."""


class NonFiniteError(GenzooError):
    """Training diverged: a loss or a weight became NaN or infinite."""


#: what a config read from a checkpoint may instantiate (a ``_target_`` elsewhere could be any
#: callable, ``os.system`` included: a weights-only file is not enough to make a config safe)
SAFE_TARGETS = ("genzoo.", "torch.optim.", "torch.nn.", "pytorch_lightning.", "lightning.")


def _loaded_family(target: str) -> bool:
    """A family class (``GenerativeModule`` subclass) this process has already imported, wherever it is defined (a
    family of the user's own): instantiating it runs nothing the process did not choose. Nothing is imported here."""
    import sys

    base, (module, _, name) = sys.modules.get("genzoo.models.base"), target.rpartition(".")
    obj = getattr(sys.modules.get(module), name, None)
    return base is not None and isinstance(obj, type) and issubclass(obj, base.GenerativeModule)


def check_targets(config: Any, ckpt_path: str, where: str = "") -> None:
    """Refuse a stored config whose ``_target_`` names anything outside genzoo, torch's optimisers
    and nets, and Lightning (the parts eval.py and sample.py instantiate), but a family class already imported."""
    if isinstance(config, dict):
        for key, value in config.items():
            here = f"{where}.{key}" if where else str(key)
            if key == "_target_" and not (isinstance(value, str) and (value.startswith(SAFE_TARGETS)
                                                                      or _loaded_family(value))):
                raise CheckpointError(f"ckpt_path={ckpt_path} is not a genzoo checkpoint: its stored config asks to "
                                      f"run {value!r} ({here}), which no genzoo run does, so nothing was loaded.")
            if key != "hydra":
                check_targets(value, ckpt_path, here)
    elif isinstance(config, list):
        for i, item in enumerate(config):
            check_targets(item, ckpt_path, f"{where}[{i}]")


def load_checkpoint(path: str | Path, map_location: Any = "cpu", mmap: bool = False) -> dict[str, Any]:
    """A genzoo checkpoint as a dict, loaded with ``weights_only=True`` (no code runs)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ckpt_path={path} is not a file. Pass a .ckpt saved by a genzoo run "
                              "(outputs/train/runs/<run>/checkpoints/last.ckpt), or ckpt_path=last to resume the "
                              "newest checkpoint of this run's folder.")
    with open(path, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK") or head[:1] == b"\x80"):  # neither torch's zip format nor a pickle
        raise CheckpointError(f"ckpt_path={path} is not a checkpoint file (torch.save never writes what it holds). "
                              "Pass a .ckpt written by genzoo.")
    try:
        mmap = mmap and zipfile.is_zipfile(path)  # only torch's zip format can be memory-mapped
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols: the error below says more
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        asks = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(e))
        what = f" (it asks for {asks.group(1)})" if asks else ""
        raise CheckpointError(
            f"ckpt_path={path} is not a genzoo checkpoint: it holds Python objects no checkpoint contains{what}, and "
            "loading them could run code, so it was not loaded. Pass a .ckpt written by genzoo.") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as e:
        first = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise CheckpointError(
            f"ckpt_path={path} is truncated or damaged and cannot be read ({first}). Pass another checkpoint of the "
            "run, for example an earlier checkpoints/gNNNNNNN.ckpt.") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"ckpt_path={path} is not a Lightning checkpoint (no state_dict). Pass a .ckpt "
                              "written by genzoo.")
    if not isinstance(ckpt.get("genzoo"), dict) or ckpt["genzoo"].get("config") is None:
        raise CheckpointError(f"ckpt_path={path} holds no genzoo run config (saved by another program, or by an "
                              "older genzoo). Pass a .ckpt written by genzoo.")
    check_targets(ckpt["genzoo"]["config"], str(path))  # eval.py and sample.py instantiate that config
    return ckpt


def newest_checkpoint(folder: Path) -> Path | None:
    """The most recently written checkpoint under ``folder`` (its ``checkpoints/`` and itself)."""
    found = [p for d in (folder / "checkpoints", folder) if d.is_dir() for p in d.glob("*.ckpt") if p.is_file()]
    return max(found, key=lambda p: (p.stat().st_mtime_ns, p.name == "last.ckpt")) if found else None


def resolve_ckpt_path(value: str | None, output_dir: str | Path) -> str | None:
    """``ckpt_path`` as given -> the file to resume from, or None (a fresh start).

    - ``last``: the newest checkpoint of this run's own folder (a requeued job whose
      ``hydra.run.dir`` is fixed); an error if there is none.
    - ``auto``: the same, or a fresh start when the folder has none yet (first start of a job).
    - a folder: the newest checkpoint of that run folder. A file: itself.
    """
    if value in (None, ""):
        return None
    value = str(value)
    if value in ("last", "auto"):
        found = newest_checkpoint(Path(output_dir))
        if found is None and value == "last":
            raise CheckpointError(f"ckpt_path=last: {output_dir} holds no checkpoint to resume. Use ckpt_path=auto to "
                                  "start fresh when there is none (a requeued job), or give a checkpoint's path.")
        return None if found is None else str(found)
    path = Path(value)
    if path.is_dir():
        found = newest_checkpoint(path)
        if found is None:
            raise CheckpointError(f"ckpt_path={value} is a folder without checkpoints. Pass a run folder that has "
                                  "checkpoints/*.ckpt, or the checkpoint file itself.")
        return str(found)
    return value


def first_nonfinite(state: dict[str, Any]) -> str | None:
    for k, v in state.items():
        if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            return k
    return None


def disk_error(path: Path, e: OSError) -> DiskFullError:
    reason = "the disk is full" if e.errno in (errno.ENOSPC, errno.EDQUOT) else (e.strerror or str(e))
    return DiskFullError(f"Could not write {path}: {reason}. Free space (or point paths.log_dir elsewhere); the "
                         "files written before are intact.")


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path beside ``path``; on success it is renamed onto ``path`` (atomic on
    POSIX), on failure removed. A full disk raises ``DiskFullError`` naming the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise disk_error(path, e) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def check_resumable(path: str) -> dict[str, Any]:
    """Read a resume checkpoint's genzoo part (memory-mapped: cheap for large files)."""
    ckpt = load_checkpoint(path, mmap=True)
    if ckpt["genzoo"].get("counters") is None:
        raise ConfigError(f"ckpt_path={path} holds no step counters; it cannot be resumed.")
    return ckpt
