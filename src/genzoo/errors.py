"""Errors for bad input. ``src/train.py`` prints these as one clear message, without a traceback."""


class GenzooError(Exception):
    """Base of the errors a user can fix by changing the command or the files on disk."""


class ConfigError(GenzooError, ValueError):
    """A config value, or a combination of values, that cannot work."""


class DatasetNotFoundError(GenzooError, FileNotFoundError):
    """A dataset that is not where the config says."""


def user_error(exc: BaseException | None) -> GenzooError | None:
    """The GenzooError behind ``exc`` (Hydra wraps errors raised while instantiating), or None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, GenzooError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
