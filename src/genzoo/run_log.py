"""The run's log file, ``<output folder>/train.log``: what genzoo says on the console (the resume line, the
summary) and every warning raised while the run is built and trained, each with its time.

Under ``python src/train.py`` Hydra's job logging writes the same file (``${hydra.job.name}.log``) for every
logger that reaches the root (Lightning's lines, ``logging.getLogger("genzoo")``); ``run_log`` adds what
never reaches it: printed lines and Python warnings. A config composed in Python (tests, notebooks) has no
Hydra logging: there ``run_log`` writes genzoo's logger to the file as well. The console is unchanged.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pytorch_lightning.utilities import rank_zero_only

#: the log file in the run folder (Hydra's name for the job log of src/train.py)
LOG_FILE = "train.log"
#: Hydra's format (its job logging writes the same file)
FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
#: what goes to the file only (the console has it already: printed, or shown by ``warnings``)
_RECORD = logging.getLogger("genzoo.run")
_RECORD.propagate = False
_RECORD.setLevel(logging.INFO)


class _FileMadeOnUse(logging.FileHandler):
    """A file handler that creates the file, and its folder, at its first line: a run refused before it says
    anything leaves nothing behind."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, delay=True, encoding="utf-8")

    def _open(self):  # noqa: ANN202
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def _file_handlers(logger: logging.Logger, path: Path) -> list[logging.FileHandler]:
    return [h for h in logger.handlers if isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path]


@contextmanager
def run_log(output_dir: str | Path) -> Iterator[Path | None]:
    """Within: ``say`` and warnings also go to ``output_dir/train.log`` (appended; created at its first line).
    Only on rank 0, as the console's lines; yields the file (None on the other ranks)."""
    if rank_zero_only.rank != 0:
        yield None
        return
    path = (Path(output_dir) / LOG_FILE).absolute()
    handler = _FileMadeOnUse(path)
    handler.setFormatter(logging.Formatter(FORMAT))
    genzoo = logging.getLogger("genzoo")
    hydra_writes_it = bool(_file_handlers(logging.getLogger(), path))
    shown = warnings.showwarning

    def show_and_record(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        shown(message, category, filename, lineno, file, line)
        _RECORD.warning("%s: %s (%s:%s)", category.__name__, message, filename, lineno)

    _RECORD.addHandler(handler)
    if not hydra_writes_it:
        genzoo.addHandler(handler)
    warnings.showwarning = show_and_record
    try:
        yield path
    finally:
        if warnings.showwarning is show_and_record:
            warnings.showwarning = shown
        _RECORD.removeHandler(handler)
        genzoo.removeHandler(handler)
        handler.close()


@rank_zero_only
def say(message: str) -> None:
    """Print once (rank 0), on stdout where the run's summary goes, and into the run's log file."""
    print(message, flush=True)
    _RECORD.info(message.strip("\n"))
