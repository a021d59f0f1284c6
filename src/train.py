"""Train a genzoo model: ``python src/train.py [group=option ...] [key=value ...]`` (Hydra)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from genzoo.errors import EXIT_INTERRUPTED, exit_on_user_error


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from genzoo.preflight import is_multirun, preflight

    multirun = is_multirun()
    try:
        checked = preflight(cfg)  # bad input fails here, before any data, logger or run file
        from genzoo.training import objective, train

        metrics = train(cfg, checked)
        if metrics.get("interrupted"):
            if multirun and not _sweep_in_this_process():
                return objective(cfg, metrics)  # a launcher's own process per job (submitit): that job ends
            if multirun:  # the signal was for the whole command: the jobs after this one must not start
                from hydra.core.hydra_config import HydraConfig

                print(f"Sweep interrupted in job {HydraConfig.get().job.num}: the jobs after it were not started.",
                      flush=True)
            sys.exit(EXIT_INTERRUPTED)  # "interrupted, resumable": the summary printed the resume command
        return objective(cfg, metrics)
    except Exception as exc:
        if multirun:  # in a sweep, let Hydra record the failed job and go on
            raise
        exit_on_user_error(exc)


def _sweep_in_this_process() -> bool:
    """True when Hydra runs the sweep's jobs one after another in this process (the basic launcher)."""
    from hydra.core.hydra_config import HydraConfig

    return str(HydraConfig.get().launcher.get("_target_", "")).endswith("BasicLauncher")


if __name__ == "__main__":
    main()
