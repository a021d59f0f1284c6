"""The C19 ablation table and figure: what the cycle term does for unpaired translation.

    python -m genzoo.reports.c19 outputs/c19_cycle_ablation/multiruns/<time> [--out results]

For each run of the ``c19_cycle_ablation`` sweep, its final label preservation and FID per direction
(from its CSV). Writes ``c19_ablation.md`` (per run, then mean and standard deviation over seeds per
objective) and ``c19_ablation.png``: label preservation and FID per objective (a dot per seed), and
seed 0's translations of the same held-out digits under each objective, both directions.
"""

from __future__ import annotations

import statistics

import torch

from genzoo.reports.cli import report_parser, run_report
from genzoo.reports.figures import pyplot, save_figure_and_say, show_grid
from genzoo.reports.runs import final_metrics, mean_std, no_runs, overrides_of, sweep_jobs

ORDER = ["no_cycle", "cycle", "cycle_identity"]
DIRECTIONS = ("AtoB", "BtoA")


def pick(metrics: dict[str, float], prefix: str, direction: str) -> float:
    return next((v for k, v in metrics.items() if k.startswith(prefix) and k.endswith("/" + direction)), float("nan"))


def main(argv: list[str] | None = None) -> None:
    args = report_parser(__doc__, several=False).parse_args(argv)

    from genzoo.evaluation import load_run
    from genzoo.sampling import source_images

    rows, pictures, sources = [], {}, {}
    for run in sweep_jobs([args.root]):
        o = overrides_of(run)
        if "+cycle" not in o or not (run / "checkpoints" / "last.ckpt").is_file():  # another sweep's, or unfinished
            continue
        m = final_metrics(run)
        row = {"objective": o["+cycle"], "seed": int(o.get("seed", 0)), "model_steps": int(m.get("model_step", 0))}
        for d in DIRECTIONS:
            row[f"label_preservation {d}"] = pick(m, "label_preservation/", d)
            row[f"FID {d}"] = pick(m, "fid/", d)
            row[f"cycle L1 {d}"] = m.get(f"cycle_l1/{d}/test", float("nan"))
        rows.append(row)
        if row["seed"] == 0:
            _, dm, model, _ = load_run(str(run / "checkpoints" / "last.ckpt"))
            with torch.no_grad():
                for d in DIRECTIONS:
                    src, _ = source_images(model, dm, d, 10)
                    sources[d] = src
                    pictures[(row["objective"], d)] = model.sample(source=src, direction=d).cpu()
    if not rows:
        no_runs(f"no finished c19_cycle_ablation runs (checkpoints/last.ckpt) under {args.root}.")
    args.out.mkdir(parents=True, exist_ok=True)
    keys = [k for k in rows[0] if k not in ("objective", "seed")]
    lines = ["| objective | seed | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for r in sorted(rows, key=lambda r: (ORDER.index(r["objective"]), r["seed"])):
        lines.append(f"| {r['objective']} | {r['seed']} | " + " | ".join(f"{r[k]:.4g}" for k in keys) + " |")
    lines += ["", "Mean (standard deviation) over seeds:", "", "| objective | seeds | " + " | ".join(keys[1:]) + " |",
              "|---" * (len(keys) + 1) + "|"]
    objectives = [o for o in ORDER if any(r["objective"] == o for r in rows)]
    for name in objectives:
        mine = [r for r in rows if r["objective"] == name]
        cells = []
        for k in keys[1:]:
            mean, sd = mean_std(r[k] for r in mine)
            cells.append(f"{mean:.3g} ({sd:.2g})")
        lines.append(f"| {name} | {len(mine)} | " + " | ".join(cells) + " |")
    (args.out / "c19_ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    plt = pyplot()
    fig = plt.figure(figsize=(14, 7), dpi=100)
    for i, metric in enumerate(("label_preservation", "FID")):
        ax = fig.add_subplot(2, 2, 1 + 2 * i)
        for j, d in enumerate(DIRECTIONS):
            for k, name in enumerate(objectives):
                vals = [r[f"{metric} {d}"] for r in rows if r["objective"] == name]
                x = k + (j - 0.5) * 0.3
                ax.bar(x, statistics.mean(vals), width=0.28, color=f"C{j}", alpha=0.5, label=d if k == 0 else None)
                ax.scatter([x] * len(vals), vals, color=f"C{j}", s=12, zorder=3)
        if metric == "label_preservation":
            ax.axhline(0.1, color="grey", ls="--", lw=1, label="chance")
        ax.set_xticks(range(len(objectives)), objectives)
        ax.set_title(metric + (" (higher is better)" if metric == "label_preservation" else " (lower is better)"))
        ax.legend(fontsize=8)
    for j, d in enumerate(DIRECTIONS):
        ax = fig.add_subplot(2, 2, 2 + 2 * j)
        imgs = [sources[d]] + [pictures[(name, d)] for name in objectives if (name, d) in pictures]
        show_grid(ax, torch.cat(imgs), len(sources[d]), f"{d}, seed 0: held-out sources, then " + ", ".join(objectives),
                  fontsize=9)
    save_figure_and_say(fig, args.out / "c19_ablation.png", args.out / "c19_ablation.md")


if __name__ == "__main__":
    run_report(main)
