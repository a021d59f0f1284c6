"""Every private Lightning attribute genzoo reads, writes or overrides, in one place: nothing else in
genzoo touches a Lightning name that starts with ``_``.

Lightning offers no public API for these; each accessor below names what it means, and
``tests/test_lightning_compat.py`` checks that each still exists in the installed Lightning and means
what genzoo assumes (on a real ``Trainer`` or logger), so a Lightning upgrade that changes one fails that
test instead of silently mislabelling logs, losing CSV rows or misnaming checkpoints. Releases known to
work: pytorch-lightning 2.6 (the pin in pyproject.toml; 2.6 added fit(weights_only=)).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported by the preflight checks, which must not pay for importing Lightning
    import pytorch_lightning as pl
    import torch

KNOWN_GOOD = ("2.6",)


def logs_due(trainer: pl.Trainer) -> bool:
    """True on the steps where the loggers write (``trainer.log_every_n_steps``): ``self.log`` is
    worth its cost (about 1 ms a call) only then."""
    return bool(trainer._logger_connector.should_update_logs)


def logger_step(trainer: pl.Trainer) -> int:
    """The step index Lightning passes to ``logger.log_metrics`` for what ``self.log`` records now
    (the number of optimizer-stepping batches so far), so rows logged outside ``self.log`` land on
    the same x-axis as the rest."""
    return int(trainer.fit_loop.epoch_loop._batches_that_stepped)


def save_checkpoint_now(callback: Any, trainer: pl.Trainer, candidates: dict[str, torch.Tensor]) -> None:
    """Make a ``ModelCheckpoint`` save its top-k and ``last`` checkpoints now, with ``candidates``
    (the values ``filename`` may format), whatever its own cadence says."""
    callback._save_topk_checkpoint(trainer, candidates)
    callback._save_last_checkpoint(trainer, candidates)


def checkpoint_skips(callback: Any, trainer: pl.Trainer) -> bool:
    """``ModelCheckpoint``'s own reasons not to save now (fast_dev_run, sanity checking, a step it
    has already saved)."""
    return bool(callback._should_skip_saving_checkpoint(trainer))


def monitor_candidates(callback: Any, trainer: pl.Trainer) -> dict[str, torch.Tensor]:
    return dict(callback._monitor_candidates(trainer))


def checkpoint_logger_step(checkpoint: dict[str, Any]) -> int | None:
    """``logger_step`` at the moment ``checkpoint`` was saved (from the fit loop's saved state)."""
    try:
        return int(checkpoint["loops"]["fit_loop"]["epoch_loop.state_dict"]["_batches_that_stepped"])
    except (KeyError, TypeError, ValueError):
        return None


def take_over_sigterm(trainer: pl.Trainer) -> bool:
    """True if Lightning's own SIGTERM handler saw a signal (before genzoo's was installed); clears
    Lightning's flag so that genzoo's clean stop handles it instead of Lightning's SIGTERMException."""
    seen = bool(trainer.received_sigterm)
    trainer._signal_connector.received_sigterm = False
    return seen


def skip_sigterm_broadcast(trainer: pl.Trainer, skip: bool = True) -> None:
    """Under DDP, Lightning broadcasts rank 0's SIGTERM flag before every training batch and reads it on
    the host (a collective and a host sync per batch). ``genzoo.callbacks.Preemption`` replaces
    Lightning's SIGTERM handler and agrees on signals itself, on a cadence, so the broadcast only ever
    sends a zero: ``skip=True`` turns it off for this trainer's fit loop, ``skip=False`` turns it back on."""
    loop = trainer.fit_loop.epoch_loop
    if skip and hasattr(loop, "_broadcast_sigterm_tensor"):
        loop._broadcast_sigterm_tensor = lambda: None  # an instance attribute: shadows the method
    elif not skip:
        loop.__dict__.pop("_broadcast_sigterm_tensor", None)


def attached_trainer(module: pl.LightningModule) -> pl.Trainer | None:
    """The Trainer ``module`` is attached to, or None (``module.trainer`` raises when there is none)."""
    return module._trainer


# --- loggers (genzoo.loggers) ---------------------------------------------------------------------------
#: the ``ExperimentWriter`` (CSV) method Lightning calls when a writer starts: Lightning's deletes an existing
#: ``metrics.csv`` there; genzoo's writer overrides it to read the rows a resumed run had written
CSV_WRITER_START = "_check_log_dir_exists"


def record_new_keys(writer: Any) -> None:
    """Let a CSV ``ExperimentWriter`` add the columns of its new rows to its header (before a save)."""
    writer._record_new_keys()


def csv_experiment(logger: Any, make_writer: Any) -> Any:
    """What Lightning's ``CSVLogger.experiment`` does (create the log folder and the writer once), with
    ``make_writer(log_dir=...)`` making the writer."""
    if logger._experiment is None:
        logger._fs.makedirs(logger.root_dir, exist_ok=True)
        logger._experiment = make_writer(log_dir=logger.log_dir)
    return logger._experiment


def started_experiment(logger: Any) -> Any | None:
    """A logger's experiment (a W&B run) if it was started, else None: without starting it, as
    ``logger.experiment`` would."""
    return logger._experiment


def wandb_init_arguments(logger: Any) -> dict[str, Any]:
    """The keyword arguments a ``WandbLogger`` will pass to ``wandb.init`` (the dict itself: editable until
    the run starts)."""
    return logger._wandb_init


def format_summary_table(*args: Any) -> str:
    """Lightning's text table of a model summary (``ModelSummary`` prints it): the totals, then the columns."""
    from pytorch_lightning.utilities.model_summary.model_summary import _format_summary_table

    return _format_summary_table(*args)


def plain_cuda_check_without_gpus() -> None:
    """Undo Lightning's NVML-based CUDA check on a machine where NVML finds no GPU.

    Importing Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (so that asking whether CUDA is available
    does not initialise CUDA before a fork). torch caches its device count only once CUDA is initialised, so
    without a GPU every ``torch.cuda.is_available()`` then loads the NVML library again, and torch's
    optimisers ask on every ``step()`` (their graph-capture check): about 0.15 ms an optimiser step on CPU,
    a few per cent of a small model's step. With no GPU there is nothing to initialise, and torch's plain
    check (answered once, then cached) gives the same answer. A machine with a GPU is left as it is.
    """
    import os

    import torch

    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and torch.cuda.device_count() == 0:
        del os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"]

