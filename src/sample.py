"""Sample grids from a checkpoint: ``python src/sample.py ckpt_path=...``.

Writes, into the run folder of this command (printed at the end): ``random.png`` (fresh noise),
``fixed.png`` (the fixed noise of the training run's sample grids, so it matches them) and
``interpolation.png`` (each row walks between two random codes, spherically by default; families
with a latent only), and the family's own pictures (reconstructions, completions, translations).
For 2-D toy data the pictures are scatter plots over the data, and the interpolations paths.
Conditional runs (``model=cgan``): one row per class, or only class k with ``label=k``.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from genzoo.errors import ConfigError, exit_on_user_error


@hydra.main(version_base="1.3", config_path="../conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    try:
        draw(cfg)
    except Exception as exc:
        exit_on_user_error(exc)


def check_sample_config(cfg: DictConfig) -> None:
    def bad(key: str, value, what: str) -> None:
        raise ConfigError(f"{key}={value!r} must be {what}.")

    for key, value, lo in (("num_samples", cfg.num_samples, 1), ("interpolation.pairs", cfg.interpolation.pairs, 1),
                           ("interpolation.steps", cfg.interpolation.steps, 2)):
        if not isinstance(value, int) or value < lo:
            bad(key, value, f"an integer >= {lo}")
    if cfg.nrow is not None and (not isinstance(cfg.nrow, int) or cfg.nrow < 1):
        bad("nrow", cfg.nrow, "an integer >= 1 (or null)")


def draw(cfg: DictConfig) -> None:
    from genzoo.checkpoints import load_checkpoint

    check_sample_config(cfg)
    load_checkpoint(cfg.ckpt_path, mmap=True)  # a bad file fails here, in seconds, before Lightning is imported
    from genzoo import sampling
    from genzoo.callbacks import save_grid, save_samples
    from genzoo.evaluation import device_for, load_run, nrow_for

    run_cfg, dm, model, _ = load_run(cfg.ckpt_path, device_for(cfg.device))
    if cfg.label is not None and model.condition != "label":
        raise ConfigError(f"label={cfg.label} needs a class-conditional run (model=cgan); this one is "
                          f"model={model.name}.")
    if cfg.label is not None and not (isinstance(cfg.label, int) and 0 <= cfg.label < model.num_classes):
        raise ConfigError(f"label={cfg.label} is not a class of this run; classes are 0..{model.num_classes - 1}.")
    out = Path(cfg.paths.output_dir)
    grid_cfg = (run_cfg.get("callbacks") or {}).get("sample_grid") or {}
    g = torch.Generator().manual_seed(cfg.seed)
    toy = len(model.data_shape) == 1
    n = cfg.num_samples if not toy else max(cfg.num_samples, 1000)
    random = sampling.random_grid(model, n, g, cfg.nrow or nrow_for(n), label=cfg.label, datamodule=dm)
    fixed = sampling.grid_inputs(model, grid_cfg.get("num_samples", 64), grid_cfg.get("nrow", 8),
                                 grid_cfg.get("num_scatter", 1000), grid_cfg.get("seed", 1234), datamodule=dm)
    written = []
    with torch.no_grad():
        for name, grid in (("random", random), ("fixed", fixed)):
            written.append(save_samples(grid.sample(model).cpu(), out / f"{name}.png", grid.nrow, dm, title=name,
                                        labels=grid.y))
        if model.latent_key is not None:  # walk the latent between two draws, row by row
            pairs, steps = cfg.interpolation.pairs, cfg.interpolation.steps
            noise = sampling.interpolation_noise(model, pairs, steps, cfg.interpolation.mode, generator=g)
            # label-conditional: row i keeps one class (label=k, else class i mod K) while the latent moves
            y = None
            if model.condition == "label":
                rows = (torch.full((pairs,), int(cfg.label)) if cfg.label is not None
                        else torch.arange(pairs) % model.num_classes)
                y = rows.repeat_interleave(steps)
            path = out / "interpolation.png"
            points = model.sample(noise=noise, y=y).cpu()
            written.append(_paths_plot(points, dm.sample_real(2000), pairs, steps, path) if toy
                           else save_grid(points, path, nrow=steps))
        if model.picture_names:  # the family's own pictures (reconstructions, completions, ...)
            held_out = sampling.real_batch(dm, grid_cfg.get("num_samples", 64), model.device)
            for name, (images, nrow) in model.pictures(held_out, torch.Generator().manual_seed(cfg.seed)).items():
                written.append(save_grid(images, out / f"{name}.png", nrow=nrow))
    print(f"Samples of model step {model.model_step}:")
    for p in written:
        print(f"  {p}")


def _paths_plot(points: torch.Tensor, real: torch.Tensor, pairs: int, steps: int, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genzoo.callbacks.images import save_figure

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.scatter(real[:, 0], real[:, 1], s=2, alpha=0.3)
    for p in points.view(pairs, steps, 2):
        ax.plot(p[:, 0], p[:, 1], marker=".", lw=1)
    ax.set_aspect("equal")
    ax.set_title("latent interpolations")
    fig.tight_layout()
    save_figure(fig, path)
    return path


if __name__ == "__main__":
    main()
