"""Config values checked before anything starts, with messages that name the key and the range.

The spine's own keys (``data.*``, ``net.*`` sizes, ``trainer.*``, ``callbacks.*``, ``metrics.*``) are in
``RULES``; the ``model.*`` keys are the family's, declared next to its code (``config_keys`` and
``config_checks`` of the class ``model._target_`` names: ``genzoo.config_rules``). Each rule is a key
pattern (``fnmatch`` over the dotted keys of the composed config), what it must be, and whether null is
allowed. Keys a config does not have are not checked.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from genzoo.config_rules import OPEN_UNIT, Key, declared, declared_checks, family_class, find, integer
from genzoo.errors import ConfigError

RULES: dict[str, Key] = {k.name: k for k in (
    Key("data.batch_size", integer(1)),
    Key("data.size", integer(1)),
    Key("data.num_workers", integer(0)),
    Key("data.num_samples", integer(1)),
    Key("data.held_out_fraction", OPEN_UNIT),
    Key("data.seq_len", integer(2)),
    Key("net.*.blocks", integer(0), null=True),
    Key("net.*.kernel", integer(1)),
    Key("net.network.hidden", integer(1)),
    Key("net.network.layers", integer(1)),
    Key("net.network.out_hidden", integer(1)),
    Key("net.*.width", integer(1)),
    Key("net.*.hidden", integer(1)),
    Key("net.*.depth", integer(0)),
    Key("trainer.max_steps", integer(-1)),
    Key("trainer.log_every_n_steps", integer(1)),
    Key("callbacks.*.every_n_steps", integer(0)),
    Key("callbacks.*.num_samples", integer(1)),
    Key("callbacks.*.batch_size", integer(1)),
    Key("callbacks.*.max_examples", integer(1), null=True),
    Key("metrics.every_n_steps", integer(0)),
    Key("metrics.num_samples", integer(2)),
    Key("metrics.num_real", integer(2), null=True),
)}


def _flat(node: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(_flat(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = node
    return out


# the packages a logger needs that genzoo does not install by default, and the extra that brings them
LOGGER_PACKAGES = {"TensorBoardLogger": (("tensorboard", "tensorboardX"), "tensorboard"),
                   "MLFlowLogger": (("mlflow",), "mlflow")}


def missing_logger_packages(cfg: DictConfig) -> list[str]:
    """One problem per chosen logger whose package is not installed (found without importing it)."""
    from importlib.util import find_spec

    problems = []
    for name, node in (cfg.get("logger") or {}).items():
        target = str(node.get("_target_", "")) if hasattr(node, "get") else ""
        need = LOGGER_PACKAGES.get(target.rsplit(".", 1)[-1])
        if need and not any(find_spec(m) for m in need[0]):
            problems.append(f"logger={name} needs the {need[0][0]} package, which is not installed: "
                            f'pip install -e ".[{need[1]}]"')
    return problems


def validate(cfg: DictConfig) -> None:
    """Raise one ConfigError listing every value out of its range (the family's ``model.*`` keys by its own
    declarations: the family class is imported here) and every rule across keys it breaks."""
    container = {k: OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_config(cfg[k]) else cfg[k]
                 for k in ("data", "model", "net", "trainer", "callbacks", "metrics") if k in cfg}
    flat = _flat(container)
    family = family_class(cfg.model) if cfg.get("model") is not None else None
    family_keys = declared(family) if family is not None else {}
    problems = []
    for key, value in flat.items():
        rule = find(family_keys, key[len("model."):]) if key.startswith("model.") else find(RULES, key)
        if rule is not None and (problem := rule.problem(value, key)):
            problems.append(problem)
    problems += [check.message for check in (declared_checks(family) if family is not None else ())
                 if check.applies(flat)]
    if not problems and (missing := missing_logger_packages(cfg)):
        raise ConfigError("; ".join(missing) + ".")
    if problems:
        raise ConfigError("; ".join(problems) + ". Fix the value on the command line (for example "
                          f"{problems[0].split('=')[0]}=<value>).")
