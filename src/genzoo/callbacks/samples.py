"""Sample grids (images), scatter plots (2-D data) or text files and tables (text), and a family's other
pictures, during training."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch

from genzoo.callbacks.images import EveryModelSteps, copy_file, log_image, log_samples, save_grid, save_scatter, save_text
from genzoo.plotting import sample_labels, save_picture
from genzoo.sampling import grid_inputs, real_batch


def save_samples(samples: torch.Tensor, path: Path, nrow: int, datamodule, title: str = "",
                 labels: torch.Tensor | None = None) -> Path:
    """Images as a grid, upscaled to at least 256 px (``genzoo.plotting.save_grid``), each row labelled with
    its class where ``labels`` (the classes asked of a conditional model) give one class a row; 2-D points as
    a scatter over real points (coloured by class asked for); text (``datamodule.modality == "text"``) as a
    ``.txt`` file beside ``path``, one sample a line, ``nrow`` lines a group. ``title`` names a scatter plot
    (a grid's pixels depend on the samples and classes only: sample.py redraws a run's grid exactly).
    Returns the path written."""
    if getattr(datamodule, "modality", None) == "text":
        return save_text(datamodule.decode(samples), Path(path).with_suffix(".txt"), nrow)
    if samples.ndim == 2:
        return save_scatter(samples, datamodule.sample_real(2000), path, title=title, labels=labels)
    return save_grid(samples, path, nrow=nrow, labels=sample_labels(labels, nrow))


class SampleGrid(EveryModelSteps, pl.Callback):
    """Every ``every_n_steps`` model steps and at the end of training, draw samples from the run's
    fixed grid inputs (``genzoo.sampling.grid_inputs``: the same noise each time, so progress is
    comparable, from a private generator, so sampling never disturbs the training RNG) and save
    ``{dirpath}/g{step:07d}.png`` (plus ``last.png``; for text ``.txt`` files, logged as a table of samples);
    log the picture to W&B. Where the model samples
    from a weight average (EMA), the trained weights' samples from the same inputs go to
    ``raw_g{step:07d}.png`` (``raw_last.png``, W&B ``samples/raw``), so the two can be compared. Families that make
    other pictures (``pictures_names``: reconstructions, completions, translations) get them saved
    as ``{dirpath}/<name>_g{step:07d}.png`` and logged too, from a fixed held-out batch, labelled
    (``genzoo.plotting.picture_labels``: what each row and column shows).
    """

    def __init__(self, dirpath: str, every_n_steps: int = 500, num_samples: int = 64, nrow: int = 8,
                 num_scatter: int = 1000, seed: int = 1234) -> None:
        self.dirpath = Path(dirpath)
        self.every_n_steps = every_n_steps
        self.num_samples, self.nrow, self.num_scatter, self.seed = num_samples, nrow, num_scatter, seed
        self.last_path: Path | None = None

    @torch.no_grad()
    def fire(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch=None) -> Path | None:
        if not trainer.is_global_zero:
            return None
        g = pl_module.model_step
        dm = trainer.datamodule
        was_training = pl_module.training
        pl_module.eval()
        try:
            grid = grid_inputs(pl_module, self.num_samples, self.nrow, self.num_scatter, self.seed, datamodule=dm)
            samples = grid.sample(pl_module)
            # where sampling uses a weight average, the trained weights' samples from the same inputs too
            raw = grid.sample(pl_module, ema=False) if pl_module.has_average else None
            written = []
            if pl_module.picture_names:
                held_out = real_batch(dm, self.num_samples, pl_module.device)
                pictures = pl_module.pictures(held_out, torch.Generator().manual_seed(self.seed))
                for name, (images, nrow) in pictures.items():  # labels may read the model (a traversal's dims)
                    p = save_picture(pl_module, name, images, nrow, self.dirpath / f"{name}_g{g:07d}.png", held_out)
                    written.append((name, p))
        finally:
            pl_module.train(was_training)
        path = save_samples(samples, self.dirpath / f"g{g:07d}.png", grid.nrow, dm, title=f"model step {g}",
                            labels=grid.y)
        last = self.dirpath / f"last{path.suffix}"
        copy_file(path, last)
        self.last_path = last
        log_samples(trainer, "samples", path, g)
        if raw is not None:
            p = save_samples(raw, self.dirpath / f"raw_g{g:07d}.png", grid.nrow, dm,
                             title=f"model step {g}, trained weights (no average)", labels=grid.y)
            copy_file(p, self.dirpath / f"raw_last{p.suffix}")
            log_samples(trainer, "samples/raw", p, g)
        for name, p in written:
            copy_file(p, self.dirpath / f"{name}_last.png")
            log_image(trainer, name, p, g)
        return path
