"""Building a family's optimisers from the config's partials, with torch's fused kernels where they apply.

torch's Adam, AdamW and SGD have a fused implementation (one kernel per parameter group instead of a
loop of element-wise ops) on CPU and CUDA. It is the same update rule, rounded differently in the last
bits, and cuts the optimiser's share of a small net's step: about a fifth of the whole step of the IWAE
MLP on one CPU thread (``python benchmarks/vae_peer.py`` measures the effect at equal wall time).
``build_optimizer`` turns it on unless the config chose an implementation itself
(``model.optimizer.fused`` or ``model.optimizer.foreach``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from functools import partial

import torch

#: the devices torch's fused optimisers run on
FUSED_DEVICES = ("cpu", "cuda")


def _takes_fused(make: Callable[..., torch.optim.Optimizer]) -> bool:
    target = make.func if isinstance(make, partial) else make
    try:
        return "fused" in inspect.signature(target).parameters
    except (TypeError, ValueError):  # a builtin or an odd callable: leave it as configured
        return False


def build_optimizer(make: Callable[..., torch.optim.Optimizer], params: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
    """``make(params)``, the config's optimiser, fused where the class has a fused kernel, the config left the
    choice open and every parameter is a floating-point tensor on a device the kernel supports."""
    params = list(params)
    chosen = make.keywords if isinstance(make, partial) else {}
    tensors = [p for group in params for p in (group["params"] if isinstance(group, dict) else [group])]
    fusable = (tensors and _takes_fused(make) and chosen.get("fused") is None and chosen.get("foreach") is None
               and all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in tensors))
    return make(params, fused=True) if fusable else make(params)
