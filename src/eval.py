"""Score a checkpoint: ``python src/eval.py ckpt_path=... [metrics.num_samples=50000]``.

Rebuilds the run from the config stored in the checkpoint, samples from it through the family contract
(with averaged weights where it keeps them), computes the run's sample metrics (or the ones chosen
with ``metrics.*``) and the family's held-out metrics over the held-out split, writes ``<ckpt>.eval.json`` beside
the checkpoint and logs the numbers to W&B (offline without a login). Held-out means come with their standard
errors over the examples (``<name>/test/se``).
"""

from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from genzoo.errors import ConfigError, exit_on_user_error

#: the held_out.* keys of eval.py itself; any other is an evaluation option of the family (``evaluation_keys``:
#: a VAE's held_out.iw_samples), given with +held_out.<name>=... where conf/eval.yaml does not list it
HELD_OUT_KEYS = ("batch_size", "max_examples")


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> dict | None:
    try:
        return evaluate(cfg)
    except Exception as exc:
        exit_on_user_error(exc)


def evaluate(cfg: DictConfig) -> dict:
    from genzoo.checkpoints import load_checkpoint
    from genzoo.evaluation import device_for
    from genzoo.preflight import command_options, unused_keys
    from genzoo.unknown_keys import did_you_mean

    options = command_options("eval")
    for name in unused_keys(cfg, "eval", ("held_out",)):  # held_out.<option>: the family's, checked below
        raise ConfigError(f"{name}= is not an option of eval.py, so it would be ignored.{did_you_mean(name, options)} "
                          f"Its options: {', '.join(options)}, and the family's own held_out.<option>.")
    load_checkpoint(cfg.ckpt_path, mmap=True)  # a bad file fails here, in seconds, before Lightning is imported
    from genzoo.evaluation import load_run, merged_metrics_config, score, write_json
    from genzoo.logging_utils import resolve_wandb_mode
    from genzoo.metrics.held_out import held_out_average
    from genzoo.run_record import save_run_record

    run_cfg, dm, model, ckpt = load_run(cfg.ckpt_path, device_for(cfg.device))
    for name, value in cfg.held_out.items():  # the rest of held_out.*: the family's evaluation options (or refused)
        if name not in HELD_OUT_KEYS and value is not None:
            model.set_evaluation_option(name, value)
    mcfg = merged_metrics_config(run_cfg, cfg.metrics, required=not model.held_out_metric_names)
    save_run_record(cfg)  # the command's inputs are accepted: record it in its folder
    metrics = {}
    if mcfg is not None:
        if not mcfg.get("cache_dir"):
            mcfg.cache_dir = cfg.paths.cache_dir
        metrics.update(score(model, dm, mcfg, seed=cfg.seed))
    # each held-out mean with its standard error over the examples (<name>/se); a VAE adds the effective sample
    # size of its importance weights (ess_k<k>: k when q is the posterior, near 1 when one code dominates)
    metrics.update(held_out_average(model, dm, cfg.held_out.batch_size, cfg.held_out.max_examples, standard_errors=True))
    protocol = {k: mcfg.get(k) for k in ("extractor", "num_samples", "split")} if mcfg is not None else {}
    if model.held_out_metric_names:
        protocol["held_out_examples"] = cfg.held_out.max_examples or "all"
        protocol.update(model.evaluation_options())
    payload = {"ckpt_path": str(Path(cfg.ckpt_path).resolve()), "model_step": model.model_step, "metrics": metrics,
               "protocol": protocol, "seed": cfg.seed}
    out = write_json(Path(cfg.ckpt_path).with_suffix(".eval.json"), payload)
    mode = resolve_wandb_mode(cfg.wandb_mode)
    if mode != "disabled":
        import wandb

        run = wandb.init(project=cfg.wandb_project, job_type="eval", mode=mode, dir=cfg.paths.output_dir,
                         group=(run_cfg.get("logger") or {}).get("wandb", {}).get("group"),
                         config={"eval": OmegaConf.to_container(cfg, resolve=True), "run": run_cfg and
                                 OmegaConf.to_container(run_cfg, resolve=True)})
        try:
            run.log({**metrics, "model_step": model.model_step})
        finally:
            wandb.finish()
    for k, v in metrics.items():
        print(f"{k}: {v:.6g}")
    print(f"Wrote {out}")
    return metrics


if __name__ == "__main__":
    main()
