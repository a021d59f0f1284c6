"""Losses as pure functions of network outputs."""

from genzoo.losses.adversarial import AdversarialLoss, Minimax, NonSaturating, gan_value
from genzoo.losses.fdivergence import DIVERGENCES, FDivergence, lambert_w
from genzoo.losses.wasserstein import (
    PENALTIES, Wasserstein, critic_input_gradient_norm, gradient_penalty, interpolate,
)

__all__ = [
    "DIVERGENCES", "FDivergence", "PENALTIES", "AdversarialLoss", "lambert_w", "Minimax", "NonSaturating", "Wasserstein", "critic_input_gradient_norm",
    "gan_value", "gradient_penalty", "interpolate",
]
