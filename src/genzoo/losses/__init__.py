"""Losses as pure functions of network outputs."""

from genzoo.losses.adversarial import LSGAN, AdversarialLoss, Minimax, NonSaturating, gan_value
from genzoo.losses.fdivergence import DIVERGENCES, FDivergence, lambert_w
from genzoo.losses.wasserstein import (
    PENALTIES,
    Wasserstein,
    critic_input_gradient_norm,
    gradient_penalty,
    penalty_points,
)

__all__ = [
    "DIVERGENCES", "FDivergence", "PENALTIES", "AdversarialLoss", "LSGAN", "lambert_w", "Minimax", "NonSaturating", "Wasserstein",
    "critic_input_gradient_norm",
    "gan_value", "gradient_penalty", "penalty_points",
]


def renamed_loss(old: str, new: str):
    """A loss config that was renamed: refuse it with the new name (no silent alias)."""
    from genzoo.errors import ConfigError

    raise ConfigError(f"loss={old} was renamed loss={new} (the f-divergence row; model=gan's losses are "
                      f"loss=nonsaturating|minimax). Use `loss={new}`.")
