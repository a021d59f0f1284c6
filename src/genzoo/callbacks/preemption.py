"""Preemption: SIGTERM or Ctrl-C leaves a resumable checkpoint instead of nothing."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from genzoo import lightning_compat
from genzoo.errors import EXIT_INTERRUPTED, ConfigError

__all__ = ["EXIT_INTERRUPTED", "Preemption"]


class Preemption(pl.Callback):
    """On SIGTERM (what SLURM and other schedulers send before killing a job) or SIGINT (Ctrl-C),
    finish the current step, save a resumable ``last.ckpt`` (atomically: a kill during the write
    leaves the previous one), stop training, and let ``train.py`` finish the loggers, print the
    resume command and exit with ``EXIT_INTERRUPTED``. In one process the flag is a Python attribute,
    read after every batch at no cost. Under DDP the ranks must agree on the step they stop at, which
    takes a collective and a host read: they agree every ``every_n_steps`` model steps (one tiny
    all-reduce then; none on the steps between), so all stop at the same step, at most ``every_n_steps``
    model steps after the signal; rank 0 writes. It also turns off Lightning's own per-batch broadcast of
    Lightning's SIGTERM flag, which stays down once this callback's handler replaces Lightning's. A second
    Ctrl-C stops at once. ``train()`` puts it after the other callbacks, so the checkpoint holds what they
    did at that step (it is no Lightning ``Checkpoint`` callback, which would clash with
    ``trainer.enable_checkpointing=false``).

    Lightning's own SLURM plugin still handles SLURM's requeue signal (``#SBATCH
    --signal=SIGUSR1@90``): it saves and requeues the job; this callback then turns the SIGTERM that
    follows into a clean stop with a checkpoint.
    """

    def __init__(self, signals: tuple[str, ...] = ("SIGTERM", "SIGINT"), dirpath: str | None = None,
                 every_n_steps: int = 10) -> None:
        if not isinstance(every_n_steps, int) or isinstance(every_n_steps, bool) or every_n_steps < 1:
            raise ConfigError(f"callbacks.preemption.every_n_steps={every_n_steps!r} must be an integer >= 1: how "
                              "often (in model steps) the ranks of a multi-device run agree on a stop signal.")
        self.every_n_steps = every_n_steps
        self._agreed_at = -1
        self.signals = tuple(signals)
        self.dirpath = Path(dirpath) if dirpath else None
        self.received: str | None = None
        self.saved: Path | None = None
        self._previous: dict[int, Any] = {}
        self._trainer: pl.Trainer | None = None

    # --- signal handling ------------------------------------------------------------------------
    def _handler(self, signum: int, frame: Any) -> None:
        if self.received is not None and signum == signal.SIGINT:  # second Ctrl-C: stop now
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        if signum != signal.SIGTERM:  # Ctrl-C reaches every process of the terminal's group already
            return
        # script DDP: rank 0 launched the other ranks; make sure a SIGTERM sent to it alone reaches them
        launcher = getattr(self._trainer.strategy, "launcher", None) if self._trainer is not None else None
        for proc in getattr(launcher, "procs", None) or []:
            if proc.poll() is None:
                proc.send_signal(signum)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._trainer = trainer
        if trainer.world_size > 1:
            lightning_compat.skip_sigterm_broadcast(trainer)
        if lightning_compat.take_over_sigterm(trainer):  # arrived after Lightning's handler was set, before ours
            self.received = "SIGTERM"

        if threading.current_thread() is not threading.main_thread():
            return
        for name in self.signals:
            sig = getattr(signal, name)
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handler)

    def _restore(self) -> None:
        if self._trainer is not None:
            lightning_compat.skip_sigterm_broadcast(self._trainer, skip=False)
        for sig, handler in self._previous.items():
            if handler is not None:
                signal.signal(sig, handler)
        self._previous = {}

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore()

    # --- the stop -------------------------------------------------------------------------------
    def _checkpoint_dir(self, trainer: pl.Trainer) -> Path:
        if self.dirpath is not None:
            return self.dirpath
        for cb in trainer.callbacks:
            if isinstance(cb, ModelCheckpoint) and cb.dirpath:
                return Path(cb.dirpath)
        return Path(trainer.default_root_dir) / "checkpoints"

    def stop_now(self, trainer: pl.Trainer, pl_module) -> bool:
        """Whether every rank stops after this batch: this process's flag in one process; under DDP the
        ranks' flags summed, on the first batch of every ``every_n_steps``-th model step (False between)."""
        if trainer.world_size == 1:
            return self.received is not None
        step = pl_module.model_step
        if step % self.every_n_steps or step == self._agreed_at:
            return False
        self._agreed_at = step
        if lightning_compat.take_over_sigterm(trainer):  # Lightning's handler, if anything reinstated it
            self.received = self.received or "SIGTERM"
        flag = torch.tensor([1 if self.received else 0], device=pl_module.device)
        return bool(trainer.strategy.reduce(flag, reduce_op="sum").item() > 0)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.stop_now(trainer, pl_module):
            return
        pl_module.interrupted = self.received or "a signal to another process"
        path = self._checkpoint_dir(trainer) / "last.ckpt"
        for cb in trainer.callbacks:  # before saving: the saved callback state names this file
            if isinstance(cb, ModelCheckpoint):
                cb.last_model_path = str(path)
        trainer.save_checkpoint(path)  # every rank calls it; rank 0 writes
        self.saved = path
        trainer.should_stop = True
