"""Exact resume: what a checkpoint holds beyond Lightning's own state, and a resumed run's changes.

Each checkpoint's ``genzoo`` entry holds the resolved run config, the family's counters (``model_step``
and whatever its schedule needs) and every global random number generator's state (torch's CPU and
CUDA generators, NumPy's and Python's, in types that ``torch.load(weights_only=True)`` accepts), so a
resumed run draws exactly what the uninterrupted run would have drawn. A resumed run's changed
optimiser hyperparameters (``genzoo.resume``) are written into the restored optimisers when training starts.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def counted_steps(counters: dict[str, int]) -> int:
    """The model step of a checkpoint's counters (``g_step`` in checkpoints before the rename)."""
    return int(counters.get("model_step", counters.get("g_step", 0)))


def _numpy_state_to_safe(state: tuple) -> dict[str, Any]:
    """NumPy's RNG state in types that ``torch.load(weights_only=True)`` accepts."""
    name, keys, pos, has_gauss, cached = state
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _numpy_state_from_safe(state: dict[str, Any]) -> tuple:
    return (state["name"], state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"], state["cached"])


def rng_state() -> dict[str, Any]:
    """The state of every global generator, now."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": _numpy_state_to_safe(np.random.get_state()),
        "python": random.getstate(),
    }


def restore_rng_state(rng: dict[str, Any]) -> None:
    """Put every global generator back in the state ``rng_state`` returned."""
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] is not None and torch.cuda.is_available():  # as many GPUs as both machines have
        for i, s in enumerate(rng["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s, i)
    np.random.set_state(_numpy_state_from_safe(rng["numpy"]))
    random.setstate(rng["python"])


class ExactResume:
    """Mixed into ``GenerativeModule``: its checkpoint hooks and the resumed run's overrides. Uses the
    module's ``model_step``, ``resume_overrides`` and ``raise_if_diverged`` (never a diverged checkpoint)."""

    model_step: int
    resume_overrides: dict[int, dict[str, Any]]

    def counters(self) -> dict[str, int]:
        return {"model_step": self.model_step}

    @staticmethod
    def model_step_of(state: dict[str, Any]) -> int:
        """The model step a checkpoint's genzoo state was saved at."""
        return counted_steps(state["counters"])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.raise_if_diverged(checkpoint.get("state_dict"))  # never a checkpoint of diverged weights
        checkpoint["genzoo"] = {
            "config": getattr(self, "run_config", None),  # the resolved run config: eval.py/sample.py rebuild from it
            "counters": self.counters(),
            "rng": rng_state(),
        }

    def restore_counters(self, checkpoint: dict[str, Any]) -> None:
        for k, v in checkpoint["genzoo"]["counters"].items():
            setattr(self, {"g_step": "model_step"}.get(k, k), v)  # g_step: checkpoints before the rename

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("genzoo")
        if state is None:
            return
        self.restore_counters(checkpoint)
        restore_rng_state(state["rng"])

    def apply_resume_overrides(self) -> None:
        """Write a resumed run's changed optimiser hyperparameters (``resume_overrides``, said at start) into the
        restored optimisers. Under a schedule the family builds itself (a ``LambdaLR``: rate = base rate x
        factor(step), CycleGAN's) a new rate becomes the schedule's base rate, so the schedule scales it from
        this step on. A configured scheduler owns the rate: ``genzoo.resume`` refuses a rate change under one."""
        opts = self.trainer.optimizers
        lambdas = {id(s.optimizer): s for s in self.schedulers() if isinstance(s, torch.optim.lr_scheduler.LambdaLR)}
        for i, hyper in self.resume_overrides.items():
            values = {k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()}
            sched = lambdas.get(id(opts[i]))
            for j, group in enumerate(opts[i].param_groups):
                group.update(values)
                if "lr" in values and sched is not None:
                    sched.base_lrs[j] = group["initial_lr"] = values["lr"]
                    group["lr"] = values["lr"] * sched.lr_lambdas[j](sched.last_epoch)
