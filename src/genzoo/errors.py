"""Errors for bad input. The entry points (``src/train.py``, ``eval.py``, ``sample.py``) print
these as one clear line, without a traceback, and exit with status 2 (``exit_on_user_error``);
anything else is a genuine bug and keeps its traceback (``HYDRA_FULL_ERROR=1`` for the whole one)."""

import errno
import sys


class GenzooError(Exception):
    """Base of the errors a user can fix by changing the command or the files on disk."""


class ConfigError(GenzooError, ValueError):
    """A config value, or a combination of values, that cannot work."""


class DatasetNotFoundError(GenzooError, FileNotFoundError):
    """A dataset that is not where the config says."""


#: exit status of a run stopped by SIGTERM/SIGINT after saving its checkpoint: "interrupted,
#: resumable" (EX_TEMPFAIL of sysexits.h: a temporary failure, try again)
EXIT_INTERRUPTED = 75

#: OSError numbers that are the machine's state, not a bug: a full disk, a quota, a read-only folder
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}


def user_error(exc: BaseException | None) -> GenzooError | None:
    """The GenzooError behind ``exc`` (Hydra wraps errors raised while instantiating), a full disk
    as one, or None (a genuine bug: the caller shows its traceback)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, GenzooError):
            return exc
        if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
            where = f" {exc.filename}" if exc.filename else ""
            return GenzooError(f"Could not write{where}: {exc.strerror}. Free space or write elsewhere "
                               "(paths.log_dir=...); the files written before are intact.")
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def exit_on_user_error(exc: BaseException) -> None:
    """Called by an entry point with what it caught: a user error becomes one line and exit 2;
    anything else is re-raised (a bug: its traceback is wanted)."""
    err = user_error(exc)
    if err is None:
        raise exc
    from genzoo.run_record import forget_refused_run

    forget_refused_run()  # a refused command leaves no run folder (or new file in one) behind
    print(f"\nError: {err}", file=sys.stderr)
    sys.exit(2)
