"""The guarded optimiser step every family takes, and the non-finite guard inside it.

``optimize(opt, losses, key=..., network=...)`` is one optimiser step, written once for every family
(a GAN's critic and generator steps, CycleGAN's two, a likelihood family's one):

1. the other optimisers' parameters are frozen (``toggled_optimizer``; a family with several only);
2. in ``skip_step`` mode, the buffers (BatchNorm statistics) of the nets the step runs are saved;
3. ``losses()`` runs every forward pass (and random draw) of the step and returns a dict of tensors;
4. the gradients are cleared, ``losses()[key]`` is checked (``finite_or_skip``), back-propagated
   unless skipped, and ``opt.step()`` is taken (a skipped step has no gradients: it changes nothing,
   and Lightning still counts it).

What a non-finite loss does (``model.nonfinite``): ``stop`` records, on the device, the first model
step where a watched loss was not finite, and ``raise_if_diverged`` stops the run at its next check
(logging steps and every checkpoint: no host sync on other steps); ``skip_step`` reads the check at
once (one host sync per optimiser step, the ranks agree) and skips the step, undoing step 2's buffers.

``model_step_done()`` ends a model step (the count, the schedules, the weight average); ``log_step``
logs its scalars, cheaply, and is where ``stop`` mode's check is read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import torch

from genzoo import lightning_compat
from genzoo.errors import ConfigError

#: (buffer, its saved copy) pairs, or None outside ``skip_step`` mode
Snapshot = list[tuple[torch.Tensor, torch.Tensor]] | None


class GuardedSteps:
    """Mixed into ``GenerativeModule``: the guarded step, the end of a model step, per-step logging and the
    non-finite checks. Uses the module's ``nonfinite``, ``skipped_steps``, ``_first_nonfinite``,
    ``model_step`` and ``last_metrics`` (set in its ``__init__``) and ``weight_average()``."""

    nonfinite: str
    skipped_steps: int
    model_step: int
    _first_nonfinite: dict[str, torch.Tensor]
    last_metrics: dict[str, torch.Tensor]

    def optimize(self, opt: Any, losses: Callable[[], dict[str, torch.Tensor]], *, key: str, network: str,
                 nets: Sequence[torch.nn.Module] | None = None) -> dict[str, torch.Tensor]:
        """One guarded step of ``opt`` minimising ``losses()[key]`` (see the module docstring); ``network``
        names what ``opt`` trains in the divergence message, ``nets`` the networks whose buffers a skipped
        step restores (all of the family's by default). Returns what ``losses()`` returned."""
        several = len(self.trainer.optimizers) > 1
        with self.toggled_optimizer(opt) if several else contextlib.nullcontext():
            saved = self.buffer_snapshot(*(nets or ()))
            out = losses()
            opt.zero_grad(set_to_none=True)
            if self.finite_or_skip(network, key, out[key], saved):
                self.manual_backward(out[key])
            opt.step()
        return out

    def schedulers(self) -> list[torch.optim.lr_scheduler.LRScheduler]:
        """The learning-rate schedulers, in ``configure_optimizers`` order (none, one or several)."""
        return [config.scheduler for config in self.trainer.lr_scheduler_configs]

    def model_step_done(self) -> None:
        """End of a model step: count it, advance every learning-rate schedule (once per model step: papers
        state decay in generator iterations) and update the weight average, if the family keeps one."""
        self.model_step += 1
        for sch in self.schedulers():
            sch.step()
        average = self.weight_average()
        if average is not None:
            average.update({name: getattr(self, name) for name in average.averaged})

    def log_step(self, metrics: dict[str, torch.Tensor], prog_bar: bool = True) -> None:
        """Log per-step scalars, with the model step alongside (the W&B x-axis).

        ``self.log`` costs about 1 ms a call on CPU, several times a small model's step, so scalars
        go to Lightning only on the steps its loggers write (``trainer.log_every_n_steps``) and at
        the last step. ``last_metrics`` always holds the newest values (read by callbacks).
        """
        self.last_metrics = metrics
        trainer = self.trainer
        last = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        due = lightning_compat.logs_due(trainer)
        if due or last:
            self.raise_if_diverged()
            if self.skipped_steps:
                metrics = {**metrics, "nonfinite/skipped_steps": torch.tensor(float(self.skipped_steps))}
        if due:
            self.log_dict(metrics, prog_bar=prog_bar, on_step=True, on_epoch=False)
            self.log("model_step", float(self.model_step), on_step=True, on_epoch=False)
        elif last:  # Lightning writes self.log only on its logging steps: the last step goes in directly
            from genzoo.callbacks.metrics import log_metrics_now

            if trainer.is_global_zero:
                log_metrics_now(trainer, {k: float(v) for k, v in metrics.items()}, self.model_step)

    def set_nonfinite(self, mode: str) -> None:
        if mode not in ("stop", "skip_step"):
            raise ConfigError(f"model.nonfinite={mode!r}: choose stop (end the run with a message) or skip_step "
                              "(skip optimiser steps whose loss is not finite).")
        self.nonfinite = mode

    def buffer_snapshot(self, *nets: torch.nn.Module) -> Snapshot:
        """In ``skip_step`` mode, copies of the buffers of ``nets`` (all the family's nets when none are
        named) taken before a forward pass, so a skipped step leaves no trace; None (free) otherwise."""
        if self.nonfinite != "skip_step":
            return None
        return [(b, b.detach().clone()) for net in nets or self.nets() for b in net.buffers()]

    def _any_rank(self, flag: torch.Tensor) -> torch.Tensor:
        """``flag`` summed over ranks (every rank calls this at the same point: the ranks agree)."""
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1:
            return trainer.strategy.reduce(flag, reduce_op="sum")
        return flag

    def finite_or_skip(self, network: str, name: str, loss: torch.Tensor, snapshot: Snapshot = None) -> bool:
        """Call before each optimiser step. ``stop``: record, on the device, the first model step where
        ``loss`` is not finite (the run stops at the next check) and go on; ``skip_step``: False (skip
        this step) when ``loss`` is not finite on any rank (the ranks decide together, so DDP's
        gradient all-reduce stays matched), restoring the buffers of ``snapshot``."""
        bad = (~torch.isfinite(loss.detach()).all()).float()
        if self.nonfinite == "skip_step":
            if not bool(self._any_rank(bad.reshape(1)) > 0):
                return True
            for buf, saved in snapshot or []:
                buf.copy_(saved)
            self.skipped_steps += 1
            return False
        key = f"{name} (the {network}'s loss)"
        first = self._first_nonfinite.get(key)
        if first is None:
            first = torch.full((), -1, dtype=torch.long, device=loss.device)
        self._first_nonfinite[key] = torch.where((bad > 0) & (first < 0), torch.full_like(first, self.model_step), first)
        return True

    def raise_if_diverged(self, state_dict: dict[str, Any] | None = None) -> None:
        """Stop with a clear message if a watched loss became non-finite on any rank, or a weight of
        ``state_dict`` is not finite (one host sync; every rank calls it at the same points, so all
        stop together)."""
        from genzoo.checkpoints import NonFiniteError, first_nonfinite

        keys = sorted(self._first_nonfinite)
        if keys:  # the earliest step on any rank (-1: never), per watched loss
            steps = torch.stack([self._first_nonfinite[k] for k in keys]).float()
            big = torch.where(steps < 0, torch.full_like(steps, float("inf")), steps)
            if self._trainer is not None and self._trainer.world_size > 1:
                big = self._trainer.strategy.reduce(big, reduce_op="min")
            for key, step in zip(keys, big.tolist()):
                if step != float("inf"):
                    raise NonFiniteError(
                        f"Training diverged: {key} became non-finite at model step {int(step)}, so the run stopped and "
                        "wrote no checkpoint of the diverged weights. Lower the learning rate, or set "
                        "model.nonfinite=skip_step to skip such steps.")
        if state_dict is not None:
            bad = first_nonfinite(state_dict)
            if bad is not None:
                raise NonFiniteError(
                    f"Training diverged: the weight {bad} is not finite at model step {self.model_step}, so no "
                    "checkpoint of it was written (the checkpoints on disk are the last good ones). Lower the "
                    "learning rate, or set model.nonfinite=skip_step to skip steps whose loss is not finite.")
