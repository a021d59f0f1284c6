"""Keys a command would not use, refused before anything starts.

A key under a node that names a ``_target_`` (a family, a net, the loss, the data module, the Trainer, a
callback, a logger, an optimiser) is one of the arguments of what it names, or Hydra would fail on it
later, after the run folder exists, with a wrapped ``TypeError``. A key added with ``+key=value`` anywhere
else (``+seed_extra=1``, ``+metrics.num_sampels=...`` under ``metrics=none``) is read by nothing unless an
interpolation names it: it would be ignored, so it is refused too. Each refusal names the key, what takes
it, and the closest keys that exist.
"""

from __future__ import annotations

import difflib
import inspect
import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genzoo.config_rules import target_object
from genzoo.errors import ConfigError

#: Hydra's own keys of a node it instantiates
HYDRA_KEYS = {"_target_", "_partial_", "_convert_", "_recursive_", "_args_"}


def taken_before(path: str) -> set[str]:
    """Keys genzoo takes out of the node at ``path`` before instantiating it: the model's speed options
    (``model.compile``, ``model.channels_last``) go to ``GenerativeModule.speed_options``, not to __init__."""
    if path != "model":
        return set()
    from genzoo.models.speed import SpeedOptions

    return arguments(SpeedOptions.speed_options) or set()


def arguments(target: Any) -> set[str] | None:
    """The keyword arguments of what ``target`` names (or is), or None when it takes any or cannot be imported
    (instantiating it says what is wrong). A genzoo class whose ``__init__`` passes ``**kwargs`` on takes its
    base classes' arguments too, and a factory that names the classes its ``**kwargs`` go to (``forwards_to``,
    as the pixel-net factories do) theirs; another ``**kwargs`` (a logger's, given to its service) takes any."""
    try:
        obj = target_object(target) if isinstance(target, str) else target
    except ImportError:
        return None
    if obj is None:
        return None
    chain = [k.__dict__["__init__"] for k in obj.__mro__ if "__init__" in k.__dict__ and k is not object] \
        if isinstance(obj, type) else [obj]
    names: set[str] = set()
    for fn in chain:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names
        if forwards := getattr(fn, "forwards_to", None):
            taken = [arguments(cls) for cls in forwards]
            return None if None in taken else names.union(*taken)
        if not (isinstance(obj, type) and getattr(fn, "__module__", "").startswith("genzoo")):
            return None
    return names


def _targets(node: Any, path: str) -> list[tuple[str, str, set[str]]]:
    """(key, its node's target, the keys that node takes) for every key of a ``_target_`` node under ``node``
    that its target does not take."""
    out: list[tuple[str, str, set[str]]] = []
    if not isinstance(node, dict):
        return out
    if "_target_" in node and (takes := arguments(node["_target_"])) is not None:
        takes |= HYDRA_KEYS | taken_before(path)
        for key in node:
            if key not in takes:
                out.append((f"{path}.{key}" if path else key, str(node["_target_"]), takes - HYDRA_KEYS))
    for key, value in node.items():
        out += _targets(value, f"{path}.{key}" if path else str(key))
    return out


def did_you_mean(key: str, candidates: Any) -> str:
    """" Did you mean ...?" with up to three of ``candidates`` close to ``key``: dotted keys compared whole, or
    names beside it (in the same node) compared with its last part."""
    dotted = any("." in k for k in candidates)
    name, parent = (key, "") if dotted else (key.rsplit(".", 1)[-1], key.rsplit(".", 1)[0] + "." if "." in key else "")
    near = difflib.get_close_matches(name, sorted(k for k in candidates if k not in HYDRA_KEYS), n=3)
    return f" Did you mean {' or '.join(parent + k for k in near)}?" if near else ""


def added_keys() -> list[str]:
    """The keys this command added with ``+key=value`` (config group choices such as ``+objective=`` left
    out), from Hydra's record of the command line; none outside a Hydra command."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not HydraConfig.initialized():
        return []
    hc = HydraConfig.get()
    parsed = OverridesParser.create().parse_overrides(list(hc.overrides.task))
    return [o.key_or_group for o in parsed if o.is_add() and o.key_or_group not in hc.runtime.choices
            and not o.key_or_group.startswith("hydra.")]


def check_known_keys(cfg: DictConfig, added: list[str] | None = None) -> None:
    """Raise one ConfigError for the first key of ``cfg`` the command would not take or would ignore."""
    tree = OmegaConf.to_container(cfg, resolve=False)
    for key, target, takes in _targets(tree, ""):
        hint = did_you_mean(key, takes)
        listed = sorted(takes)
        if not listed:
            hint += " It takes none."
        elif not hint:
            hint += f" It takes {', '.join(listed[:16])}{', ...' if len(listed) > 16 else '.'}"
        raise ConfigError(f"{key}: {target} takes no argument {key.rsplit('.', 1)[-1]}, so the run could not start "
                          f"with it.{hint}")
    text = OmegaConf.to_yaml(cfg)
    for key in added_keys() if added is None else added:
        if re.search(r"\$\{\s*" + re.escape(key) + r"\s*[}.\[]", text) or _under_target(tree, key):  # read by ${key}
            continue
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        node = OmegaConf.to_container(OmegaConf.select(cfg, parent)) if parent else tree
        raise ConfigError(f"+{key}= is a key nothing in this run reads, so it would be ignored."
                          f"{did_you_mean(key, [k for k in node if k != key.rsplit('.', 1)[-1]])} "
                          "Check its name and place: `python src/train.py --cfg job` prints the composed config.")


def _under_target(tree: dict, key: str) -> bool:
    """Whether ``key`` lies in a node that names a ``_target_`` (there its target's arguments decide)."""
    node: Any = tree
    for part in key.split(".")[:-1]:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
        if isinstance(node, dict) and "_target_" in node:
            return True
    return False
