"""Metrics and diagnostics."""

from genzoo.metrics.critic import clipped_fraction, critic_layers, layer_input_grad_norms, weight_values
from genzoo.metrics.extractors import EXTRACTORS, InceptionUnavailable, build_extractor
from genzoo.metrics.sample_quality import SampleMetrics, frechet_distance, inception_score, kernel_distance, toy2d_metrics

__all__ = ["EXTRACTORS", "InceptionUnavailable", "SampleMetrics", "build_extractor", "frechet_distance",
           "inception_score", "kernel_distance", "toy2d_metrics", "clipped_fraction", "critic_layers", "layer_input_grad_norms",
           "weight_values"]
