"""Numeric config values checked before anything starts, with messages that name the key and the range.

Each rule is a key pattern (``fnmatch`` over the dotted keys of the composed config), what it must
be, and whether null is allowed. Keys a config does not have are not checked.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genzoo.errors import ConfigError


def _int(lo: int) -> tuple[Any, str]:
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo), f"an integer >= {lo}"


def _positive() -> tuple[Any, str]:
    return (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0), "a number > 0"


def _non_negative() -> tuple[Any, str]:
    return (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0), "a number >= 0"


def _open_unit() -> tuple[Any, str]:
    return (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1), "a number in (0, 1)"


# (pattern, (check, what it must be), null allowed)
RULES: list[tuple[str, tuple[Any, str], bool]] = [
    ("data.batch_size", _int(1), False),
    ("data.size", _int(1), False),
    ("data.num_workers", _int(0), False),
    ("data.num_samples", _int(1), False),
    ("data.held_out_fraction", _open_unit(), False),
    ("data.seq_len", _int(2), False),
    ("net.*.blocks", _int(0), True),
    ("net.*.kernel", _int(1), False),
    ("model.z_dim", _int(1), False),
    ("model.n_critic", _int(1), False),
    ("model.g_batch_size", _int(1), True),
    ("model.label_embed_dim", _int(1), False),
    ("model.ema_decay", _open_unit(), True),
    ("model.*.lr", _positive(), False),
    ("model.*.weight_decay", _non_negative(), False),
    ("model.penalty_weight", _non_negative(), False),
    ("model.clip_value", _positive(), False),
    ("model.beta", _non_negative(), False),
    ("model.kl_warmup_steps", _int(0), False),
    ("model.train_samples", _int(1), False),
    ("model.iw_samples", _int(1), False),
    ("model.iw_samples_train", _int(1), False),
    ("model.gaussian_std", _positive(), True),
    ("model.levels", _int(2), False),
    ("model.temperature", _positive(), False),
    ("model.completions_per_image", _int(1), False),
    ("net.network.hidden", _int(1), False),
    ("net.network.layers", _int(1), False),
    ("net.network.out_hidden", _int(1), False),
    ("net.*.width", _int(1), False),
    ("net.*.hidden", _int(1), False),
    ("net.*.depth", _int(0), False),
    ("trainer.max_steps", _int(-1), False),
    ("trainer.log_every_n_steps", _int(1), False),
    ("callbacks.*.every_n_steps", _int(0), False),
    ("callbacks.*.num_samples", _int(1), False),
    ("callbacks.*.batch_size", _int(1), False),
    ("callbacks.*.max_examples", _int(1), True),
    ("metrics.every_n_steps", _int(0), False),
    ("metrics.num_samples", _int(2), False),
    ("metrics.num_real", _int(2), True),
]


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
    """Raise one ConfigError listing every numeric value out of its range."""
    container = {k: OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_config(cfg[k]) else cfg[k]
                 for k in ("data", "model", "net", "trainer", "callbacks", "metrics") if k in cfg}
    flat = _flat(container)
    problems = []
    for key, value in flat.items():
        for pattern, (ok, what), nullable in RULES:
            if fnmatchcase(key, pattern):
                if value is None and nullable:
                    break
                if value is None or not ok(value):
                    problems.append(f"{key}={value!r} must be {what}{' (or null)' if nullable else ''}")
                break
    if flat.get("model.likelihood") == "bernoulli" and flat.get("data.binarize", "none") == "none":
        problems.append("model.likelihood=bernoulli models binary pixels, but data.binarize=none gives grey ones: set "
                        "data.binarize=dynamic (the IWAE protocol) or static, or use model.likelihood=logistic|gaussian")
    if flat.get("model.levels") == 2 and flat.get("data.binarize", "none") == "none":
        problems.append("model.levels=2 models binary pixels, but data.binarize=none gives grey ones: set "
                        "data.binarize=static (the PixelRNN paper's MNIST protocol) or dynamic, or use model.levels=256")
    if not problems and (missing := missing_logger_packages(cfg)):
        raise ConfigError("; ".join(missing) + ".")
    if problems:
        raise ConfigError("; ".join(problems) + ". Fix the value on the command line (for example "
                          f"{problems[0].split('=')[0]}=<value>).")
