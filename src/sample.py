"""Sample grids from a checkpoint: ``python src/sample.py ckpt_path=...``.

Writes, into the run folder of this command (printed at the end): ``random.png`` (fresh noise),
``fixed.png`` (the fixed noise of the training run's sample grids, so it matches them) and
``interpolation.png`` (each row walks between two random codes, spherically by default).
For 2-D toy data the pictures are scatter plots over the data, and the interpolations paths.
Conditional runs (``model=cgan``): one row per class, or only class k with ``label=k``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

from genzoo.errors import GenzooError


@hydra.main(version_base="1.3", config_path="../conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    from genzoo.callbacks import grid_inputs, save_grid, save_scatter
    from genzoo.evaluation import device_for, interpolation_latents, load_run, nrow_for

    try:
        run_cfg, dm, model, _ = load_run(cfg.ckpt_path, device_for(cfg.device))
    except GenzooError as e:
        print(f"\nError: {e}", file=sys.stderr)
        sys.exit(2)
    out = Path(cfg.paths.output_dir)
    grid_cfg = (run_cfg.get("callbacks") or {}).get("sample_grid") or {}
    g = torch.Generator().manual_seed(cfg.seed)
    toy = len(dm.shape) == 1
    conditional = model.conditional
    if cfg.label is not None and not conditional:
        print(f"\nError: label={cfg.label} needs a class-conditional run (model=cgan); this one is model="
              f"{run_cfg.model.get('name')}.", file=sys.stderr)
        sys.exit(2)
    if cfg.label is not None and not 0 <= cfg.label < model.num_classes:
        print(f"\nError: label={cfg.label} is not a class of this run; classes are 0..{model.num_classes - 1}.",
              file=sys.stderr)
        sys.exit(2)
    n = cfg.num_samples if not toy else max(cfg.num_samples, 1000)
    nrow_random = cfg.nrow or nrow_for(n)
    z_random = torch.randn(n, model.z_dim, generator=g)
    y_random = None
    if conditional:  # one class (label=k), or one row per class
        if cfg.label is not None:
            y_random = torch.full((n,), int(cfg.label))
        elif toy:
            y_random = torch.arange(n) % model.num_classes
        else:
            y_random = torch.arange(model.num_classes).repeat_interleave(nrow_random)
            z_random = torch.randn(len(y_random), model.z_dim, generator=g)
    z_fixed, y_fixed, nrow_fixed = grid_inputs(model, grid_cfg.get("num_samples", 64), grid_cfg.get("nrow", 8),
                                               grid_cfg.get("num_scatter", 1000), grid_cfg.get("seed", 1234))
    pairs, steps = cfg.interpolation.pairs, cfg.interpolation.steps
    z_interp = interpolation_latents(model.z_dim, pairs, steps, cfg.interpolation.mode, generator=g)
    # conditional: row i keeps one class (label=k, else class i mod K) while the code moves
    y_interp = None
    if conditional:
        rows = torch.full((pairs,), int(cfg.label)) if cfg.label is not None else torch.arange(pairs) % model.num_classes
        y_interp = rows.repeat_interleave(steps)
    written = []
    with torch.no_grad():
        if toy:
            real = dm.sample_real(2000)
            for name, z, y in (("random", z_random, y_random), ("fixed", z_fixed, y_fixed)):
                written.append(save_scatter(model.sample(z=z, y=y).cpu(), real, out / f"{name}.png", title=name,
                                            labels=y))
            written.append(_paths_plot(model.sample(z=z_interp, y=y_interp).cpu(), real, pairs, steps,
                                       out / "interpolation.png"))
        else:
            written.append(save_grid(model.sample(z=z_random, y=y_random), out / "random.png", nrow=nrow_random))
            written.append(save_grid(model.sample(z=z_fixed, y=y_fixed), out / "fixed.png", nrow=nrow_fixed))
            written.append(save_grid(model.sample(z=z_interp, y=y_interp), out / "interpolation.png", nrow=steps))
    print(f"Samples of generator step {model.g_step}:")
    for p in written:
        print(f"  {p}")


def _paths_plot(points: torch.Tensor, real: torch.Tensor, pairs: int, steps: int, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.scatter(real[:, 0], real[:, 1], s=2, alpha=0.3)
    for p in points.view(pairs, steps, 2):
        ax.plot(p[:, 0], p[:, 1], marker=".", lw=1)
    ax.set_aspect("equal")
    ax.set_title("latent interpolations")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


if __name__ == "__main__":
    main()
