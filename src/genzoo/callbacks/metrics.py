"""Sample-quality metrics during training (FID/KID/IS through an extractor, toy2d mode metrics, text n-grams)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn

from genzoo import lightning_compat
from genzoo.callbacks.images import EveryModelSteps, log_image
from genzoo.data.base import check_split
from genzoo.errors import ConfigError
from genzoo.metrics import InceptionUnavailable, SampleMetrics, build_extractor
from genzoo.metrics.sample_quality import DATA_EXTRACTORS, check_data_metrics, data_metrics, extract, metric_suites
from genzoo.run_log import say
from genzoo.sampling import draw_share


def write_metric_curves(callback, trainer: pl.Trainer, pl_module) -> Path | None:
    """``plots/metrics.png``: the curves of every metric the run evaluated (the sample metrics and the
    held-out metrics: every ``MetricHistory`` callback), one panel each (``genzoo.plotting``). Each
    such callback calls this at the end; the last of them in the trainer's list draws the figure, in the
    first ``dirpath`` any of them has."""
    from genzoo.plotting import metric_panels, save_curves

    sources = [cb for cb in trainer.callbacks if isinstance(cb, MetricHistory)]
    dirs = [cb.dirpath for cb in sources if getattr(cb, "dirpath", None) is not None]
    if not trainer.is_global_zero or not sources or callback is not sources[-1] or not dirs:
        return None
    history: dict[str, list[tuple[int, float]]] = {}
    for cb in sources:
        for step, values in cb.curve_history():
            for k, v in values.items():
                history.setdefault(k, []).append((step, v))
    if not history:
        return None
    path = save_curves(metric_panels(history), Path(dirs[0]) / "metrics.png")
    log_image(trainer, "metric_curves", path, pl_module.model_step)
    return path


def log_metrics_now(trainer: pl.Trainer, metrics: dict[str, float], model_step: int) -> None:
    """Send metrics to every logger at once (not at Lightning's logging cadence), with ``model_step``."""
    row = {**metrics, "model_step": float(model_step)}
    step = lightning_compat.logger_step(trainer)
    for logger in trainer.loggers:
        logger.log_metrics(row, step=step)
    trainer.callback_metrics.update({k: torch.tensor(v) for k, v in row.items()})


class MetricHistory:
    """What a callback that evaluates metrics at model steps shares: it logs them at once, keeps them (in the
    checkpoint, so a resumed run's curves go on) and draws them into ``plots/metrics.png`` at the end."""

    history: list[tuple[int, dict[str, float]]]

    def record(self, trainer: pl.Trainer, pl_module, out: dict[str, float]) -> None:
        self.history.append((pl_module.model_step, out))
        if trainer.is_global_zero and out:
            log_metrics_now(trainer, out, pl_module.model_step)

    def curve_history(self) -> list[tuple[int, dict[str, float]]]:
        """(model step, the metrics evaluated then) of this run, for ``plots/metrics.png``."""
        return self.history

    def finish(self, trainer, pl_module) -> None:
        write_metric_curves(self, trainer, pl_module)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history, **super().state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = state_dict["history"]
        super().load_state_dict(state_dict)


class SampleQuality(MetricHistory, EveryModelSteps, pl.Callback):
    """Every ``every_n_steps`` model steps and at the end of training, draw ``num_samples``
    samples (from the EMA generator where there is one, with a fixed seed so that successive
    evaluations compare like with like) and log sample metrics whose names state the protocol.

    ``extractor``: ``classifier`` | ``inception`` | ``inception_torchscript`` | ``toy2d`` | ``ngram``.
    If Inception cannot be loaded the run says so once and goes on; with ``require: true`` it
    fails before training starts instead.
    """

    def __init__(self, extractor: str = "classifier", every_n_steps: int = 500, num_samples: int = 2000,
                 split: str = "train", cache_dir: str = ".cache/genzoo", inception_weights: str | None = None,
                 require: bool = False, num_real: int | None = None, dirpath: str | None = None,
                 seed: int = 4321, score_raw: bool = True) -> None:
        self.extractor_name, self.every_n_steps, self.num_samples = extractor, every_n_steps, num_samples
        self.split, self.cache_dir, self.inception_weights = check_split(split), cache_dir, inception_weights
        self.require, self.num_real, self.seed = require, num_real, seed
        #: where the model keeps a weight average, score the trained weights too (names end in /raw)
        self.score_raw = score_raw
        self.dirpath = Path(dirpath) if dirpath else None
        self.metrics: SampleMetrics | None = None
        #: one SampleMetrics per direction the model is scored in (one, except for translating models)
        self.suites: list[SampleMetrics] = []
        self.disabled = False
        self.history: list[tuple[int, dict[str, float]]] = []
        self.seconds = 0.0  # wall time spent evaluating (for the cost share in the summary)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.metrics is not None or self.disabled or self.extractor_name in DATA_EXTRACTORS:
            if self.extractor_name in DATA_EXTRACTORS:
                check_data_metrics(self.extractor_name, trainer.datamodule)
            return
        def build(target, n: int, direction: str | None) -> SampleMetrics:
            extractor = build_extractor(self.extractor_name, target, self.cache_dir, self.inception_weights)
            if self.extractor_name == "classifier" and trainer.is_global_zero:
                where = f" (domain {direction[-1]}, which {direction} translates to)" if direction else ""
                say(f"Classifier feature extractor{where}: held-out accuracy {extractor.accuracy:.3f}")
            return SampleMetrics(extractor.to(pl_module.device), target, self.cache_dir, n, self.split, self.num_real,
                                 direction)

        try:
            self.suites = metric_suites(pl_module, trainer.datamodule, self.num_samples, build)
        except InceptionUnavailable as e:
            if self.require:
                raise ConfigError(f"{e} (metrics.require=true, so the run stops before training.)") from e
            rank_zero_warn(f"{e} Training goes on without {self.extractor_name} metrics.")
            self.disabled = True
            return
        self.metrics = self.suites[0]
        for note in (s.count_note() for s in self.suites):
            if note and trainer.is_global_zero:
                say(note)

    def _gather(self, pl_module, t: torch.Tensor, n: int) -> torch.Tensor:
        if pl_module.trainer.world_size == 1:
            return t[:n]
        g = pl_module.all_gather(t.to(pl_module.device))
        return g.reshape(-1, *t.shape[1:])[:n].cpu()

    @torch.no_grad()
    def evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, float]:
        start = time.perf_counter()
        out: dict[str, float] = {}
        weights = [True, False] if self.score_raw and pl_module.has_average else [True]
        suites = self.suites if self.extractor_name not in DATA_EXTRACTORS else [None]
        for suite, ema in ((s, e) for s in suites for e in weights):
            part = self._score(trainer, pl_module, suite, ema)
            out.update(part if ema else {f"{k}/raw": v for k, v in part.items()})
        self.seconds += time.perf_counter() - start
        return out

    def _score(self, trainer, pl_module, suite, ema: bool) -> dict[str, float]:
        """One suite's metrics (or a data extractor's: toy2d, ngram) of the averaged (``ema``) or the trained
        weights."""
        n = self.num_samples if suite is None else suite.num_samples
        samples, labels = draw_share(pl_module, n, self.seed, trainer.world_size, trainer.global_rank,
                                     datamodule=trainer.datamodule, direction=suite and suite.direction, ema=ema)
        if labels is not None:
            labels = self._gather(pl_module, labels, n)
        if suite is None:
            return data_metrics(self.extractor_name, self._gather(pl_module, samples.float().cpu(), n),
                                trainer.datamodule, n, self.split, self.num_real, labels)
        ext = suite.extractor
        feats, logits = extract(ext, samples, logits=hasattr(ext, "logits"))
        feats = self._gather(pl_module, feats, n)
        logits = self._gather(pl_module, logits, n) if logits is not None else None
        return suite.from_features(feats, logits, labels)

    def fire(self, trainer, pl_module, batch=None) -> None:
        if self.disabled:
            return
        self.record(trainer, pl_module, self.evaluate(trainer, pl_module))
