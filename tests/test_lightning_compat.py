"""The meaning of every private Lightning attribute genzoo reads (``genzoo.lightning_compat``).

If a Lightning release changes what one of them means, this fails instead of genzoo logging on
the wrong steps, writing rows at the wrong x or saving checkpoints under the wrong names.
"""

from __future__ import annotations

import csv

import pytest
import pytorch_lightning as pl
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset

from genzoo import lightning_compat


class TwoOptimisers(pl.LightningModule):
    """Manual optimisation, two optimiser steps per batch (a GAN's shape)."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.a, self.b = nn.Linear(2, 1), nn.Linear(2, 1)
        self.due: list[int] = []
        self.steps_seen: list[int] = []

    def configure_optimizers(self):
        return [torch.optim.SGD(self.a.parameters(), lr=0.1), torch.optim.SGD(self.b.parameters(), lr=0.1)]

    def training_step(self, batch, batch_idx):
        self.steps_seen.append(lightning_compat.logger_step(self.trainer))
        if lightning_compat.logs_due(self.trainer):
            self.due.append(batch_idx + 1)
            self.log("x", float(batch_idx))
        for opt, net in zip(self.optimizers(), (self.a, self.b)):
            opt.zero_grad()
            self.manual_backward(net(batch[0]).pow(2).mean())
            opt.step()


def test_known_good_version():
    major_minor = ".".join(pl.__version__.split(".")[:2])
    assert major_minor in lightning_compat.KNOWN_GOOD, (
        f"pytorch-lightning {pl.__version__} is not among the releases genzoo is checked against "
        f"{lightning_compat.KNOWN_GOOD}: run this file, then add it to KNOWN_GOOD and the pin")


def test_logs_due_and_logger_step_mean_what_genzoo_assumes(tmp_path):
    module = TwoOptimisers()
    loader = DataLoader(TensorDataset(torch.randn(40, 2)), batch_size=4)
    trainer = pl.Trainer(max_epochs=1, log_every_n_steps=3, logger=pl.loggers.CSVLogger(tmp_path, name="", version=""),
                         enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(module, loader)
    # logs_due: exactly on batches 3, 6, 9 (every log_every_n_steps batches), in manual optimisation too
    assert module.due == [3, 6, 9]
    # logger_step: the number of batches already finished (0, 1, ...), not the optimiser-step count (2 per batch)
    assert module.steps_seen == list(range(10)) and trainer.global_step == 20
    # and it is the step the CSV logger writes for what self.log records then
    with open(tmp_path / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("x")]
    assert [int(r["step"]) for r in rows] == [2, 5, 8]
    assert [float(r["x"]) for r in rows] == [2.0, 5.0, 8.0]


def test_checkpoint_internals_save_now_with_our_names(tmp_path):
    from pytorch_lightning.callbacks import ModelCheckpoint

    class SaveAtTwo(pl.Callback):
        def __init__(self, cb):
            self.cb = cb

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if batch_idx == 1:
                assert not lightning_compat.checkpoint_skips(self.cb, trainer)
                cands = lightning_compat.monitor_candidates(self.cb, trainer)
                cands["model_step"] = torch.tensor(7)
                self.logger_step = lightning_compat.logger_step(trainer)
                lightning_compat.save_checkpoint_now(self.cb, trainer, cands)

    ckpt = ModelCheckpoint(dirpath=tmp_path, filename="g{model_step:07.0f}", auto_insert_metric_name=False,
                           save_top_k=-1, save_last=True, every_n_train_steps=0, every_n_epochs=0,
                           save_on_train_epoch_end=False)
    at_two = SaveAtTwo(ckpt)
    trainer = pl.Trainer(max_steps=6, logger=False, callbacks=[ckpt, at_two], enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(TwoOptimisers(), DataLoader(TensorDataset(torch.randn(40, 2)), batch_size=4))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g0000007.ckpt", "last.ckpt"]
    saved = torch.load(tmp_path / "g0000007.ckpt", weights_only=True)
    assert saved["global_step"] == 4  # two batches of two optimiser steps
    # the logger step the checkpoint was saved at, read back from the fit loop's saved state
    assert lightning_compat.checkpoint_logger_step(saved) == at_two.logger_step


@pytest.mark.parametrize("every,expected", [(3, [3, 6]), (0, [])])
def test_the_one_cadence_rule(every, expected):
    from genzoo.callbacks.images import due

    assert [s for s in range(0, 8) if due(s, every)] == expected


def test_sigterm_flag_is_lightnings_and_can_be_taken_over():
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    assert not lightning_compat.take_over_sigterm(trainer)
    trainer._signal_connector.received_sigterm = True  # what Lightning's handler sets on SIGTERM
    assert trainer.received_sigterm and lightning_compat.take_over_sigterm(trainer)
    assert not trainer.received_sigterm  # so Lightning's loop raises no SIGTERMException


def test_the_csv_writers_start_is_where_lightning_deletes_a_metrics_file_and_genzoos_keeps_it(tmp_path):
    """CSV_WRITER_START is the ExperimentWriter method that runs when a writer starts and deletes an existing
    metrics.csv; genzoo's writer, installed under that name, reads the rows instead. record_new_keys and
    csv_experiment are the writer's header update and CSVLogger.experiment, as Lightning has them."""
    from pytorch_lightning.loggers import CSVLogger
    from pytorch_lightning.loggers.csv_logs import ExperimentWriter

    from genzoo.loggers import KeepingExperimentWriter

    assert callable(getattr(ExperimentWriter, lightning_compat.CSV_WRITER_START))
    assert getattr(KeepingExperimentWriter, lightning_compat.CSV_WRITER_START) is KeepingExperimentWriter.read_existing_rows
    (tmp_path / "metrics.csv").write_text("step,x\n0,1.0\n")
    with pytest.warns(UserWarning, match="exist"):
        ExperimentWriter(str(tmp_path))
    assert not (tmp_path / "metrics.csv").exists()
    (tmp_path / "metrics.csv").write_text("step,x\n0,1.0\n")
    kept = KeepingExperimentWriter(str(tmp_path))
    assert kept.rows == [{"step": "0", "x": "1.0"}]
    kept.log_metrics({"y": 2.0}, step=1)
    lightning_compat.record_new_keys(kept)
    assert kept.metrics_keys == ["step", "x", "y"]

    logger = CSVLogger(str(tmp_path / "logs"), name="", version="")
    assert lightning_compat.started_experiment(logger) is None  # created on first use only
    writer = lightning_compat.csv_experiment(logger, KeepingExperimentWriter)
    assert isinstance(writer, KeepingExperimentWriter) and logger.experiment is writer
    assert lightning_compat.started_experiment(logger) is writer and writer.log_dir == logger.log_dir


def test_wandb_init_arguments_are_what_wandb_init_gets_and_the_run_starts_lazily(tmp_path, monkeypatch):
    from pytorch_lightning.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = WandbLogger(save_dir=str(tmp_path), project="p", mode="offline", tags=["t"])
    init = lightning_compat.wandb_init_arguments(logger)
    assert init["mode"] == "offline" and init["project"] == "p" and init["tags"] == ["t"]
    assert lightning_compat.started_experiment(logger) is None
    started = {}
    monkeypatch.setattr("wandb.init", lambda **kwargs: started.update(kwargs) or __import__("types").SimpleNamespace(
        define_metric=lambda *a, **k: None, _attach_id=None))
    init["tags"] = ["edited"]  # the dict itself: an edit before the start reaches wandb.init
    run = logger.experiment
    assert started["tags"] == ["edited"] and lightning_compat.started_experiment(logger) is run


def test_attached_trainer_is_the_trainer_fitting_the_module():
    module = TwoOptimisers()
    assert lightning_compat.attached_trainer(module) is None
    trainer = pl.Trainer(max_steps=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False)
    trainer.fit(module, DataLoader(TensorDataset(torch.randn(8, 2)), batch_size=4))
    assert lightning_compat.attached_trainer(module) is trainer is module.trainer


def test_the_sigterm_broadcast_can_be_skipped_and_restored():
    """skip_sigterm_broadcast shadows the epoch loop's _broadcast_sigterm_tensor (Lightning's per-batch
    collective) with a no-op, and restores the method."""
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    loop = trainer.fit_loop.epoch_loop
    method = type(loop)._broadcast_sigterm_tensor
    lightning_compat.skip_sigterm_broadcast(trainer)
    assert loop._broadcast_sigterm_tensor() is None and "_broadcast_sigterm_tensor" in vars(loop)
    lightning_compat.skip_sigterm_broadcast(trainer, skip=False)
    assert "_broadcast_sigterm_tensor" not in vars(loop) and loop._broadcast_sigterm_tensor.__func__ is method


def test_the_model_summary_table_is_lightnings_text():
    table = lightning_compat.format_summary_table(1000, 600, 0.004, {"train": 2, "eval": 0}, 0, ("Name", ["net"]),
                                                  ("Params", ["1.0 K"]))
    assert "net" in table and "1.0 K" in table and "Trainable params" in table


def test_no_module_but_lightning_compat_imports_a_private_lightning_name():
    """A private Lightning name is reached through genzoo.lightning_compat only (so this file checks it)."""
    import ast
    from pathlib import Path

    offenders = []
    for path in sorted((Path(__file__).resolve().parents[1] / "src" / "genzoo").rglob("*.py")):
        if path.name == "lightning_compat.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                    "pytorch_lightning", "lightning_fabric", "lightning"):
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private or any(p.startswith("_") for p in node.module.split(".")):
                    offenders.append(f"{path.name}: from {node.module} import {', '.join(private) or '...'}")
    assert not offenders, offenders
