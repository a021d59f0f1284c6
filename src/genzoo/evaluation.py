"""Scoring and sampling a saved run: rebuild it from the config stored in its checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from genzoo.errors import ConfigError


def load_run(ckpt_path: str, device: str = "cpu"):
    """(run config, datamodule, model with the checkpoint's weights, checkpoint dict)."""
    from genzoo.training import build_datamodule, build_model

    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigError(f"ckpt_path={ckpt_path} is not a file. Pass a .ckpt saved by a genzoo run "
                          "(outputs/train/runs/<run>/checkpoints/last.ckpt).")
    ckpt = torch.load(path, map_location=device, weights_only=False)
    stored = (ckpt.get("genzoo") or {}).get("config")
    if stored is None:
        raise ConfigError(f"{ckpt_path} holds no genzoo run config (saved by another program, or by an older genzoo).")
    cfg = OmegaConf.create(stored)
    datamodule = build_datamodule(cfg)
    model = build_model(cfg, datamodule)
    model.load_state_dict(ckpt["state_dict"])
    model.on_load_checkpoint(ckpt)  # counters (g_step); RNG state is re-seeded by the caller
    return cfg, datamodule, model.to(device).eval(), ckpt


def merged_metrics_config(run_cfg: DictConfig, overrides: DictConfig | dict | None) -> DictConfig:
    """The run's own metrics config with the non-null keys of ``overrides`` on top."""
    base = OmegaConf.to_container(run_cfg.get("metrics") or {}, resolve=True)
    over = {k: v for k, v in (OmegaConf.to_container(overrides, resolve=True) if OmegaConf.is_config(overrides)
                             else dict(overrides or {})).items() if v is not None}
    merged = {**base, **over}
    if not merged.get("extractor"):
        raise ConfigError("The run had no sample metrics; choose one: metrics.extractor=classifier|inception|"
                          "inception_torchscript|toy2d.")
    return OmegaConf.create(merged)


@torch.no_grad()
def score(model, datamodule, mcfg: DictConfig, seed: int = 0) -> dict[str, float]:
    from genzoo.metrics import SampleMetrics, build_extractor, toy2d_metrics
    from genzoo.metrics.sample_quality import balanced_labels, count_label, draw_samples

    n = int(mcfg.num_samples)
    num_classes = model.num_classes if model.conditional else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if mcfg.extractor == "toy2d":
            labels = balanced_labels(n, num_classes) if num_classes else None
            samples = draw_samples(model.sample, n, labels=labels)
            return toy2d_metrics(samples, datamodule.distribution, prefix=f"toy2d/{count_label(n)}", labels=labels)
        extractor = build_extractor(mcfg.extractor, datamodule, mcfg.cache_dir, mcfg.get("inception_weights"))
        metrics = SampleMetrics(extractor.to(model.device), datamodule, mcfg.cache_dir, n, mcfg.get("split", "train"),
                                mcfg.get("num_real"))
        return metrics.compute(model.sample, num_classes=num_classes)


def write_json(path: Path, payload: dict[str, Any]) -> Path:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True))
    return path


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (the path that stays where Gaussian latents have their mass)."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def interpolation_latents(z_dim: int, pairs: int, steps: int, mode: str = "slerp",
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """(pairs * steps, z_dim): row i walks from one random code to another in ``steps`` steps."""
    a, b = torch.randn(pairs, 1, z_dim, generator=generator), torch.randn(pairs, 1, z_dim, generator=generator)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    if mode == "linear":
        z = (1 - t) * a + t * b
    elif mode == "slerp":
        z = slerp(a.expand(-1, steps, -1), b.expand(-1, steps, -1), t.expand(pairs, -1, 1))
    else:
        raise ConfigError(f"Unknown interpolation mode {mode!r}; choose slerp or linear.")
    return z.reshape(pairs * steps, z_dim)


def device_for(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def nrow_for(n: int) -> int:
    return max(1, int(math.sqrt(n)))
