"""The zoo table: every family trained on the same embedded data for the same wall-clock budget, one
process per run, scored on one scale.

    python benchmarks/zoo.py [--seconds 180] [--data mnist5k] [--size 16] [--jobs 2] [--samples 1000] \\
        [--families gan wgan_gp vae ...] [--out benchmarks/results/zoo]

Each family runs ``python src/train.py model=<family> data=<data> data.size=<size>`` with
``trainer.max_time`` = the budget (its default nets, losses and optimisers: the model-step count is
whatever fits), one thread per process, ``--jobs`` processes at a time (each run sees the same share of
the machine). CycleGAN translates between two styles of the same digits (``data=unpaired_digits``: the
sklearn digits -> the mnist5k digits); its samples are translations of held-out sources.

After training, every run is scored once by the same callback with the same extractor and the same
real set (the domain classifier of the data, ``--samples`` samples against the held-out split):
classifier FID, KID, precision, recall, effective classes (and the conditional accuracy where a
sample is asked for a class); the families with a likelihood also report their held-out NLL in nats
and bits per dimension (the VAE's is the importance-weighted bound at the run's k). Then each run's last
checkpoint draws 512 samples with a fixed seed: their lattice score (``genzoo.metrics.lattice``, the dot
lattice of strided transposed convolutions) and the figure's row. Writes ``zoo.md``, ``zoo.json`` and
``zoo.png`` (a row of samples per family) into ``--out``.

The cores are shared and noisy: compare families within one invocation, never seconds across
machines; the table states the budget, the data and the machine's load while it ran.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

FAMILIES = ["gan", "wgan", "wgan_gp", "fgan", "cgan", "vae", "cvae", "pixelcnn", "pixelrnn", "cyclegan"]
#: the sample metrics every row reports, by the start of their logged names
#: families whose samples are not images (none of the default ones; a toy2d run would be)
NOT_IMAGES: tuple[str, ...] = ()
SAMPLE_METRICS = ("fid", "kid", "precision", "recall", "effective_classes", "conditional_accuracy", "label_preservation")
QUIET = ["logger=csv", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
         "trainer.enable_model_summary=false", "callbacks.sample_grid.every_n_steps=0",
         "callbacks.held_out.every_n_steps=0", "callbacks.model_checkpoint.every_n_steps=0", "trainer.max_steps=-1",
         "metrics=classifier", "metrics.every_n_steps=0", "metrics.split=test"]


def budget(seconds: int) -> str:
    return f"00:{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def command(family: str, args: argparse.Namespace, run: Path) -> list[str]:
    data = "unpaired_digits" if family == "cyclegan" else args.data
    return [sys.executable, str(ROOT / "src" / "train.py"), f"model={family}", f"data={data}", f"data.size={args.size}",
            f"seed={args.seed}", *QUIET, f"metrics.num_samples={args.samples}", f"++trainer.max_time={budget(args.seconds)}",
            f"hydra.run.dir={run}"]


def train_one(family: str, args: argparse.Namespace) -> dict:
    run = args.out / "runs" / family
    if run.exists():
        import shutil

        shutil.rmtree(run)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1"}
    start = time.perf_counter()
    r = subprocess.run(command(family, args, run), cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if r.returncode != 0:
        tail = "\n".join(r.stderr.strip().splitlines()[-5:])
        print(f"{family}: failed (exit {r.returncode}):\n{tail}", flush=True)
        return {"family": family, "failed": tail, "wall_s": wall}
    row = summarise(family, run, args.seconds)
    row["wall_s"] = wall
    print(f"{family}: {row['steps']} steps, {row['steps_per_s']:.2f} steps/s, "
          + ", ".join(f"{k} {v:.4g}" for k, v in row["metrics"].items()), flush=True)
    return row


def look(run: Path, n: int = 512, seed: int = 0) -> dict:
    """From the run's last checkpoint: ``n`` samples drawn with a fixed generator (the averaged weights where
    kept; CycleGAN's A -> B translations of held-out sources), their lattice score against ``n`` held-out real
    images (``genzoo.metrics.lattice``: ~1 is the data's own share of period-2/4 patterns), and the first 8."""
    import torch

    from genzoo.evaluation import load_run
    from genzoo.metrics.lattice import lattice_score
    from genzoo.sampling import conditions, draw_samples, real_batch

    _, datamodule, model, _ = load_run(str(run / "checkpoints" / "last.ckpt"), "cpu")
    datamodule.setup("fit")
    y, source = conditions(model, n, datamodule)
    fake = draw_samples(model, n, torch.Generator().manual_seed(seed), y=y, source=source)
    target = datamodule.domain("B") if model.condition == "image" else datamodule
    real = real_batch(target, n, "cpu")[0].float()
    return {"lattice": lattice_score(fake, real), "first": fake[:8]}


def summarise(family: str, run: Path, seconds: int) -> dict:
    import torch

    from genzoo.reports.runs import final_metrics

    final = final_metrics(run)
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    steps = int(ckpt["genzoo"]["counters"]["model_step"])
    # the trained nets' parameters (a weight average is a copy, not more model)
    params = sum(v.numel() for k, v in ckpt["state_dict"].items()
                 if torch.is_tensor(v) and v.is_floating_point() and not k.startswith("ema.") and "running_" not in k)
    metrics = {}
    for key, value in sorted(final.items()):
        head = key.split("/")[0]
        raw = key.endswith("/raw")
        if raw or "/BtoA" in key:  # one number per family: the averaged weights where kept; CycleGAN's A -> B
            continue
        if head in SAMPLE_METRICS or head.startswith(("nll", "bpd")) and key.endswith("/test"):
            metrics[key] = value
    return {"family": family, "steps": steps, "steps_per_s": steps / seconds, "params": params, "metrics": metrics}


def load_average() -> float:
    return os.getloadavg()[0]


def table(rows: list[dict], args: argparse.Namespace, load: tuple[float, float]) -> str:
    def cell(row: dict, head: str, fmt: str = ".3g") -> str:
        hits = [v for k, v in row.get("metrics", {}).items() if k.split("/")[0] == head]
        return format(hits[0], fmt) if hits else "-"

    lines = [f"{args.seconds} s of training per family (one thread each, {args.jobs} at a time), data={args.data} at "
             f"{args.size} px (CycleGAN: unpaired_digits, sklearn digits -> mnist5k digits), seed {args.seed}; sample "
             f"metrics of {args.samples} samples against the held-out split with the data's classifier; 1-minute load "
             f"average {load[0]:.1f} at the start, {load[1]:.1f} at the end. Lattice: the share of spectral power at "
             "period-2/4 patterns in 512 samples over that in 512 held-out images (1: the data's own; a checkerboard "
             "of transposed convolutions shows well above 1).", "",
             "| family | model steps | steps/s | parameters | FID | KID | precision | recall | effective classes | "
             "class accuracy | NLL (nats) | bits/dim | lattice |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if "failed" in row:
            lines.append(f"| {row['family']} | failed: {row['failed'].splitlines()[-1][:80]} |" + " |" * 11)
            continue
        nll = [v for k, v in row["metrics"].items() if k.startswith("nll")]
        bpd = [v for k, v in row["metrics"].items() if k.startswith("bpd")]
        accuracy = cell(row, "conditional_accuracy") if cell(row, "conditional_accuracy") != "-" else \
            cell(row, "label_preservation")
        lines.append(f"| {row['family']} | {row['steps']} | {row['steps_per_s']:.2f} | {row['params']:,} | "
                     f"{cell(row, 'fid', '.1f')} | {cell(row, 'kid')} | {cell(row, 'precision', '.2f')} | "
                     f"{cell(row, 'recall', '.2f')} | {cell(row, 'effective_classes', '.2f')} | {accuracy} | "
                     f"{format(nll[0], '.1f') if nll else '-'} | {format(bpd[0], '.3f') if bpd else '-'} | "
                     f"{format(row['lattice'], '.2f') if 'lattice' in row else '-'} |")
    return "\n".join(lines)


def figure(rows: list[dict], path: Path) -> None:
    """A row of samples per family (the first 8 of ``look``'s fixed draw), each cell upscaled to 64 px."""
    import torch
    import torch.nn.functional as F
    from torchvision.utils import make_grid

    from genzoo.reports.figures import pyplot

    plt = pyplot()
    done = [r for r in rows if r.get("first") is not None]
    if not done:
        return
    fig, axes = plt.subplots(len(done), 1, figsize=(9.5, 1.25 * len(done) + 0.6), squeeze=False)
    for ax, row in zip(axes[:, 0], done):
        x = row["first"].clamp(-1, 1)
        x = x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x[:, :3]
        x = F.interpolate(x, size=(64, 64), mode="nearest")
        strip = make_grid(x, nrow=8, padding=2, pad_value=1.0).add(1).div(2).permute(1, 2, 0)
        ax.imshow(torch.clamp(strip, 0, 1).numpy(), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(row["family"], rotation=0, ha="right", va="center", fontsize=11)
    fig.suptitle("samples after the same training time (8 per family, fixed seed; CycleGAN: A -> B)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")  # the family names left of the rows included
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=180, help="training budget per family (wall clock)")
    p.add_argument("--data", default="mnist5k", help="an embedded data config: mnist5k, digits, fashion... (default mnist5k)")
    p.add_argument("--size", type=int, default=16, help="image size in px (default 16)")
    p.add_argument("--samples", type=int, default=1000, help="samples per family for the sample metrics")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time (one thread each)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--families", nargs="+", default=FAMILIES, choices=FAMILIES)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "zoo")
    p.add_argument("--redraw", action="store_true",
                   help="train nothing: rescore the runs already in --out (lattice, figure) and rewrite the table")
    args = p.parse_args(argv)
    if args.seconds < 1 or args.jobs < 1 or args.samples < 2:
        print("Error: --seconds and --jobs must be >= 1 and --samples >= 2.", file=sys.stderr)
        return 2
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.redraw:
        saved = json.loads((args.out / "zoo.json").read_text())
        rows = saved["rows"]
        for row in rows:
            if "failed" not in row and row["family"] not in NOT_IMAGES:
                seen = look(args.out / "runs" / row["family"], seed=args.seed)
                row["lattice"], row["first"] = seen["lattice"], seen["first"]
        figure(rows, args.out / "zoo.png")
        print(f"Redrew {args.out / 'zoo.png'}")
        return 0
    start_load = load_average()
    print(f"Training {len(args.families)} families for {args.seconds} s each, {args.jobs} at a time, on "
          f"data={args.data} at {args.size} px; results in {args.out}", flush=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(lambda f: train_one(f, args), args.families))
    end_load = load_average()
    for row in rows:  # after training, one at a time: the samples of the figure and the lattice score
        if "failed" not in row and row["family"] not in NOT_IMAGES:
            seen = look(args.out / "runs" / row["family"], seed=args.seed)
            row["lattice"], row["first"] = seen["lattice"], seen["first"]
    text = table(rows, args, (start_load, end_load))
    (args.out / "zoo.md").write_text(text + "\n")
    (args.out / "zoo.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                   "rows": [{k: v for k, v in r.items() if k != "first"} for r in rows]},
                                                  indent=2))
    figure(rows, args.out / "zoo.png")
    print(text)
    print(f"Wrote {args.out / 'zoo.md'}, zoo.json and zoo.png")
    return 1 if any("failed" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
