"""The C5 figure: what forward and reverse KL do to a model of a two-mode target.

    python -m genzoo.reports.c5 outputs/c5_kl_directions/multiruns/<time> [--seed 0] [--out results]

Top row: the Gaussian model fitted by the exact divergences (``genzoo.theory.fit_gaussian_kl``,
no critic). Below, for each generator of the ``c5_kl_directions`` sweep, the final samples of the
f-GAN runs with ``loss=kl`` (forward) and ``loss=reverse_kl``, of one seed. Writes
``c5_kl_directions.png`` into ``--out``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from genzoo.reports.cli import parser, run_report
from genzoo.reports.figures import pyplot, save_figure_and_say
from genzoo.reports.runs import no_runs, overrides_of, sweep_jobs


def sweep_runs(root: Path, seed: int) -> dict[tuple[str, str], Path]:
    """(generator depth, divergence) -> last.ckpt of that seed's job."""
    runs = {}
    for job in sweep_jobs([root]):
        o = overrides_of(job)
        ckpt = job / "checkpoints" / "last.ckpt"
        if "+objective" in o and int(o.get("seed", 0)) == seed and ckpt.is_file():
            runs[(o.get("net.generator.depth", "3"), o["+objective"].removeprefix("fgan_"))] = ckpt
    return runs


def main(argv: list[str] | None = None) -> None:
    from genzoo.data.toy2d import Toy2DDistribution
    from genzoo.evaluation import load_run
    from genzoo.metrics import toy2d_metrics
    from genzoo.theory import fit_gaussian_kl

    ap = parser(__doc__)
    ap.add_argument("multirun", type=Path, help="the c5_kl_directions sweep's multirun folder")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    runs = sweep_runs(args.multirun, args.seed)
    if not runs:
        no_runs(f"no finished c5_kl_directions runs of seed {args.seed} under {args.multirun}")

    target = Toy2DDistribution("bimodal")
    real, _ = target.sample(2000, torch.Generator().manual_seed(0))
    z = torch.randn(2000, 2, generator=torch.Generator().manual_seed(1))
    rows = [("exact KL, Gaussian model", {d: fit_gaussian_kl(target, d, seed=args.seed)(z).detach()
                                          for d in ("forward", "reverse")})]
    for depth, label in (("0", "f-GAN, Gaussian generator"), ("3", "f-GAN, MLP generator")):
        panel = {}
        for div, name in (("kl", "forward"), ("reverse_kl", "reverse")):
            if (depth, div) in runs:
                _, _, model, _ = load_run(str(runs[(depth, div)]))
                panel[name] = model.sample(noise={"z": z}).cpu()
        if panel:
            rows.append((label, panel))

    plt = pyplot()
    fig, axes = plt.subplots(len(rows), 2, figsize=(7, 3.2 * len(rows)), dpi=100, squeeze=False)
    for (label, panel), ax_row in zip(rows, axes):
        for ax, name in zip(ax_row, ("forward", "reverse")):
            ax.scatter(real[:, 0], real[:, 1], s=2, alpha=0.3, c="tab:blue")
            if name in panel:
                x = panel[name]
                m = toy2d_metrics(x, target)
                ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.4, c="tab:orange")
                ax.set_title(f"{label}\n{name} KL: modes {m['toy2d/modes_covered']:.0f}, "
                             f"high quality {m['toy2d/high_quality']:.2f}", fontsize=8)
            ax.set_xlim(-4, 4)
            ax.set_ylim(-2.5, 2.5)
            ax.set_aspect("equal")
    args.out.mkdir(parents=True, exist_ok=True)
    save_figure_and_say(fig, args.out / "c5_kl_directions.png")


if __name__ == "__main__":
    run_report(main)
