"""The C6 table and figure: how the balance between D and G breaks, and what mode collapse looks like.

    python -m genzoo.reports.c6 outputs/c6_balance/multiruns/<time> [<time> ...] [--out results]

(several multirun folders: a sweep split over processes, e.g. one per ``data.name``)

For each run of the ``c6_balance`` sweep (non-saturating GAN on toy2d, D steps per G step x D's
learning rate against G's), its final toy2d metrics (from its CSV). Writes ``c6_balance.md`` (mean
and std over seeds per setting, then every run) and ``c6_balance.png``: modes covered and the share of
high-quality samples per setting (a dot per seed), and seed 0's final samples of every setting.
"""

from __future__ import annotations

import math

from genzoo.reports.cli import report_parser, run_report
from genzoo.reports.figures import pyplot, save_figure_and_say
from genzoo.reports.runs import fmt_values, full_length_runs

MODES = {"ring": 8, "grid": 25}


def metric(final: dict[str, float], name: str) -> float:
    return next((v for k, v in final.items() if k.startswith("toy2d/") and k.endswith("/" + name)), float("nan"))


def main(argv: list[str] | None = None) -> None:
    args = report_parser(__doc__).parse_args(argv)
    plt = pyplot()

    g_lr = 2e-4

    def describe(s: dict[str, str], final: dict[str, float]) -> dict | None:
        if math.isnan(metric(final, "modes_covered")):  # still running, or failed
            return None
        return {"data": s.get("data.name", "ring"), "n_critic": int(s.get("model.n_critic", 1)),
                "ratio": float(s.get("model.optimizer_d.lr", g_lr)) / g_lr, "seed": int(s.get("seed", 0)),
                "modes": metric(final, "modes_covered"), "hq": metric(final, "high_quality"), "kl": metric(final, "mode_kl")}

    runs = full_length_runs(args.roots, "c6_balance", describe)
    settings = sorted({(r["data"], r["n_critic"], r["ratio"]) for r in runs}, key=lambda t: (t[0] != "ring", t[1], t[2]))

    def group(d, k, ratio):
        return [r for r in runs if (r["data"], r["n_critic"], r["ratio"]) == (d, k, ratio)]

    lines = [f"Non-saturating GAN on toy2d, {runs[0]['steps']} generator steps, G's learning rate 2e-4 (Adam 0.5, 0.999); "
             "D steps per G step (`model.n_critic`) and D's learning rate / G's swept; mean ± std over seeds. "
             "2,500 samples per run. High quality: share of samples within 3 std of a mode's centre; modes "
             "covered: modes holding at least a tenth of their fair share of high-quality samples, out of 8 "
             "(ring) or 25 (grid); mode KL: KL(uniform over modes || the modes' share of high-quality samples), "
             "0 when every mode gets its share.", "",
             "| data | D steps per G step | D lr / G lr | seeds | modes covered | high quality | mode KL |",
             "|---|---|---|---|---|---|---|"]
    for d, k, ratio in settings:
        rs = group(d, k, ratio)
        cells = " | ".join(fmt_values(r[key] for r in rs) for key in ("modes", "hq", "kl"))
        lines.append(f"| {d} ({MODES.get(d, '?')} modes) | {k} | {ratio:g} | {len(rs)} | {cells} |")
    lines += ["", "| data | D steps | D lr / G lr | seed | modes covered | high quality | mode KL |",
              "|---|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (r["data"] != "ring", r["n_critic"], r["ratio"], r["seed"])):
        lines.append(f"| {r['data']} | {r['n_critic']} | {r['ratio']:g} | {r['seed']} | {r['modes']:g} | {r['hq']:.3f} | "
                     f"{r['kl']:.3f} |")
    args.out.mkdir(parents=True, exist_ok=True)
    md = args.out / "c6_balance.md"
    md.write_text("\n".join(lines) + "\n")

    datasets = [d for d in ("ring", "grid") if any(r["data"] == d for r in runs)]
    per_data = max(len([s for s in settings if s[0] == d]) for d in datasets)
    fig, axes = plt.subplots(len(datasets), per_data + 1, figsize=(2.6 * (per_data + 1), 2.9 * len(datasets)), dpi=110,
                             squeeze=False)
    for row, d in enumerate(datasets):
        ax = axes[row, 0]
        for k, marker, colour in ((1, "o", "C0"), (5, "s", "C3")):  # one colour per D steps, as the legend says
            for ratio in sorted({s[2] for s in settings if s[0] == d and s[1] == k}):
                ys = [r["modes"] for r in group(d, k, ratio)]
                ax.scatter([ratio] * len(ys), ys, marker=marker, label=f"{k} D step{'s' if k > 1 else ''}" if ratio ==
                           min(s[2] for s in settings if s[0] == d and s[1] == k) else None, alpha=0.7, color=colour)
        ax.set_xscale("log")
        ax.set_xlabel("D lr / G lr")
        ax.set_ylabel(f"modes covered (of {MODES.get(d, '?')})")
        ax.set_title(d)
        ax.legend(fontsize=7)
        for col, (_, k, ratio) in enumerate([s for s in settings if s[0] == d], start=1):
            seed0 = next((r for r in group(d, k, ratio) if r["seed"] == 0), None)
            ax = axes[row, col]
            ax.axis("off")
            if seed0 is None or not (seed0["job"] / "samples" / "last.png").is_file():
                continue
            ax.imshow(plt.imread(seed0["job"] / "samples" / "last.png"))
            ax.set_title(f"{k} D step{'s' if k > 1 else ''}, lr x{ratio:g}\n{seed0['modes']:g} modes, "
                         f"hq {seed0['hq']:.2f}", fontsize=8)
    for ax in fig.axes:  # settings not measured (a partial sweep) leave their panels empty: hide them
        if not ax.has_data():
            ax.axis("off")
    save_figure_and_say(fig, args.out / "c6_balance.png", md)


if __name__ == "__main__":
    run_report(main)
