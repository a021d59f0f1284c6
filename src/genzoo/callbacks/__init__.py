"""Callbacks: checkpoints on generator steps, sample grids, loss curves."""

from genzoo.callbacks.checkpoint import GeneratorStepCheckpoint
from genzoo.callbacks.critic import CriticDiagnostics
from genzoo.callbacks.curves import LossCurves
from genzoo.callbacks.images import save_grid, save_scatter
from genzoo.callbacks.metrics import SampleQuality, log_metrics_now
from genzoo.callbacks.samples import SampleGrid, fixed_noise, grid_inputs

__all__ = ["CriticDiagnostics", "GeneratorStepCheckpoint", "LossCurves", "SampleGrid", "SampleQuality", "log_metrics_now", "fixed_noise", "grid_inputs", "save_grid", "save_scatter"]
