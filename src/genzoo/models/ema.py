"""An exponential moving average of any set of networks, resumed exactly with the model.

``EMA({"generator": g})`` keeps an averaged copy of each network (a submodule, so it is in the
model's state dict and in every checkpoint). ``update(nets)`` after each model step; the first
update copies the weights, later ones average with decay ``min(decay, (1 + n) / (10 + n))`` after
n updates so far (TensorFlow's num_updates warm-up, so short runs are not dominated by the
initial weights). Used by the adversarial family for its generator, and by any family that wants a
weight average (CycleGAN's two generators, a VAE or PixelCNN): the family returns it from
``weight_average()`` and keys it by the attribute names of the nets it averages, which
``GenerativeModule.model_step_done`` updates it from.

Not torch's ``AveragedModel`` + ``get_ema_multi_avg_fn`` nor Lightning's ``WeightAveraging``: a constant decay, no standing
statistics, a host read of ``n_averaged`` per update, other checkpoint keys; and ``WeightAveraging`` swaps the average in.

With ``standing_statistics`` (the adversarial family's generator), normalisation statistics are
not averaged: an average of the live network's BatchNorm running
statistics does not describe the activations of the averaged weights (averaging weights does not
average activation statistics), and in eval mode that mismatch shows as worse samples and, in
WGAN-GP runs, a lattice of bright dots. Instead ``recalibrate(name, forward)`` recomputes them for
the averaged weights themselves ("standing statistics", Brock et al. 2019): the running statistics
are reset and accumulated as exact averages over the batches ``forward`` runs through the averaged
net in train mode. The family calls it before it samples from the average; it is recomputed only
after an update (and after a restore), and ``forward`` draws from a private seeded generator, so
the result is a function of the averaged weights and resume stays exact. Nets without BatchNorm
skip it. Without it, floating buffers are averaged like the weights. Integer buffers follow the live
network.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping

import torch
import torch.nn as nn

from genzoo.config_rules import OPEN_UNIT, Key
from genzoo.errors import ConfigError

_NORMS = (nn.modules.batchnorm._BatchNorm,)


class EMA(nn.Module):
    #: the key of a family that keeps one (null: none); turning it on or off changes the checkpoint's weights
    config_key = Key("ema_decay", OPEN_UNIT, null=True, resume="on_off_refused")

    def __init__(self, nets: Mapping[str, nn.Module], decay: float, standing_statistics: bool = False) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"model.ema_decay must be in (0, 1) or null, got {decay}.")
        self.decay = decay
        self.averaged = nn.ModuleDict({k: copy.deepcopy(v).requires_grad_(False) for k, v in nets.items()})
        self.num_updates = 0
        self._calibrated: set[str] = set()  # nets whose normalisation statistics fit the current average
        #: True: the family recomputes normalisation statistics with ``recalibrate`` before it samples;
        #: False: they are averaged like the weights (for families that cannot run the net on their own)
        self.standing_statistics = standing_statistics

    def factor(self, num_updates: int) -> float:
        """Weight of the old average in the update that follows ``num_updates`` earlier ones."""
        return min(self.decay, (1.0 + num_updates) / (10.0 + num_updates))

    def __getitem__(self, name: str) -> nn.Module:
        return self.averaged[name]

    @torch.no_grad()
    def update(self, nets: Mapping[str, nn.Module]) -> None:
        d = 0.0 if self.num_updates == 0 else self.factor(self.num_updates)
        for name, net in nets.items():
            avg = self.averaged[name]
            params = [(a, c.detach()) for a, c in zip(avg.parameters(), net.parameters()) if a.is_floating_point()]
            if params:
                a, c = zip(*params)
                torch._foreach_lerp_(list(a), list(c), 1.0 - d)  # d * average + (1 - d) * current
            stats = {id(b) for m in avg.modules() if isinstance(m, _NORMS) for b in m.buffers()} \
                if self.standing_statistics else set()
            floats = [(a, c) for a, c in zip(avg.buffers(), net.buffers()) if a.is_floating_point() and id(a) not in stats]
            if floats and not self.standing_statistics:
                a, c = zip(*floats)
                torch._foreach_lerp_(list(a), list(c), 1.0 - d)
            for a, c in zip(avg.buffers(), net.buffers()):
                if not a.is_floating_point():
                    a.copy_(c)  # integer buffers follow the live network; statistics wait for recalibrate()
        self.num_updates += 1
        self._calibrated.clear()

    @torch.no_grad()
    def recalibrate(self, name: str, forward: Callable[[nn.Module], object]) -> None:
        """Recompute the normalisation statistics of averaged net ``name`` for its own weights (exact
        averages over the batches ``forward(net)`` runs in train mode), unless they are current."""
        net = self.averaged[name]
        norms = [m for m in net.modules() if isinstance(m, _NORMS) and m.track_running_stats]
        if name in self._calibrated or not norms:
            return
        was_training, momenta = net.training, [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
        net.train()
        try:
            forward(net)
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
            net.train(was_training)
        self._calibrated.add(name)

    # the update count is part of the state dict (exact resume)
    def get_extra_state(self) -> dict[str, int]:
        return {"num_updates": self.num_updates}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.num_updates = int(state["num_updates"])
        self._calibrated.clear()
