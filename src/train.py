"""Train a genzoo model: ``python src/train.py [group=option ...] [key=value ...]`` (Hydra)."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from genzoo.errors import GenzooError


def _user_error(exc: BaseException) -> GenzooError | None:
    while exc is not None:
        if isinstance(exc, GenzooError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from genzoo.training import is_multirun, train

    try:
        metrics = train(cfg)
    except Exception as exc:
        err = _user_error(exc)
        if err is None or is_multirun():  # in a sweep, let Hydra record the failed job and go on
            raise
        print(f"\nError: {err}", file=sys.stderr)
        sys.exit(2)
    objective = cfg.get("optimized_metric")
    return metrics.get(objective) if objective else None


if __name__ == "__main__":
    main()
