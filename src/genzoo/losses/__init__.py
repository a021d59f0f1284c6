"""Losses as pure functions of network outputs."""

from genzoo.losses.adversarial import AdversarialLoss, Minimax, NonSaturating, gan_value

__all__ = ["AdversarialLoss", "Minimax", "NonSaturating", "gan_value"]
