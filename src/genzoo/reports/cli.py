"""What every report's command line shares: the sweep's folder(s) and ``--out``, and bad input (a folder
that is not a sweep's, a checkpoint that is not genzoo's) as one line and exit 2, as the entry points do."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

#: where the reports write by default: the repository's recorded results, when run from its root
RESULTS = Path("results")


def report_parser(doc: str | None, several: bool = True) -> argparse.ArgumentParser:
    """A report's command line: the sweep's folder(s) (``roots``; ``root`` when it reads one) and ``--out``."""
    p = parser(doc)
    if several:
        p.add_argument("roots", type=Path, nargs="+", help="multirun folders (or run folders) of the sweep")
    else:
        p.add_argument("root", type=Path, help="the sweep's multirun folder")
    return p


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser whose help is the report's docstring, with ``--out`` (default ``results/``)."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=RESULTS, help=f"folder written to (default: {RESULTS}/)")
    return p


def run_report(main: Callable[[list[str] | None], None], argv: list[str] | None = None) -> None:
    """Run a report's ``main``: a bad input is one line and exit 2, a bug keeps its traceback."""
    from genzoo.errors import exit_on_user_error

    try:
        main(argv)
    except Exception as exc:
        exit_on_user_error(exc)
