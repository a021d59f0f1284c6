"""An exponential moving average of any set of networks, resumed exactly with the model.

``EMA({"generator": g})`` keeps an averaged copy of each network (a submodule, so it is in the
model's state dict and in every checkpoint). ``update(nets)`` after each model step; the first
update copies the weights, later ones average with decay ``min(decay, (1 + n) / (10 + n))`` after
n updates so far (TensorFlow's num_updates warm-up, so short runs are not dominated by the
initial weights). Floating buffers (BatchNorm statistics) are averaged like parameters; integer
buffers follow the live network. Used by the adversarial family for its generator, and by any
family that wants a weight average (CycleGAN's two generators, a VAE or PixelCNN).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
import torch.nn as nn

from genzoo.errors import ConfigError


class EMA(nn.Module):
    def __init__(self, nets: Mapping[str, nn.Module], decay: float) -> None:
        super().__init__()
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"model.ema_decay must be in (0, 1) or null, got {decay}.")
        self.decay = decay
        self.averaged = nn.ModuleDict({k: copy.deepcopy(v).requires_grad_(False) for k, v in nets.items()})
        self.num_updates = 0

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
            pairs = list(zip(avg.parameters(), net.parameters())) + list(zip(avg.buffers(), net.buffers()))
            floats = [(a, c.detach()) for a, c in pairs if a.is_floating_point()]
            if floats:
                a, c = zip(*floats)
                torch._foreach_lerp_(list(a), list(c), 1.0 - d)  # d * average + (1 - d) * current
            for a, c in pairs:
                if not a.is_floating_point():
                    a.copy_(c)
        self.num_updates += 1

    # the update count is part of the state dict (exact resume)
    def get_extra_state(self) -> dict[str, int]:
        return {"num_updates": self.num_updates}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.num_updates = int(state["num_updates"])
