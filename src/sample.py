"""Sample grids from a checkpoint: ``python src/sample.py ckpt_path=...``.

Writes, into the run folder of this command (printed at the end): ``random.png`` (fresh noise),
``fixed.png`` (the fixed noise of the training run's sample grids, so it matches them) and
``interpolation.png`` (each row walks between two random codes, spherically by default).
For 2-D toy data the pictures are scatter plots over the data, and the interpolations paths.
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
    from genzoo.callbacks import fixed_noise, save_grid, save_scatter
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
    n = cfg.num_samples if not toy else max(cfg.num_samples, 1000)
    z_random = torch.randn(n, model.z_dim, generator=g)
    n_fixed = grid_cfg.get("num_samples", 64) if not toy else grid_cfg.get("num_scatter", 1000)
    z_fixed = fixed_noise(n_fixed, model.z_dim, grid_cfg.get("seed", 1234))
    z_interp = interpolation_latents(model.z_dim, cfg.interpolation.pairs, cfg.interpolation.steps,
                                     cfg.interpolation.mode, generator=g)
    written = []
    with torch.no_grad():
        if toy:
            real = dm.sample_real(2000)
            for name, z in (("random", z_random), ("fixed", z_fixed)):
                written.append(save_scatter(model.sample(z=z).cpu(), real, out / f"{name}.png", title=name))
            written.append(_paths_plot(model.sample(z=z_interp).cpu(), real, cfg.interpolation.pairs,
                                       cfg.interpolation.steps, out / "interpolation.png"))
        else:
            written.append(save_grid(model.sample(z=z_random), out / "random.png", nrow=cfg.nrow or nrow_for(n)))
            written.append(save_grid(model.sample(z=z_fixed), out / "fixed.png", nrow=grid_cfg.get("nrow", 8)))
            written.append(save_grid(model.sample(z=z_interp), out / "interpolation.png", nrow=cfg.interpolation.steps))
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
