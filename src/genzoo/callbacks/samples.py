"""Sample grids (images) or scatter plots (2-D data) during training and at the end."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from genzoo.callbacks.images import EveryGeneratorSteps, log_image, save_grid, save_scatter


def fixed_noise(n: int, z_dim: int, seed: int = 1234) -> torch.Tensor:
    """The fixed latent batch of the training sample grids (sample.py draws the same one)."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


def grid_inputs(model, num_samples: int = 64, nrow: int = 8, num_scatter: int = 1000,
                seed: int = 1234) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """``(z, y, nrow)`` of the fixed sample grid (sample.py draws the same one).

    Unconditional: ``num_samples`` codes (``num_scatter`` for 2-D data), ``y`` None. Conditional:
    one row per class, ``nrow`` codes per row, the same codes in every row (a column holds one code
    across classes); for 2-D data ``num_scatter`` points split evenly over the classes.
    """
    toy = len(model.data_shape) == 1
    if not model.conditional:
        return fixed_noise(num_scatter if toy else num_samples, model.z_dim, seed), None, nrow
    k = model.num_classes
    if toy:
        per = max(1, num_scatter // k)
        return fixed_noise(per * k, model.z_dim, seed), torch.arange(k).repeat_interleave(per), nrow
    z = fixed_noise(nrow, model.z_dim, seed).repeat(k, 1)
    return z, torch.arange(k).repeat_interleave(nrow), nrow


class SampleGrid(EveryGeneratorSteps, pl.Callback):
    """Every ``every_n_g_steps`` generator steps and at the end of training, draw samples from a
    fixed noise batch (the same z each time, so progress is comparable) and save
    ``{dirpath}/g{step:07d}.png`` (plus ``last.png``); log the picture to W&B.

    The fixed noise comes from a private generator: sampling never disturbs the training RNG.
    Conditional models get one row per class (``nrow`` samples each); see ``grid_inputs``.
    """

    def __init__(self, dirpath: str, every_n_g_steps: int = 500, num_samples: int = 64, nrow: int = 8,
                 num_scatter: int = 1000, seed: int = 1234) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_g_steps = every_n_g_steps
        self.num_samples, self.nrow, self.num_scatter, self.seed = num_samples, nrow, num_scatter, seed
        self._last = -1
        self.last_path: Path | None = None

    @torch.no_grad()
    def render(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Path | None:
        if not trainer.is_global_zero or pl_module.g_step == self._last:
            return None
        self._last = g = pl_module.g_step
        was_training = pl_module.training
        pl_module.eval()
        z, y, nrow = grid_inputs(pl_module, self.num_samples, self.nrow, self.num_scatter, self.seed)
        try:
            samples = pl_module.sample(z=z, y=y)
        finally:
            pl_module.train(was_training)
        path = self.dirpath / f"g{g:07d}.png"
        if samples.ndim == 2:  # 2-D toy data: scatter over the real points
            real = trainer.datamodule.sample_real(2000)
            save_scatter(samples, real, path, title=f"generator step {g}", labels=y)
        else:
            save_grid(samples, path, nrow=nrow)
        last = self.dirpath / "last.png"
        last.write_bytes(path.read_bytes())
        self.last_path = last
        log_image(trainer, "samples", path, g)
        return path

    fire = render
