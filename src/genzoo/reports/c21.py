"""C21 in numbers: a pixel model that chooses among palette colours samples vivid images; one that
regresses RGB samples greyish ones.

Train the two on the coloured digits (same net, same steps), then compare their samples:

    python src/train.py model=pixelcnn data=colour_mnist5k data.palette_size=167 trainer.max_steps=1500 \\
        metrics=none hydra.run.dir=outputs/c21/palette
    python src/train.py model=pixelcnn data=colour_mnist5k model.output=gaussian trainer.max_steps=1500 \\
        metrics=none hydra.run.dir=outputs/c21/regression
    python -m genzoo.reports.c21 outputs/c21/palette/checkpoints/last.ckpt \\
        outputs/c21/regression/checkpoints/last.ckpt [--n 200] [--out results]

Reports the mean HSV saturation ((max - min) / max of a pixel's RGB; 0 grey, 1 a pure hue) of ``--n``
samples of each model, of the regression's means (``sample_mode=argmax``: the regressed colour
itself), and of as many held-out images (raw and quantised to the palette). Writes
``c21_palette.md`` and ``c21_palette.png``: rows of held-out images, palette samples, regression
samples, regression means.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genzoo.errors import ConfigError
from genzoo.reports.cli import parser, run_report


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("palette_ckpt", type=Path, help="last.ckpt of a run with data.palette_size=K")
    p.add_argument("regression_ckpt", type=Path, help="last.ckpt of a run with model.output=gaussian")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from genzoo.callbacks import save_grid
    from genzoo.evaluation import load_run
    from genzoo.metrics.colour import saturation

    _, pdm, palette_model, _ = load_run(str(args.palette_ckpt))
    _, rdm, regression, _ = load_run(str(args.regression_ckpt))
    if palette_model.palette is None or regression.output != "gaussian":
        raise ConfigError("give a palette run (data.palette_size=K) and then a model.output=gaussian run")
    gen = lambda: torch.Generator().manual_seed(args.seed)  # noqa: E731
    with torch.no_grad():
        rows = {
            "held-out images": rdm.sample_real(args.n, split="test"),
            f"held-out images, quantised to the {palette_model.levels}-colour palette": pdm.sample_real(args.n, split="test"),
            f"palette model samples (step {palette_model.model_step})": palette_model.sample(args.n, rng=gen()),
            f"RGB regression samples (step {regression.model_step})": regression.sample(args.n, rng=gen()),
        }
        regression.sample_mode = "argmax"
        rows["RGB regression means (the regressed colours)"] = regression.sample(args.n, rng=gen())
    sat = {k: saturation(v) for k, v in rows.items()}
    table = ["| images | mean saturation | std over images |", "|---|---|---|"]
    table += [f"| {k} | {float(s.mean()):.3f} | {float(s.std()):.3f} |" for k, s in sat.items()]
    text = (f"{args.n} images each; HSV saturation (0 grey, 1 a pure hue), averaged over pixels, then images.\n"
            f"Checkpoints: {args.palette_ckpt}, {args.regression_ckpt}.\n\n" + "\n".join(table) + "\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "c21_palette.md").write_text(text)
    print(text)
    picked = [rows[k][:10] for k in rows if "quantised" not in k]
    save_grid(torch.cat(picked), args.out / "c21_palette.png", nrow=10)
    print(f"Wrote {args.out / 'c21_palette.md'} and {args.out / 'c21_palette.png'} (rows: held-out, palette "
          "samples, regression samples, regression means)")


if __name__ == "__main__":
    run_report(main)
