"""Train a genzoo model: ``python src/train.py [group=option ...] [key=value ...]`` (Hydra)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from genzoo.errors import user_error


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from genzoo.training import is_multirun, objective, train

    try:
        metrics = train(cfg)
        return objective(cfg, metrics)
    except Exception as exc:
        err = user_error(exc)
        if err is None or is_multirun():  # in a sweep, let Hydra record the failed job and go on
            raise
        print(f"\nError: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
