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
        checked = preflight(cfg)  # bad input fails here, before Lightning is even imported
        from genzoo.training import objective, train

        metrics = train(cfg, checked)
        if metrics.get("interrupted") and not multirun:
            sys.exit(EXIT_INTERRUPTED)  # "interrupted, resumable": the summary printed the resume command
        return objective(cfg, metrics)
    except Exception as exc:
        if multirun:  # in a sweep, let Hydra record the failed job and go on
            raise
        exit_on_user_error(exc)


if __name__ == "__main__":
    main()
