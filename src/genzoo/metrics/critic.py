"""Critic diagnostics for seed claims C11 (where clipped weights go) and C12 (gradient norms per layer)."""

from __future__ import annotations

import torch
import torch.nn as nn

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


def critic_layers(critic: nn.Module) -> list[tuple[str, nn.Module]]:
    """The weight layers (Linear / Conv) of a network, input side first."""
    return [(n, m) for n, m in critic.named_modules() if isinstance(m, _LAYERS)]


def weight_values(critic: nn.Module) -> torch.Tensor:
    """All weights of the weight layers, flattened (biases and norm parameters excluded)."""
    return torch.cat([m.weight.detach().flatten().float().cpu() for _, m in critic_layers(critic)])


def clipped_fraction(weights: torch.Tensor, c: float, tol: float = 0.01) -> float:
    """Share of weights within ``tol * c`` of the clipping bounds +-c (on either side of them)."""
    return float(((weights.abs() - c).abs() <= tol * c).float().mean())


def layer_input_grad_norms(critic: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None) -> list[float]:
    """Mean per-sample norm of d(sum D(x)) / d(input of layer l), for each weight layer l, input side first.

    This is the back-propagated signal whose vanishing or explosion claim C12 is about (the gradient
    w.r.t. a layer's weights multiplies it by the layer's input and hides the trend).
    ``y``: the classes of ``x`` for a conditional critic D(x, y).
    """
    inputs: list[torch.Tensor] = []

    def keep(module, args):
        inputs.append(args[0])

    handles = [m.register_forward_pre_hook(keep) for _, m in critic_layers(critic)]
    try:
        x = x.detach().requires_grad_(True)
        with torch.compiler.set_stance("force_eager"):  # a compiled critic (model.compile) would skip the layers' hooks
            out = (critic(x) if y is None else critic(x, y)).sum()
        grads = torch.autograd.grad(out, inputs, allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    return [float(g.flatten(1).norm(dim=1).mean()) if g is not None else 0.0 for g in grads]
