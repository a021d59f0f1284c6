"""What a run is and where it went: its name, its identity (logged with its config, to group runs
across a sweep), the command that resumes it and the summary printed at its end."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

from genzoo.callbacks import HeldOutMetrics, LossCurves, ModelStepCheckpoint, SampleGrid, SampleQuality
from genzoo.callbacks.preemption import EXIT_INTERRUPTED
from genzoo.loggers import CSVLogger, RunLogger
from genzoo.models.base import GenerativeModule

#: the most characters of metrics a summary line shows (a run evaluates dozens; the CSV has them all)
METRICS_WIDTH = 110


def run_name(cfg: DictConfig, model: GenerativeModule) -> str:
    """``<model>[-<loss>]-<data>-s<seed>``: the model names itself (the adversarial family adds its loss)."""
    from hydra.core.hydra_config import HydraConfig

    data = None
    if HydraConfig.initialized():
        data = HydraConfig.get().runtime.choices.get("data")
    data = data or cfg.data._target_.rsplit(".", 1)[-1].lower()
    return f"{model.run_name()}-{data}-s{cfg.get('seed')}"


def run_identity(cfg: DictConfig) -> dict[str, Any]:
    """What a run is, logged with its config so that runs can be grouped across a sweep (a Hydra
    multirun or a ``wandb agent``, whose runs are single runs with overrides): ``configuration``, the
    command-line overrides but the seed (runs that differ only in seed share it); ``choices``, the
    option taken in every config group; ``seed``."""
    from hydra.core.hydra_config import HydraConfig

    from genzoo.logging_utils import configuration_label, experiment_overrides

    overrides: list[str] = []
    choices: dict[str, str] = {}
    if HydraConfig.initialized():
        hc = HydraConfig.get()
        overrides = experiment_overrides(list(hc.overrides.task))
        choices = {k: str(v) for k, v in hc.runtime.choices.items() if not k.startswith("hydra/") and v is not None}
    return {"configuration": configuration_label(overrides), "overrides": overrides, "choices": choices,
            "seed": cfg.get("seed")}


def resume_command(cfg: DictConfig) -> str:
    """The command that resumes this run in its own folder (printed when a run is interrupted)."""
    from hydra.core.hydra_config import HydraConfig

    task = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    keep = [o for o in task if not o.startswith(("ckpt_path=", "hydra.run.dir="))]
    return " ".join(["python src/train.py", *keep, f"hydra.run.dir={cfg.paths.output_dir}", "ckpt_path=last"])


def metrics_line(label: str, step: int, values: dict[str, float], seconds: float, first: str | None = None,
                 where: str | None = None) -> str:
    """``<label> (step <step>): a 0.1, b 2   (+N more in <where>; S s spent evaluating)``: the metrics that fit in
    ``METRICS_WIDTH`` characters (at least one), ``first`` (the optimised metric) first and the trained weights'
    copies of weight-averaged metrics (``.../raw``) last; the rest are counted, and said to be in ``where``."""
    order = sorted(values, key=lambda k: (k != first, k.endswith("/raw")))  # stable: the callback's order otherwise
    shown: list[str] = []
    for k in order:
        item = f"{k} {values[k]:.4g}"
        if shown and len(", ".join([*shown, item])) > METRICS_WIDTH:
            break
        shown.append(item)
    rest = len(values) - len(shown)
    notes = ([f"+{rest} more in {where or 'the loggers'}"] if rest else []) + [f"{seconds:.1f} s spent evaluating"]
    return f"{label} (step {step}): {', '.join(shown)}   ({'; '.join(notes)})"


def summary(cfg: DictConfig, trainer: pl.Trainer, model: GenerativeModule, loggers: list[Any]) -> str:
    """Where everything went, printed at the end of a run: the callbacks that write files are asked for
    them, and every genzoo logger gives its own line (``RunLogger.summary_line``)."""
    lines = [f"\nTrained {model.model_step} model steps ({trainer.global_step} optimiser steps).",
             f"Output folder:  {cfg.paths.output_dir}"]
    if model.interrupted:
        lines[0] = (f"\nInterrupted by {model.interrupted} at model step {model.model_step}: the run is resumable "
                    f"(exit status {EXIT_INTERRUPTED}).")
    csv = [lg.metrics_path for lg in loggers if isinstance(lg, CSVLogger) and lg.metrics_path.is_file()]
    for cb in trainer.callbacks:
        if isinstance(cb, ModelStepCheckpoint) and cb.last_model_path:
            lines.append(f"Checkpoint:     {cb.last_model_path}   (resume: python src/train.py ckpt_path=...)")
            if model.interrupted:
                lines.append(f"Resume with:    {resume_command(cfg)}")
        elif isinstance(cb, SampleGrid) and cb.last_path:
            lines.append(f"Samples:        {cb.last_path}")
        elif isinstance(cb, LossCurves) and cb.path:
            lines.append(f"Loss curves:    {cb.path}")
        elif isinstance(cb, (SampleQuality, HeldOutMetrics)) and cb.history and cb.history[-1][1]:
            g, last = cb.history[-1]
            lines.append(metrics_line("Metrics" if isinstance(cb, SampleQuality) else "Held-out", g, last, cb.seconds,
                                      cfg.get("optimized_metric"), str(csv[0]) if csv else None))
    lines += [line for lg in loggers if isinstance(lg, RunLogger) and (line := lg.summary_line())]
    return "\n".join(lines)
