"""What a resumed run may change relative to the run that wrote its checkpoint.

The run config stored in every checkpoint is compared with the resumed run's, key by key:

- **refused** (the weights or the data would not mean the same): the model class and the keys its family
  declares structural (``model.z_dim``, ``model.levels``, ...), every ``net.*`` and ``loss.*`` key, the data
  set and its shape (``data.palette_size`` too), the optimiser and scheduler classes (any ``._target_``);
  turning on or off what a family declares so (its EMA, a VAE's learned decoder variance);
- **applied, and said**: every other model or data setting (learning rates and other optimiser
  hyperparameters, ``n_critic``, penalty weights, batch size, ...). Optimiser hyperparameters are
  written into the restored optimiser (Lightning would otherwise keep the checkpoint's values);
  a learning-rate change under a scheduler is refused, since the scheduler owns the rate;
- **silent**: run length, logging, callbacks, metrics, paths, seeds and tags, and what a family declares so.

What a ``model.*`` key is, the family says (``config_keys`` of the class ``model._target_`` names,
``genzoo.config_rules``); a net says the same of its own keys. A key added after checkpoints were written
declares ``absent``: the value that a checkpoint without it meant, which then resumes silently.
"""

from __future__ import annotations

from typing import Any

from genzoo.config_rules import ABSENT, Key, declared, find, target_object
from genzoo.errors import ConfigError

SILENT = ("trainer.", "logger.", "callbacks.", "metrics.", "paths.", "hydra.", "debug.", "experiment.")
SILENT_KEYS = {"seed", "tags", "task_name", "ckpt_path", "optimized_metric", "data.root", "data.download",
               "data.num_workers", "data.in_memory", "data.seed", "data.root_a", "data.root_b"}
STRUCTURAL = ("net.", "loss.")
STRUCTURAL_KEYS = {"data.palette_size", "data.held_out_fraction_a", "data.held_out_fraction_b", "data._target_",
                   "data.size", "data.channels", "data.name", "data.crop", "data.split", "data.held_out_fraction",
                   "net", "loss"}


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: node}


class Declarations:
    """The declared ``Key`` of a dotted key: asked of the class named by the ``_target_`` of the nearest config
    node above it that declares the key (the new config's target, else the checkpoint's)."""

    def __init__(self, stored: dict[str, Any], current: dict[str, Any]) -> None:
        self.stored, self.current = stored, current
        self._keys: dict[str, dict[str, Key]] = {}

    def _declared_at(self, node: str) -> dict[str, Key]:
        if node not in self._keys:
            target = self.current.get(f"{node}._target_", self.stored.get(f"{node}._target_"))
            owner = target_object(target)
            if owner is None and node == "model" and target is not None:  # its structural keys would go unchecked
                raise ConfigError(f"model._target_={target} cannot be imported, so what a resume may change is unknown.")
            self._keys[node] = declared(owner) if owner is not None else {}
        return self._keys[node]

    def key(self, key: str) -> Key | None:
        parts = key.split(".")
        for i in range(len(parts) - 1, 0, -1):
            found = find(self._declared_at(".".join(parts[:i])), ".".join(parts[i:]))
            if found is not None:
                return found
        return None


def _kind(key: str, old: Any, new: Any, declarations: Declarations) -> str:
    if key in SILENT_KEYS or key.startswith(SILENT):
        return "silent"
    declared_key = declarations.key(key)
    if declared_key is not None and declared_key.same_as_absent(old, new):
        return "silent"
    if key.startswith("data.") and key.count(".") > 1 and key.rsplit(".", 1)[-1] in ("seed", "num_workers", "batch_size"):
        return "silent"  # the settings of an unpaired dataset's domains that do not change their images
    if key in STRUCTURAL_KEYS or key.startswith(STRUCTURAL) or key.endswith("._target_") or (
            key.startswith("data.") and key.count(".") > 1 and "data." + key.rsplit(".", 1)[-1] in STRUCTURAL_KEYS):
        return "refused"
    return declared_key.resume_kind(old, new) if declared_key is not None else "applied"


def compare(stored: dict[str, Any], current: dict[str, Any]) -> tuple[list[str], list[tuple[str, Any, Any]]]:
    """(refused differences as text, applied differences as (key, checkpoint value, new value))."""
    a, b = flatten(stored), flatten(current)
    declarations = Declarations(a, b)
    refused, applied = [], []
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key, ABSENT), b.get(key, ABSENT)
        if old == new:
            continue
        kind = _kind(key, old, new, declarations)
        if kind == "refused":
            refused.append(f"{key}: {old} in the checkpoint, {new} now")
        elif kind == "applied":
            applied.append((key, old, new))
    return refused, applied


def check(stored: dict[str, Any], current: dict[str, Any], ckpt_path: str,
          optimizer_keys: tuple[str, ...], scheduled: tuple[str, ...]) -> tuple[list[str], dict[int, dict[str, Any]]]:
    """Refuse structural changes (ConfigError naming them); return the lines that say what is applied
    and, per optimiser index, the hyperparameters to write into the restored optimiser."""
    refused, applied = compare(stored, current)
    if refused:
        raise ConfigError(f"ckpt_path={ckpt_path} was written by a run that differs in what the weights mean, so it "
                          f"cannot be resumed with this config: {'; '.join(refused[:4])}"
                          f"{' ...' if len(refused) > 4 else ''}. Resume with the checkpoint's settings (its "
                          ".hydra/config.yaml), or start a new run.")
    said, overrides = [], {}
    for key, old, new in applied:
        parts = key.split(".")
        if len(parts) >= 3 and parts[0] == "model" and parts[1] in optimizer_keys:
            hyper = parts[2]
            if hyper == "lr" and parts[1] in scheduled:  # the optimisers whose rate a scheduler owns
                raise ConfigError(f"{key} changed ({old} -> {new}) but the run has a learning-rate scheduler, which "
                                  "owns the rate on resume. Resume with the checkpoint's learning rate.")
            if len(parts) == 3 and not hyper.startswith("_"):
                overrides.setdefault(optimizer_keys.index(parts[1]), {})[hyper] = new
        said.append(f"{key}={new} (the checkpoint had {old})")
    return said, overrides
