"""What a config key means to the spine, declared by the code that owns the key.

A family declares the ``model.*`` keys it takes in a class attribute next to its code, e.g.::

    config_keys = (Key("z_dim", integer(1), resume="refused"),
                   Key("ema_decay", OPEN_UNIT, null=True, resume="on_off_refused"))

(names relative to ``model.``; subclasses add to, or redeclare, their bases' keys), and rules across
keys in ``config_checks`` (``Check``). ``genzoo.validation`` checks the values before anything starts and
``genzoo.resume`` asks what a resumed run may change; neither lists a family's keys. Any class a config
node names with ``_target_`` (a net too) may declare ``config_keys`` the same way. This module imports
neither torch nor Lightning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from genzoo.errors import ConfigError

#: what a resumed run may do with a change of the key (``genzoo.resume``): apply it and say so; refuse it (the
#: weights or the data would not mean the same); refuse only turning it on or off (null <-> a value); ignore it
RESUME = ("applied", "refused", "on_off_refused", "silent")
#: the value of ``Key.absent`` when the key is not one added after checkpoints were written
UNSET: Any = object()
#: how ``genzoo.resume`` shows a key one of the two configs does not have
ABSENT = "<absent>"


@dataclass(frozen=True)
class Must:
    """A value rule: ``test(value)`` and what the value must be, in words (``"an integer >= 1"``)."""

    test: Callable[[Any], bool]
    text: str


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def integer(lo: int) -> Must:
    return Must(lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo, f"an integer >= {lo}")


POSITIVE = Must(lambda v: _number(v) and v > 0, "a number > 0")
NON_NEGATIVE = Must(lambda v: _number(v) and v >= 0, "a number >= 0")
OPEN_UNIT = Must(lambda v: _number(v) and 0 < v < 1, "a number in (0, 1)")


@dataclass(frozen=True)
class Key:
    """One config key (an ``fnmatch`` pattern such as ``*.lr`` matches several): its value rule (``must``;
    ``null``: null is allowed too), what a resume does with a change (``resume``, one of ``RESUME``) and, for
    a key added after checkpoints were written, ``absent``: the value a checkpoint without it meant (such a
    checkpoint resumes silently with that value). ``recorded_as``: an evaluation option's name in eval.py's
    protocol record (its own name when None)."""

    name: str
    must: Must | None = None
    null: bool = False
    resume: str = "applied"
    absent: Any = UNSET
    recorded_as: str | None = None

    def __post_init__(self) -> None:
        if self.resume not in RESUME:
            raise ValueError(f"Key({self.name!r}): resume={self.resume!r} is not one of {', '.join(RESUME)}")

    def problem(self, value: Any, shown: str) -> str | None:
        """``"<shown>=<value> must be ..."`` when ``value`` breaks the rule, else None."""
        if self.must is None or (value is None and self.null):
            return None
        if value is None or not self.must.test(value):
            return f"{shown}={value!r} must be {self.must.text}{' (or null)' if self.null else ''}"
        return None

    def same_as_absent(self, old: Any, new: Any) -> bool:
        """A checkpoint from before the key existed, resumed with the value that means what it did then."""
        return self.absent is not UNSET and all(v == ABSENT or v == self.absent for v in (old, new))

    def resume_kind(self, old: Any, new: Any) -> str:
        """"refused", "applied" or "silent" for a change from ``old`` (the checkpoint's) to ``new``."""
        if self.resume == "on_off_refused":
            return "refused" if (old is None) != (new is None) else "applied"
        return self.resume


@dataclass(frozen=True)
class Check:
    """A rule across keys: ``message`` (one line naming the keys and the fix) when ``applies(flat)`` is true
    of the flattened config (``{"model.likelihood": "bernoulli", "data.binarize": "none", ...}``)."""

    applies: Callable[[dict[str, Any]], bool]
    message: str


def binary_pixels(key: str, value: Any, fix: str) -> Check:
    """``model.<key>=<value>`` models binary pixels: refused on grey data (``data.binarize=none``)."""
    return Check(lambda flat: flat.get(f"model.{key}") == value and flat.get("data.binarize", "none") == "none",
                 f"model.{key}={value} models binary pixels, but data.binarize=none gives grey ones: set {fix}")


def declared(owner: Any, attribute: str = "config_keys") -> dict[str, Key]:
    """The keys ``owner`` (a class, or any object a ``_target_`` names) declares in ``attribute``, with those of
    its bases (a subclass's declaration of a name wins)."""
    out: dict[str, Key] = {}
    for cls in reversed(getattr(owner, "__mro__", (owner,))):
        for key in vars(cls).get(attribute, ()) if hasattr(cls, "__dict__") else ():
            out[key.name] = key
    return out


def declared_checks(owner: type) -> list[Check]:
    out: list[Check] = []
    for cls in reversed(owner.__mro__):
        out += [c for c in vars(cls).get("config_checks", ()) if c not in out]
    return out


def find(keys: dict[str, Key], name: str) -> Key | None:
    """The key declared for ``name``: by its exact name, else the first pattern that matches it."""
    if name in keys:
        return keys[name]
    return next((k for pattern, k in keys.items() if fnmatchcase(name, pattern)), None)


def target_object(target: Any) -> Any | None:
    """What a ``_target_`` names (a class or a function, its module imported), or None when it names nothing
    importable."""
    import importlib

    if not isinstance(target, str) or not target:
        return None
    parts = target.split(".")
    for i in range(len(parts) - 1, 0, -1):
        module = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as e:  # not a module: a class or function of a shorter one (another error: a bug)
            if e.name is None or not (module == e.name or module.startswith(e.name + ".")):
                raise
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


def family_class(model_cfg: Any) -> type:
    """The family class ``model._target_`` names (importing it), or a ConfigError saying it is none."""
    from genzoo.models.base import GenerativeModule

    target = model_cfg.get("_target_") if hasattr(model_cfg, "get") else None
    cls = target_object(target)
    if not (isinstance(cls, type) and issubclass(cls, GenerativeModule)):
        raise ConfigError(f"model._target_={target} is not a genzoo family class (a GenerativeModule subclass, "
                          "importable by that name).")
    return cls
