"""The one guarded optimiser step every family takes (``GenerativeModule.optimize``), the end of a model step
(``model_step_done``) and the weight average the contract declares (``weight_average``), on a stand-in family
of two small nets with BatchNorm, trained by a bare Trainer."""

from __future__ import annotations

import copy

import pytest
import pytorch_lightning as pl
import torch
import torch.nn as nn

from genzoo.checkpoints import NonFiniteError
from genzoo.models.base import GenerativeModule
from genzoo.models.ema import EMA

STEPS, LR = 5, 0.1


def small_net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))


class TwoNets(GenerativeModule):
    """Nets ``a`` and ``b``, one optimiser each (halving its rate every model step); both steps of a model
    step minimise the same loss, which runs through both nets; the loss is NaN at model step ``bad_step``."""

    name = "two_nets"

    def __init__(self, nonfinite: str = "stop", bad_step: int | None = None, ema_decay: float | None = None) -> None:
        super().__init__()
        self.set_nonfinite(nonfinite)
        torch.manual_seed(0)
        self.a, self.b = small_net(), small_net()
        self.ema = EMA({"a": self.a}, ema_decay) if ema_decay is not None else None
        self.bad_step = bad_step
        self.trainable: list[tuple[str, bool, bool]] = []  # (step, a trainable, b trainable) inside each step

    def weight_average(self) -> EMA | None:
        return self.ema

    def configure_optimizers(self):
        opts = [torch.optim.Adam(self.a.parameters(), lr=LR), torch.optim.Adam(self.b.parameters(), lr=LR)]
        return opts, [torch.optim.lr_scheduler.StepLR(opt, 1, gamma=0.5) for opt in opts]

    def losses(self, x: torch.Tensor, which: str) -> dict[str, torch.Tensor]:
        self.trainable.append((which, all(p.requires_grad for p in self.a.parameters()),
                               all(p.requires_grad for p in self.b.parameters())))
        loss = (self.a(x) + self.b(x) - 1).pow(2).mean()
        return {"loss": loss * float("nan") if self.model_step == self.bad_step else loss, "x_mean": x.mean()}

    def training_step(self, batch, batch_idx: int) -> None:
        opt_a, opt_b = self.optimizers()
        out = self.optimize(opt_a, lambda: self.losses(batch[0], "a"), key="loss", network="a")
        assert sorted(out) == ["loss", "x_mean"]  # what the losses returned
        self.optimize(opt_b, lambda: self.losses(batch[0], "b"), key="loss", network="b")
        self.model_step_done()


class Snapshots(pl.Callback):
    """The model's state dict and the optimisers' per-parameter state before training and after each batch."""

    def __init__(self) -> None:
        self.states: list[tuple[dict, list]] = []

    def snap(self, trainer, module) -> None:
        self.states.append((copy.deepcopy(module.state_dict()),
                            [copy.deepcopy(opt.state_dict()["state"]) for opt in trainer.optimizers]))

    def on_train_start(self, trainer, module) -> None:
        self.snap(trainer, module)

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self.snap(trainer, module)


def fit(model: TwoNets) -> Snapshots:
    snaps = Snapshots()
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(64, 3, generator=torch.Generator()
                                                                                  .manual_seed(1))), batch_size=8)
    pl.Trainer(accelerator="cpu", max_steps=2 * STEPS, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, callbacks=[snaps]).fit(model, data)
    assert model.model_step == STEPS
    return snaps


def same(x, y) -> bool:
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(same(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(same(a, b) for a, b in zip(x, y))
    return torch.equal(x, y) if torch.is_tensor(x) else x == y


def test_a_skipped_step_leaves_weights_buffers_and_optimiser_state_as_they_were():
    """skip_step at model step 2: both optimiser steps are skipped, and nothing of the model or the optimisers
    (BatchNorm statistics and Adam's moments and counts included) differs from before that step; the steps
    around it train."""
    model = TwoNets("skip_step", bad_step=2)
    states = fit(model).states
    assert same(states[3], states[2])
    for step in (0, 1, 3, 4):
        for part in (0, 1):
            assert not same(states[step + 1][part], states[step][part]), (step, part)
    assert model.skipped_steps == 2
    assert all(torch.isfinite(t).all() for t in states[-1][0].values() if t.is_floating_point())


def test_stop_records_the_first_non_finite_step_and_stops_at_the_next_check():
    model = TwoNets("stop", bad_step=2)
    fit(model)  # no check inside this loop (it runs at logging steps and checkpoints): training went on
    with pytest.raises(NonFiniteError, match=r"loss \(the a's loss\) became non-finite at model step 2,"):
        model.raise_if_diverged()


def test_each_step_trains_only_its_own_optimisers_parameters():
    """Inside the step of a's optimiser only a's parameters take gradients, then only b's; all again after."""
    model = TwoNets()
    fit(model)
    assert model.trainable == [("a", True, False), ("b", False, True)] * STEPS
    assert all(p.requires_grad for p in model.parameters() if p not in set(model.ema.parameters() if model.ema else ()))


def test_a_model_step_ends_with_the_count_the_schedules_and_the_weight_average():
    model = TwoNets(ema_decay=0.5)
    fit(model)
    assert [group["lr"] for opt in model.trainer.optimizers for group in opt.param_groups] == [LR * 0.5**STEPS] * 2
    assert model.has_average and model.ema.num_updates == STEPS
    assert model.nets() == [model.a, model.b]  # the average is not one of the family's nets
    assert not TwoNets().has_average


def test_the_families_declare_their_weight_average(compose_cfg):
    """has_average, sampling and nets() read the average from weight_average(), not from an attribute's name."""
    from genzoo.training import build_datamodule, build_model

    cases = ((["model=gan"], False), (["model=gan", "model.ema_decay=0.9"], True),
             (["model=cyclegan", "data=unpaired_digits", "model.ema_decay=0.9"], True), (["model=vae"], False))
    for overrides, averaged in cases:
        cfg = compose_cfg(*overrides, "net.generator.width=4" if "model=vae" not in overrides else "net.encoder.width=4",
                          name="_".join(overrides).replace("=", "-"))
        model = build_model(cfg, build_datamodule(cfg))
        assert model.has_average is averaged and (model.weight_average() is not None) is averaged, overrides
        if averaged:
            assert model.weight_average() not in model.nets() and isinstance(model.weight_average(), EMA)
