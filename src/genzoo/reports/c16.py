"""The C16 architecture table and figure: which method trains which hard architecture.

    python -m genzoo.reports.c16 outputs/c16_architectures/multiruns/<time> [<time> ...] [--out results]

For each finished run of the ``c16_architectures`` sweep (architecture x method x seed on digits; one or
more multirun folders, e.g. a sweep split over two processes), its final classifier FID and effective
number of classes (from its CSV). The pass thresholds are not picked by eye: they are the FIDs of
*perfect* samplers that have lost classes, 2,000 real training digits of only the first k of the 10
classes scored like the samples (k = 10 is the floor of a perfect sampler). A run passes at "k
classes" when its samples score better than real digits of k classes. The main threshold is k = 5:
better than a perfect sampler that has lost half the digits. Writes ``c16_architectures.md`` (the
thresholds; per architecture and method the FID mean ± std and the passes; the passes per method at
every threshold, as the paper counts architectures over an Inception-score threshold; every run) and
``c16_architectures.png`` (seed 0's final samples per architecture and method).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import torch

from genzoo.reports.cli import report_parser, run_report
from genzoo.reports.figures import pyplot, save_figure_and_say
from genzoo.reports.runs import fmt_values, full_length_runs

SETTINGS = {  # net= option -> the WGAN-GP paper's name of the setting (Figure 2)
    "dcgan": "DCGAN (baseline)",
    "dcgan_nonorm_g": "no normalisation in G",
    "mlp_g": "4-layer 512-wide ReLU MLP G",
    "dcgan_tanh": "tanh nonlinearities everywhere",
    "dcgan_gated": "gated multiplicative nonlinearities everywhere",
    "resnet_deep": "deep ResNet (G 18, D 21 layers)",
}
METHODS = {"gan": "GAN (non-saturating)", "lsgan": "LSGAN", "wgan": "WGAN (clipping)", "wgan_gp": "WGAN-GP"}
FID, CLASSES = "fid/classifier/2k/train", "effective_classes/classifier/2k"
KEPT_CLASSES = (10, 9, 7, 5, 3, 1)
MAIN = 5


def method_of(overrides: dict[str, str]) -> str:
    """The method of a job: its model, or ``lsgan`` for ``model=gan loss=lsgan`` (LSGAN is a GAN loss)."""
    model = overrides.get("model", "gan")
    return "lsgan" if model == "gan" and overrides.get("loss") == "lsgan" else model


def class_anchors(n: int = 2000, seed: int = 0) -> dict[int, float]:
    """k -> classifier FID of ``n`` real training digits drawn (with replacement) from classes 0..k-1,
    against the training split, with the sweep's extractor and statistics (the run cache)."""
    from genzoo.metrics.extractors import build_extractor
    from genzoo.metrics.sample_quality import SampleMetrics, extract
    from genzoo.training import build_datamodule, compose_config

    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose_config(["data=digits"], Path(tmp) / "run")
        dm = build_datamodule(cfg)
        x, y = dm.sample_real(len(dm.dataset("train")), with_labels=True)
        extractor = build_extractor("classifier", dm, cfg.paths.cache_dir)
        suite = SampleMetrics(extractor, dm, cfg.paths.cache_dir, n)
        g = torch.Generator().manual_seed(seed)
        out = {}
        for k in KEPT_CLASSES:
            pool = x[y < k]
            feats, logits = extract(extractor, pool[torch.randint(len(pool), (n,), generator=g)], logits=True)
            out[k] = suite.from_features(feats, logits)[suite.keys()["fid"]]
    return out


def main(argv: list[str] | None = None) -> None:
    args = report_parser(__doc__).parse_args(argv)
    plt = pyplot()

    def describe(s: dict[str, str], final: dict[str, float]) -> dict | None:
        if math.isnan(final.get(FID, math.nan)):  # still running, or failed
            return None
        return {"net": s.get("net", "dcgan"), "model": method_of(s), "seed": int(s.get("seed", 0)),
                "fid": final[FID], "classes": final.get(CLASSES, math.nan)}

    runs = full_length_runs(args.roots, "c16_architectures", describe)
    length = runs[0]["steps"]
    anchors = class_anchors()
    nets = [n for n in SETTINGS if any(r["net"] == n for r in runs)]
    nets += sorted({r["net"] for r in runs} - set(nets))
    models = [m for m in METHODS if any(r["model"] == m for r in runs)]

    def cell(net, model):
        return sorted((r for r in runs if (r["net"], r["model"]) == (net, model)), key=lambda r: r["seed"])

    def ms(values):
        return fmt_values(values, skip_nan=True)

    lines = [f"Digits (16 px), {length} generator steps, each method with its paper's optimiser and critic steps "
             "(GAN and LSGAN: Adam 2e-4, 1 D step; WGAN: RMSProp 5e-5, 5 critic steps, clipping 0.01; WGAN-GP: Adam 1e-4 "
             "(0, 0.9), 5 critic steps, lambda 10, layer norm in place of the critic's batch norm). Classifier FID "
             "of 2,000 samples against the training digits (lower is better).", "",
             "Thresholds: the classifier FID of 2,000 real training digits of only the first k classes (k = 10: "
             "the floor, a perfect sampler). A run passes at k when it scores below that.", "",
             "| classes kept | " + " | ".join(str(k) for k in KEPT_CLASSES) + " |",
             "|---|" + "---|" * len(KEPT_CLASSES),
             "| FID of real digits | " + " | ".join(f"{anchors[k]:.3g}" for k in KEPT_CLASSES) + " |", "",
             f"FID mean ± std over seeds (runs passing the main threshold, FID < {anchors[MAIN]:.3g}: better than "
             f"real digits of {MAIN} classes):", "",
             "| architecture | " + " | ".join(METHODS[m] for m in models) + " |", "|---|" + "---|" * len(models)]
    for net in nets:
        row = []
        for m in models:
            rs = cell(net, m)
            row.append(f"{ms([r['fid'] for r in rs])} ({sum(r['fid'] < anchors[MAIN] for r in rs)}/{len(rs)})"
                       if rs else "not run")
        lines.append(f"| {SETTINGS.get(net, net)} (`net={net}`) | " + " | ".join(row) + " |")
    lines += ["", "Runs passing per method, out of all its runs, at each threshold (the paper counts "
              "architectures over an Inception-score threshold):", "",
              "| threshold: better than real digits of | " + " | ".join(METHODS[m] for m in models) + " |",
              "|---|" + "---|" * len(models)]
    for k in KEPT_CLASSES:
        counts = []
        for m in models:
            rs = [r for r in runs if r["model"] == m]
            counts.append(f"{sum(r['fid'] < anchors[k] for r in rs)}/{len(rs)}")
        lines.append(f"| {k} class{'es' if k > 1 else ''} (FID < {anchors[k]:.3g}) | " + " | ".join(counts) + " |")
    lines += ["", "Effective number of classes among the samples (exp of the entropy of the classifier's mean "
              "prediction; 10 when every digit is drawn equally often), mean ± std:", "",
              "| architecture | " + " | ".join(METHODS[m] for m in models) + " |", "|---|" + "---|" * len(models)]
    for net in nets:
        lines.append(f"| {SETTINGS.get(net, net)} | "
                     + " | ".join(ms([r["classes"] for r in cell(net, m)]) for m in models) + " |")
    lines += ["", "| architecture | method | seed | FID | effective classes | run |", "|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (nets.index(r["net"]), models.index(r["model"]), r["seed"])):
        lines.append(f"| {r['net']} | {r['model']} | {r['seed']} | {r['fid']:.4g} | {r['classes']:.3g} | "
                     f"{r['job'].parent.name}/{r['job'].name} |")
    args.out.mkdir(parents=True, exist_ok=True)
    md = args.out / "c16_architectures.md"
    md.write_text("\n".join(lines) + "\n")

    fig, axes = plt.subplots(len(nets), len(models), figsize=(2.6 * len(models), 2.7 * len(nets)), dpi=110,
                             squeeze=False)
    for i, net in enumerate(nets):
        for j, m in enumerate(models):
            ax = axes[i, j]
            ax.set_xticks([]), ax.set_yticks([])
            seed0 = next((r for r in cell(net, m) if r["seed"] == 0), None)
            if seed0 is None or not (seed0["job"] / "samples" / "last.png").is_file():
                ax.axis("off")
                continue
            ax.imshow(plt.imread(seed0["job"] / "samples" / "last.png"))
            passed = "pass" if seed0["fid"] < anchors[MAIN] else "fail"
            ax.set_title(f"FID {seed0['fid']:.3g} ({passed})", fontsize=8)
            if i == 0:
                ax.set_title(f"{METHODS[m]}\nFID {seed0['fid']:.3g} ({passed})", fontsize=8)
            if j == 0:
                ax.set_ylabel(SETTINGS.get(net, net).replace(" (", "\n("), fontsize=8)
    save_figure_and_say(fig, args.out / "c16_architectures.png", md)


if __name__ == "__main__":
    run_report(main)
