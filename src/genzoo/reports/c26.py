"""The C26 table and figure: are VAE samples blurrier than GAN samples, in numbers?

    python -m genzoo.reports.c26 outputs/c26_vae_vs_gan/multiruns/<time> [--out results] [--n 1000]

For each run of the ``c26_vae_vs_gan`` sweep: its model steps in the budget and its final FID (from its
CSV), and the sharpness of ``--n`` samples drawn through the family contract against as many held-out
real images (``genzoo.metrics.sharpness``: gradient magnitude and high-frequency energy, as ratios to
the real images'). Writes ``c26_comparison.md`` (per run, and mean per model) and
``c26_vae_vs_gan.png`` (real images, then one seed's samples of each model).
"""

from __future__ import annotations

from genzoo.reports.cli import report_parser, run_report
from genzoo.reports.figures import pyplot, save_figure_and_say, show_grid
from genzoo.reports.runs import final_metrics, no_runs, overrides_of, sweep_jobs


def main(argv: list[str] | None = None) -> None:
    p = report_parser(__doc__, several=False)
    p.add_argument("--n", type=int, default=1000)
    args = p.parse_args(argv)

    from genzoo.evaluation import load_run
    from genzoo.metrics.sharpness import sharpness
    from genzoo.sampling import draw_share

    rows, pictures, real = [], {}, None
    for run in sweep_jobs([args.root]):
        o = overrides_of(run)
        ckpt = run / "checkpoints" / "last.ckpt"
        if "+objective" not in o or not ckpt.is_file():  # another sweep's job, or unfinished
            continue
        _, dm, model, _ = load_run(str(ckpt))
        if real is None:
            real = dm.sample_real(args.n, split="test")
        samples, _ = draw_share(model, args.n, seed=0)
        m = final_metrics(run)
        fid = next((v for k, v in m.items() if k.startswith("fid/")), float("nan"))
        fid_key = next((k for k in m if k.startswith("fid/")), "fid")
        rows.append({"model": o["+objective"], "seed": int(o.get("seed", 0)), "model_steps": int(model.model_step),
                     fid_key: fid, **sharpness(samples, real)})
        pictures.setdefault(o["+objective"], samples[:64])
    if not rows:
        no_runs(f"no finished c26_vae_vs_gan runs (checkpoints/last.ckpt) under {args.root}.")
    args.out.mkdir(parents=True, exist_ok=True)
    keys = [k for k in rows[0] if k not in ("model", "seed")]
    lines = ["| model | seed | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for r in sorted(rows, key=lambda r: (r["model"], r["seed"])):
        lines.append(f"| {r['model']} | {r['seed']} | " + " | ".join(f"{r[k]:.4g}" for k in keys) + " |")
    lines += ["", "Mean over seeds:", "", "| model | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name in sorted({r["model"] for r in rows}):
        mine = [r for r in rows if r["model"] == name]
        lines.append(f"| {name} | " + " | ".join(f"{sum(r[k] for r in mine) / len(mine):.4g}" for k in keys) + " |")
    (args.out / "c26_comparison.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    plt = pyplot()
    panels = [("real (held out)", real[:64])] + sorted(pictures.items())
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4.3), dpi=100)
    for ax, (title, imgs) in zip(axes, panels):
        show_grid(ax, imgs, 8, title)
    save_figure_and_say(fig, args.out / "c26_vae_vs_gan.png", args.out / "c26_comparison.md")


if __name__ == "__main__":
    run_report(main)
