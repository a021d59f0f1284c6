"""Metrics and diagnostics."""

from genzoo.metrics.critic import clipped_fraction, critic_layers, layer_input_grad_norms, weight_values

__all__ = ["clipped_fraction", "critic_layers", "layer_input_grad_norms", "weight_values"]
