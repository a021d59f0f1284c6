"""Callbacks: checkpoints, sample grids, sample and held-out metrics, loss curves, critic diagnostics.
Every one of them fires on one rule (``EveryModelSteps``): every n model steps and at the end."""

from genzoo.callbacks.checkpoint import ModelStepCheckpoint
from genzoo.callbacks.critic import CriticDiagnostics
from genzoo.callbacks.curves import LossCurves
from genzoo.callbacks.held_out import HeldOutMetrics
from genzoo.callbacks.images import EveryModelSteps, read_text_samples, save_grid, save_scatter, save_text
from genzoo.callbacks.metrics import SampleQuality, log_metrics_now
from genzoo.callbacks.preemption import Preemption
from genzoo.callbacks.samples import SampleGrid, save_samples

__all__ = ["CriticDiagnostics", "EveryModelSteps", "HeldOutMetrics", "LossCurves", "ModelStepCheckpoint", "Preemption",
           "SampleGrid", "SampleQuality", "log_metrics_now", "read_text_samples", "save_grid", "save_samples",
           "save_scatter", "save_text"]
