"""Score a checkpoint: ``python src/eval.py ckpt_path=... [metrics.num_samples=50000]``.

Rebuilds the run from the config stored in the checkpoint, samples from its EMA generator, computes
the run's sample metrics (or the ones chosen with ``metrics.*``), writes ``<ckpt>.eval.json`` beside
the checkpoint and logs the numbers to W&B (offline without a login).
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from genzoo.errors import GenzooError


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> dict:
    from genzoo.evaluation import device_for, load_run, merged_metrics_config, score, write_json
    from genzoo.logging_utils import resolve_wandb_mode

    try:
        run_cfg, dm, model, ckpt = load_run(cfg.ckpt_path, device_for(cfg.device))
        mcfg = merged_metrics_config(run_cfg, cfg.metrics)
        if not mcfg.get("cache_dir"):
            mcfg.cache_dir = cfg.paths.cache_dir
        metrics = score(model, dm, mcfg, seed=cfg.seed)
    except GenzooError as e:
        print(f"\nError: {e}", file=sys.stderr)
        sys.exit(2)
    payload = {"ckpt_path": str(Path(cfg.ckpt_path).resolve()), "g_step": model.g_step, "metrics": metrics,
               "protocol": {k: mcfg.get(k) for k in ("extractor", "num_samples", "split")}, "seed": cfg.seed}
    out = write_json(Path(cfg.ckpt_path).with_suffix(".eval.json"), payload)
    mode = resolve_wandb_mode(cfg.wandb_mode)
    if mode != "disabled":
        import wandb

        run = wandb.init(project=cfg.wandb_project, job_type="eval", mode=mode, dir=cfg.paths.output_dir,
                         group=(run_cfg.get("logger") or {}).get("wandb", {}).get("group"),
                         config={"eval": OmegaConf.to_container(cfg, resolve=True), "run": run_cfg and
                                 OmegaConf.to_container(run_cfg, resolve=True)})
        try:
            run.log({**metrics, "g_step": model.g_step})
        finally:
            wandb.finish()
    for k, v in metrics.items():
        print(f"{k}: {v:.6g}")
    print(f"Wrote {out}")
    return metrics


if __name__ == "__main__":
    main()
