"""The C17 table and figure: WGAN-GP against the non-saturating GAN on character sequences.

    python -m genzoo.reports.c17 outputs/c17_text/multiruns/<time> [--out results]

For each run of the ``c17_text`` sweep (or any run folders with ``data=text``), its n-gram JS curves
(from its CSV) and its final samples. Writes ``c17_text.md`` (final JS per n, share of distinct
samples, steps, a few samples per run) and ``c17_text.png`` (JS against model steps for n = 1..4,
a line per run). The floor: 1,000 training sequences of real text scored the same way against the
held-out ones (finite samples score above 0 even when the distributions are the same).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from genzoo.reports.cli import report_parser, run_report
from genzoo.reports.figures import STEP_LABEL, pyplot, save_figure_and_say
from genzoo.reports.runs import has_csv, metric_series, no_runs, sweep_jobs

ORDERS = (1, 2, 3, 4)
NGRAM = re.compile(r"^(?P<prefix>ngram/.+)/(?:js(?P<n>\d+)|unique)$")  # ngram/1k/js2, ngram/1k/unique


def curves(job: Path) -> tuple[str, dict[int, list[tuple[int, float]]], float | None]:
    """(metric prefix, n -> [(model step, JS)], last share of distinct samples) of a run's CSV."""
    out: dict[int, list[tuple[int, float]]] = {n: [] for n in ORDERS}
    prefix, unique = "", None
    for k, series in metric_series(job).items():
        if (m := NGRAM.match(k)) is None:
            continue
        prefix = m["prefix"]
        if m["n"] is None:
            unique = series[-1][1]
        elif int(m["n"]) in out:
            out[int(m["n"])] = [(int(step), v) for step, v in series]
    return prefix, out, unique


def label_of(run: Path) -> str:
    cfg = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    return f"{cfg['model']['name']} (seed {cfg['seed']})"


def main(argv: list[str] | None = None) -> None:
    p = report_parser(__doc__)
    p.add_argument("--samples", type=int, default=6, help="samples per run shown in the table")
    args = p.parse_args(argv)
    plt = pyplot()

    from genzoo.callbacks import read_text_samples
    from genzoo.data import Text
    from genzoo.metrics.text import text_metrics

    runs = []
    for job in sweep_jobs(args.roots):
        if not has_csv(job):
            continue
        prefix, js, unique = curves(job)
        if js[1]:
            runs.append({"job": job, "label": label_of(job), "prefix": prefix, "js": js, "unique": unique})
    if not runs:
        no_runs(f"no data=text runs with n-gram metrics under {', '.join(map(str, args.roots))}")
    dm = Text()
    floor = text_metrics(dm.texts("train", 1000), dm.texts("test"), prefix="real")

    lines = ["# C17: n-gram JS divergence (bits) of samples to held-out text", "",
             "| run | model steps | " + " | ".join(f"JS {n}-gram" for n in ORDERS) + " | distinct samples |",
             "|---|---|" + "---|" * len(ORDERS) + "---|"]
    for r in runs:
        js = r["js"]
        lines.append(f"| {r['label']} | {js[1][-1][0]} | " + " | ".join(f"{js[n][-1][1]:.3f}" for n in ORDERS)
                     + f" | {r['unique']:.3f} |")
    lines.append("| real text (1,000 training sequences) | - | " + " | ".join(f"{floor[f'real/js{n}']:.3f}" for n in ORDERS)
                 + f" | {floor['real/unique']:.3f} |")
    lines += ["", f"Metric names: `{runs[0]['prefix']}/js<n>` (samples scored against the held-out split).", ""]
    for r in runs:
        samples = read_text_samples(r["job"] / "samples" / "last.txt")[: args.samples]
        lines += [f"**{r['label']}**, last samples:", "", "```", *samples, "```", ""]
    args.out.mkdir(parents=True, exist_ok=True)
    md = args.out / "c17_text.md"
    md.write_text("\n".join(lines))

    fig, axes = plt.subplots(1, len(ORDERS), figsize=(4 * len(ORDERS), 3.2), dpi=100)
    for ax, n in zip(axes, ORDERS):
        for r in runs:
            ax.plot(*zip(*r["js"][n]), marker=".", lw=1, label=r["label"])
        ax.axhline(floor[f"real/js{n}"], ls="--", c="grey", lw=1, label="real text")
        ax.set_title(f"JS, {n}-grams")
        ax.set_xlabel(STEP_LABEL)
        ax.set_ylim(0, 1.02)
    axes[0].legend(fontsize=8)
    save_figure_and_say(fig, args.out / "c17_text.png", md)


if __name__ == "__main__":
    run_report(main)
