"""Scoring and sampling a saved run: rebuild it from the config stored in its checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from genzoo.errors import ConfigError


def load_run(ckpt_path: str, device: str = "cpu", model_options: dict | None = None):
    """(run config, datamodule, model with the checkpoint's weights, checkpoint dict). ``model_options``:
    ``model.*`` values that replace the run's when the model is built (sample.py's sampling options, checked
    by the family's constructor as in training)."""
    from genzoo.checkpoints import load_checkpoint

    ckpt = load_checkpoint(ckpt_path, map_location=device)  # weights_only: nothing in the file (or its config) runs
    from genzoo.training import build_datamodule, build_model  # Lightning: imported once the file is good

    stored = ckpt["genzoo"]["config"]
    cfg = OmegaConf.create(stored)
    if model_options:
        cfg = OmegaConf.merge(cfg, {"model": model_options})
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError, TypeError) as e:
        from genzoo.checkpoints import CheckpointError

        raise CheckpointError(f"ckpt_path={ckpt_path}: its weights do not fit the model its own config builds "
                              f"({str(e).splitlines()[0][:160]}); it was written by another version of genzoo.") from None
    model.restore_counters(ckpt)  # model_step; the RNG state is the caller's (it seeds its own draws)
    return cfg, datamodule, model.to(device).eval(), ckpt


METRIC_DEFAULTS = {"num_samples": 2000, "split": "train"}


def merged_metrics_config(run_cfg: DictConfig, overrides: DictConfig | dict | None,
                          required: bool = True) -> DictConfig | None:
    """The run's own metrics config with the non-null keys of ``overrides`` on top (defaults for a
    run trained without metrics). None when no extractor is chosen and ``required`` is false (a
    family whose held-out metrics are enough)."""
    run_metrics = run_cfg.get("metrics")
    base = OmegaConf.to_container(run_metrics, resolve=True) if run_metrics else {}
    over = {k: v for k, v in (OmegaConf.to_container(overrides, resolve=True) if OmegaConf.is_config(overrides)
                             else dict(overrides or {})).items() if v is not None}
    merged = {**METRIC_DEFAULTS, **{k: v for k, v in base.items() if v is not None}, **over}
    n = merged.get("num_samples")
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ConfigError(f"metrics.num_samples={n!r} must be an integer >= 2.")
    from genzoo.data.base import check_split

    check_split(merged.get("split") or "train")
    if not merged.get("extractor"):
        if not required:
            return None
        raise ConfigError("The run had no sample metrics; choose one: metrics.extractor=classifier|inception|"
                          "inception_torchscript|toy2d|ngram.")
    return OmegaConf.create(merged)


@torch.no_grad()
def score(model, datamodule, mcfg: DictConfig, seed: int = 0) -> dict[str, float]:
    """The sample metrics of ``mcfg`` for any family (through its contract)."""
    from genzoo.metrics import SampleMetrics, build_extractor
    from genzoo.metrics.sample_quality import DATA_EXTRACTORS, check_data_metrics, data_metrics, metric_suites
    from genzoo.sampling import draw_share

    n = int(mcfg.num_samples)
    if mcfg.extractor in DATA_EXTRACTORS:
        check_data_metrics(mcfg.extractor, datamodule)
        samples, labels = draw_share(model, n, seed, datamodule=datamodule)
        return data_metrics(mcfg.extractor, samples, datamodule, n, mcfg.get("split") or "train", mcfg.get("num_real"),
                            labels)

    def build(target, n_samples: int, direction: str | None) -> SampleMetrics:
        extractor = build_extractor(mcfg.extractor, target, mcfg.cache_dir, mcfg.get("inception_weights"))
        return SampleMetrics(extractor.to(model.device), target, mcfg.cache_dir, n_samples,
                             mcfg.get("split") or "train", mcfg.get("num_real"), direction)

    out: dict[str, float] = {}
    for suite in metric_suites(model, datamodule, n, build):
        out.update(suite.compute(model, seed=seed, datamodule=datamodule))
    return out


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    from genzoo.checkpoints import atomic_write

    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
    return path


def device_for(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def nrow_for(n: int) -> int:
    return max(1, int(math.sqrt(n)))
