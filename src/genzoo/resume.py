"""What a resumed run may change relative to the run that wrote its checkpoint.

The run config stored in every checkpoint is compared with the resumed run's, key by key:

- **refused** (the weights or the data would not mean the same): the model class and its
  structure (``model.z_dim``, ``model.conditioning``, ``model.likelihood``, ``model.levels``,
  ``model.variant``, ``model.channel_order``, ``data.palette_size``, ...), every ``net.*`` and ``loss.*`` key, the
  data set and its shape, the optimiser and scheduler classes, turning the EMA (or a VAE's learned decoder variance) on or off;
- **applied, and said**: every other model or data setting (learning rates and other optimiser
  hyperparameters, ``n_critic``, penalty weights, batch size, ...). Optimiser hyperparameters are
  written into the restored optimiser (Lightning would otherwise keep the checkpoint's values);
  a learning-rate change under a scheduler is refused, since the scheduler owns the rate;
- **silent**: run length, logging, callbacks, metrics, paths, seeds and tags.
"""

from __future__ import annotations

from typing import Any

from genzoo.errors import ConfigError

SILENT = ("trainer.", "logger.", "callbacks.", "metrics.", "paths.", "hydra.", "debug.", "experiment.")
SILENT_KEYS = {"seed", "tags", "task_name", "ckpt_path", "optimized_metric", "data.root", "data.download",
               "data.num_workers", "data.in_memory", "data.seed", "model.compatible_losses", "data.root_a", "data.root_b",
               "model.compile", "model.channels_last"}  # speed options: the same maths
STRUCTURAL = ("net.", "loss.")
STRUCTURAL_KEYS = {"model._target_", "model.name", "model.z_dim", "model.conditioning", "model.label_embed_dim",
                   "model.likelihood", "model.class_conditional", "model.levels", "model.output", "model.variant",
                   "data.palette_size", "model.pool_size", "data.held_out_fraction_a", "data.held_out_fraction_b",
                   "data._target_", "data.size", "data.channels", "data.name", "data.crop", "data.split",
                   "data.held_out_fraction", "net", "loss"}


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out or {prefix[:-1]: {}}
    return {prefix[:-1]: node}


def _kind(key: str, old: Any, new: Any) -> str:
    # keys added after checkpoints were written: absent means the value that keeps their old meaning
    if key.endswith("generator.upsample"):  # checkpoints from before the key up-sampled by transposed convolutions
        return "silent" if {old, new} <= {"<absent>", "transpose"} else "refused"
    if key == "model.encoder_input":  # what the encoder's first layer was trained on; before the key: [-1, 1]
        return "silent" if {old, new} <= {"<absent>", "signed"} else "refused"
    if key in SILENT_KEYS or key.startswith(SILENT):
        return "silent"
    if key.startswith("data.") and key.count(".") > 1 and key.rsplit(".", 1)[-1] in ("seed", "num_workers", "batch_size"):
        return "silent"  # the settings of an unpaired dataset's domains that do not change their images
    if key in STRUCTURAL_KEYS or key.startswith(STRUCTURAL) or key.endswith("._target_") or (
            key.startswith("data.") and key.count(".") > 1 and "data." + key.rsplit(".", 1)[-1] in STRUCTURAL_KEYS):
        return "refused"
    if key in ("model.ema_decay", "model.gaussian_std") and (old is None) != (new is None):
        return "refused"
    if key == "model.channel_order":  # the nets' masks; checkpoints from before the key predicted channels jointly
        return "silent" if {old, new} <= {"<absent>", "joint"} else "refused"
    return "applied"


def compare(stored: dict[str, Any], current: dict[str, Any]) -> tuple[list[str], list[tuple[str, Any, Any]]]:
    """(refused differences as text, applied differences as (key, checkpoint value, new value))."""
    a, b = flatten(stored), flatten(current)
    refused, applied = [], []
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key, "<absent>"), b.get(key, "<absent>")
        if old == new:
            continue
        kind = _kind(key, old, new)
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
