"""Sample grids from a checkpoint: ``python src/sample.py ckpt_path=...``.

Writes, into the run folder of this command (printed at the end): ``random.png`` (fresh noise),
``fixed.png`` (the fixed noise of the training run's sample grids, so it matches them) and
``interpolation.png`` (each row walks between two random codes, spherically by default; families
with a latent only), and the family's own pictures (reconstructions, completions, translations).
For 2-D toy data the pictures are scatter plots over the data, and the interpolations paths; for text
(``data=text``) they are ``.txt`` files (one sample a line), and the random samples are printed.
Conditional runs (``model=cgan``): one row per class, or only class k with ``label=k``.
Translating runs (``model=cyclegan``): the grids translate held-out images (``direction=AtoB|BtoA``,
AtoB by default), and ``input_dir=DIR`` translates every image in a folder of your own: each is
written under ``translated_<direction>/`` with its own name (as PNG), at the model's size, plus a
``translated_<direction>.png`` grid of sources above their translations.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from PIL import Image

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
    direction, input_dir = cfg.get("direction"), cfg.get("input_dir")
    if (direction is not None or input_dir is not None) and model.condition != "image":
        key = "direction" if direction is not None else "input_dir"
        raise ConfigError(f"{key}= is for translating runs (model=cyclegan); this one is model={model.name}.")
    if model.condition == "image":
        direction = sampling.directions(model, direction)[0]
    from genzoo.run_record import save_run_record

    out = Path(cfg.paths.output_dir)
    save_run_record(cfg)  # the command's inputs are accepted: record it in its folder
    written = []
    if input_dir is not None:
        written += translate_folder(model, Path(str(input_dir)).expanduser(), direction, out)
    grid_cfg = (run_cfg.get("callbacks") or {}).get("sample_grid") or {}
    g = torch.Generator().manual_seed(cfg.seed)
    toy = len(model.data_shape) == 1
    n = cfg.num_samples if not toy else max(cfg.num_samples, 1000)
    random = sampling.random_grid(model, n, g, cfg.nrow or nrow_for(n), label=cfg.label, datamodule=dm,
                                  direction=direction)
    fixed = sampling.grid_inputs(model, grid_cfg.get("num_samples", 64), grid_cfg.get("nrow", 8),
                                 grid_cfg.get("num_scatter", 1000), grid_cfg.get("seed", 1234), datamodule=dm)
    with torch.no_grad():
        for name, grid in (("random", random), ("fixed", fixed)):
            written.append(save_samples(grid.sample(model).cpu(), out / f"{name}.png", grid.nrow, dm, title=name,
                                        labels=grid.y))
            if name == "random":
                random_path = written[-1]
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
                           else save_samples(points, path, steps, dm))
        if model.picture_names:  # the family's own pictures (reconstructions, completions, ...)
            held_out = sampling.real_batch(dm, grid_cfg.get("num_samples", 64), model.device)
            for name, (images, nrow) in model.pictures(held_out, torch.Generator().manual_seed(cfg.seed)).items():
                written.append(save_grid(images, out / f"{name}.png", nrow=nrow))
    if getattr(dm, "modality", None) == "text":  # text is read, not opened: print the fresh samples
        from genzoo.callbacks import read_text_samples

        print(f"Random samples of model step {model.model_step}:")
        for line in read_text_samples(random_path)[: cfg.num_samples]:
            print(f"  |{line}|")
    print(f"Samples of model step {model.model_step}:")
    for p in written:
        print(f"  {p}")


@torch.no_grad()
def translate_folder(model, folder: Path, direction: str, out: Path, batch_size: int = 64) -> list[Path]:
    """Translate every image under ``folder`` (searched recursively; unreadable files skipped with a
    warning) in ``direction``: ``out/translated_<direction>/<relative path>.png`` each, and a grid."""
    from genzoo.callbacks import save_grid
    from genzoo.checkpoints import atomic_write
    from genzoo.data.base import to_unit_range
    from genzoo.data.files import is_image_file, load_image, readable
    from genzoo.errors import DatasetNotFoundError

    if not folder.is_dir():
        raise DatasetNotFoundError(f"input_dir={folder} is not a folder; point it at a folder of images to translate.")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))
    if not paths:
        raise DatasetNotFoundError(f"No images found under input_dir={folder}.")
    paths = readable(paths, str(folder))
    c, size = model.data_shape[0], model.data_shape[-1]
    target = out / f"translated_{direction}"
    first: list[torch.Tensor] = []
    for i in range(0, len(paths), batch_size):
        chunk = paths[i : i + batch_size]
        src = torch.stack([to_unit_range(load_image(p, size, c)) for p in chunk])
        fake = model.sample(source=src, direction=direction).float().cpu()
        for p, img in zip(chunk, fake):
            dest = target / p.relative_to(folder).with_suffix(".png")
            dest.parent.mkdir(parents=True, exist_ok=True)
            pixels = ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            with atomic_write(dest) as tmp:
                Image.fromarray(pixels[0].numpy() if c == 1 else pixels.permute(1, 2, 0).numpy()).save(tmp, format="png")
        if not first:
            first = [src[:8], fake[:8]]
    print(f"Translated {len(paths)} image(s) of {folder} ({direction}) into {target}")
    return [save_grid(torch.cat(first), out / f"translated_{direction}.png", nrow=len(first[0]))]


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
