"""C22 in numbers: are PixelCNN completions of half- and three-quarter-hidden digits still the digit?

    python -m genzoo.reports.c22 outputs/train/runs/<pixelcnn run>/checkpoints/last.ckpt [--n 100] [--out results]

Completes the first ``--n`` held-out images of the run's data with their lower half / three quarters
hidden (each fraction of ``model.completion_fractions``), once each, and reports the share the
domain classifier assigns to the original digit (chance: 0.1), next to the classifier's accuracy on
the originals and on the visible part alone (the hidden rows set to background). Writes
``c22_completions.md`` and ``c22_completions.png`` (the model's completion pictures) into ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genzoo.reports.cli import parser, run_report


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("ckpt", type=Path, help="last.ckpt of a model=pixelcnn run")
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from genzoo.callbacks import save_grid
    from genzoo.evaluation import load_run
    from genzoo.metrics import build_extractor

    cfg, dm, model, _ = load_run(str(args.ckpt))
    clf = build_extractor("classifier", dm, cfg["paths"]["cache_dir"])
    x, y = dm.sample_real(args.n, with_labels=True, split="test")
    g = torch.Generator().manual_seed(args.seed)
    h = model.data_shape[1]

    def accuracy(images: torch.Tensor) -> float:
        with torch.no_grad():
            return float((clf.logits(images).argmax(1) == y).float().mean())

    rows = [("original", accuracy(x))]
    for f in model.completion_fractions:
        start = h - max(1, round(f * h))
        visible = x.clone()
        visible[:, :, start:] = -1.0  # background
        u = torch.rand(args.n, *model.data_shape, generator=g)
        filled = model.complete(x, u, start)
        rows += [(f"lower {round(100 * f)}% hidden, visible part only", accuracy(visible)),
                 (f"lower {round(100 * f)}% hidden, completed", accuracy(filled))]
    args.out.mkdir(parents=True, exist_ok=True)
    table = ["| images | classified as the original digit |", "|---|---|"] + [f"| {k} | {v:.2f} |" for k, v in rows]
    text = (f"{args.n} held-out images, checkpoint at model step {model.model_step} ({args.ckpt}); chance 0.10.\n\n"
            + "\n".join(table) + "\n")
    (args.out / "c22_completions.md").write_text(text)
    print(text)
    pics = model.pictures((x[:8],), torch.Generator().manual_seed(args.seed))
    grids = [img for name in model.picture_names for img in pics[name][0]]
    save_grid(torch.stack(grids), args.out / "c22_completions.png", nrow=pics[model.picture_names[0]][1])
    print(f"Wrote {args.out / 'c22_completions.md'} and {args.out / 'c22_completions.png'}")


if __name__ == "__main__":
    run_report(main)
