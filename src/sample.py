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

Sampling options: ``model.<name>=value`` sets one of the family's sampling options for these samples
(``sampling_keys``: PixelCNN and PixelRNN take ``model.temperature``, ``model.sample_mode`` and
``model.sampler``), checked as training checks it; ``ema=false`` draws from the trained weights of a run
that keeps a weight average (``model.ema_decay``), which it samples with by default. Any other key is
refused with the options this run takes, never ignored.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
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
    if cfg.get("ema") is not None and not isinstance(cfg.ema, bool):
        bad("ema", cfg.ema, "true (the weight average) or false (the trained weights), or null (the average where kept)")


def sampling_options(cfg: DictConfig, ckpt: dict) -> dict:
    """The ``model.*`` sampling options given, once the family of the checkpoint takes each of them and
    every other key of the command is one it uses."""
    from genzoo.config_rules import family_class
    from genzoo.preflight import unused_keys
    from genzoo.sampling import check_sampling_options

    options = OmegaConf.to_container(cfg.get("model") or OmegaConf.create({}), resolve=True)
    run_model = ckpt["genzoo"]["config"]["model"]
    check_sampling_options(family_class(run_model), run_model.get("name"), options, unused_keys(cfg, "sample", ("model",)))
    return options


def draw(cfg: DictConfig) -> None:
    from genzoo.checkpoints import load_checkpoint

    check_sample_config(cfg)
    ckpt = load_checkpoint(cfg.ckpt_path, mmap=True)  # a bad file fails here, in seconds, before Lightning is imported
    options = sampling_options(cfg, ckpt)
    del ckpt
    from genzoo import sampling
    from genzoo.callbacks import save_samples
    from genzoo.evaluation import device_for, load_run, nrow_for
    from genzoo.plotting import save_picture

    run_cfg, dm, model, _ = load_run(cfg.ckpt_path, device_for(cfg.device), options)
    ema = cfg.get("ema")
    if ema is not None and not model.has_average:
        raise ConfigError(f"ema={ema}: this run of model={model.name} keeps no weight average (model.ema_decay=null), "
                          "so its samples come from its trained weights; drop ema=.")
    ema = ema is not False
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
    images = None if input_dir is None else images_in(Path(str(input_dir)).expanduser())
    from genzoo.run_record import save_run_record

    out = Path(cfg.paths.output_dir)
    save_run_record(cfg)  # the command's inputs are accepted: record it in its folder
    written = []
    if images is not None:
        written += translate_folder(model, Path(str(input_dir)).expanduser(), images, direction, out, ema=ema)
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
            written.append(save_samples(grid.sample(model, ema=ema).cpu(), out / f"{name}.png", grid.nrow, dm, title=name,
                                        labels=grid.y))
            if name == "random":
                random_path = written[-1]
        if model.latent_key is not None:  # walk the latent between two draws, row by row
            pairs, steps = cfg.interpolation.pairs, cfg.interpolation.steps
            noise = sampling.interpolation_noise(model, pairs, steps, cfg.interpolation.mode, rng=g)
            # label-conditional: row i keeps one class (label=k, else class i mod K) while the latent moves
            y = None
            if model.condition == "label":
                rows = (torch.full((pairs,), int(cfg.label)) if cfg.label is not None
                        else torch.arange(pairs) % model.num_classes)
                y = rows.repeat_interleave(steps)
            path = out / "interpolation.png"
            points = model.sample(noise=noise, y=y, ema=ema).cpu()
            written.append(_paths_plot(points, dm.sample_real(2000), pairs, steps, path) if toy
                           else save_samples(points, path, steps, dm))
        if model.picture_names:  # the family's own pictures (reconstructions, completions, ...)
            held_out = sampling.real_batch(dm, grid_cfg.get("num_samples", 64), model.device)
            takes_ema = {"ema": ema} if "ema" in inspect.signature(model.pictures).parameters else {}
            pictures = model.pictures(held_out, torch.Generator().manual_seed(cfg.seed), **takes_ema)
            for name, (pics, nrow) in pictures.items():
                written.append(save_picture(model, name, pics, nrow, out / f"{name}.png", held_out))  # labelled
    if getattr(dm, "modality", None) == "text":  # text is read, not opened: print the fresh samples
        from genzoo.callbacks import read_text_samples

        print(f"Random samples of model step {model.model_step}:")
        for line in read_text_samples(random_path)[: cfg.num_samples]:
            print(f"  |{line}|")
    print(f"Samples of model step {model.model_step}:")
    for p in written:
        print(f"  {p}")


def images_in(folder: Path) -> list[Path]:
    """The readable images under ``folder`` (searched recursively; unreadable files skipped with a warning)."""
    from genzoo.data.files import is_image_file, readable
    from genzoo.errors import DatasetNotFoundError

    if not folder.is_dir():
        raise DatasetNotFoundError(f"input_dir={folder} is not a folder; point it at a folder of images to translate.")
    paths = sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))
    if not paths:
        raise DatasetNotFoundError(f"No images found under input_dir={folder}.")
    return readable(paths, str(folder))


@torch.no_grad()
def translate_folder(model, folder: Path, paths: list[Path], direction: str, out: Path, batch_size: int = 64,
                     ema: bool = True) -> list[Path]:
    """Translate ``paths`` (images under ``folder``, from ``images_in``) in ``direction`` (with the weight average
    unless ``ema`` is false): ``out/translated_<direction>/<relative path>.png`` each, and a grid."""
    from genzoo.callbacks import save_grid
    from genzoo.checkpoints import atomic_write
    from genzoo.data.base import to_unit_range
    from genzoo.data.files import load_image

    c, size = model.data_shape[0], model.data_shape[-1]
    target = out / f"translated_{direction}"
    first: list[torch.Tensor] = []
    for i in range(0, len(paths), batch_size):
        chunk = paths[i : i + batch_size]
        src = torch.stack([to_unit_range(load_image(p, size, c)) for p in chunk])
        fake = model.sample(source=src, direction=direction, ema=ema).float().cpu()
        for p, img in zip(chunk, fake):
            dest = target / p.relative_to(folder).with_suffix(".png")
            dest.parent.mkdir(parents=True, exist_ok=True)
            pixels = ((img.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            with atomic_write(dest) as tmp:
                Image.fromarray(pixels[0].numpy() if c == 1 else pixels.permute(1, 2, 0).numpy()).save(tmp, format="png")
        if not first:
            first = [src[:8], fake[:8]]
    print(f"Translated {len(paths)} image(s) of {folder} ({direction}) into {target}")
    from genzoo.plotting import GridLabels

    rows = GridLabels(rows=["source", direction.replace("to", "->")])
    return [save_grid(torch.cat(first), out / f"translated_{direction}.png", nrow=len(first[0]), labels=rows)]


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


def sampling_overrides(argv: list[str]) -> list[str]:
    """``model.<name>=value`` -> ``+model.<name>=value``: conf/sample.yaml's ``model`` holds no keys (each family
    has its own sampling options, checked in ``sampling_options``), so Hydra must add them."""
    return [f"+{a}" if a.startswith("model.") and "=" in a else a for a in argv]


if __name__ == "__main__":
    import sys

    sys.argv[1:] = sampling_overrides(sys.argv[1:])
    main()
