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
and bits per dimension (the VAE's is the importance-weighted bound at the run's k). Writes
``zoo.md``, ``zoo.json`` and ``zoo.png`` (a row of samples per family) into ``--out``.

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


def summarise(family: str, run: Path, seconds: int) -> dict:
    import torch

    from compare import read_series

    series = read_series(run)
    final = {k: v[-1][1] for k, v in series.items() if v}
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
    return {"family": family, "steps": steps, "steps_per_s": steps / seconds, "params": params, "metrics": metrics,
            "samples": str(run / "samples" / "last.png")}


def load_average() -> float:
    return os.getloadavg()[0]


def table(rows: list[dict], args: argparse.Namespace, load: tuple[float, float]) -> str:
    def cell(row: dict, head: str, fmt: str = ".3g") -> str:
        hits = [v for k, v in row.get("metrics", {}).items() if k.split("/")[0] == head]
        return format(hits[0], fmt) if hits else "-"

    lines = [f"{args.seconds} s of training per family (one thread each, {args.jobs} at a time), data={args.data} at "
             f"{args.size} px (CycleGAN: unpaired_digits, sklearn digits -> mnist5k digits), seed {args.seed}; sample "
             f"metrics of {args.samples} samples against the held-out split with the data's classifier; 1-minute load "
             f"average {load[0]:.1f} at the start, {load[1]:.1f} at the end.", "",
             "| family | model steps | steps/s | parameters | FID | KID | precision | recall | effective classes | "
             "class accuracy | NLL (nats) | bits/dim |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if "failed" in row:
            lines.append(f"| {row['family']} | failed: {row['failed'].splitlines()[-1][:80]} |" + " |" * 10)
            continue
        nll = [v for k, v in row["metrics"].items() if k.startswith("nll")]
        bpd = [v for k, v in row["metrics"].items() if k.startswith("bpd")]
        accuracy = cell(row, "conditional_accuracy") if cell(row, "conditional_accuracy") != "-" else \
            cell(row, "label_preservation")
        lines.append(f"| {row['family']} | {row['steps']} | {row['steps_per_s']:.2f} | {row['params']:,} | "
                     f"{cell(row, 'fid', '.1f')} | {cell(row, 'kid')} | {cell(row, 'precision', '.2f')} | "
                     f"{cell(row, 'recall', '.2f')} | {cell(row, 'effective_classes', '.2f')} | {accuracy} | "
                     f"{format(nll[0], '.1f') if nll else '-'} | {format(bpd[0], '.3f') if bpd else '-'} |")
    return "\n".join(lines)


def figure(rows: list[dict], path: Path, per_row: int = 8) -> None:
    """A row of samples per family: the first ``per_row`` cells of each run's last sample grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    done = [r for r in rows if "failed" not in r and Path(r["samples"]).is_file()]
    if not done:
        return
    fig, axes = plt.subplots(len(done), 1, figsize=(per_row * 0.9 + 1.6, 1.05 * len(done)), squeeze=False)
    for ax, row in zip(axes[:, 0], done):
        grid = np.asarray(Image.open(row["samples"]).convert("RGB"))
        # save_grid's layout: cells of (size + 1) px after a 1 px border
        cell = (grid.shape[1] - 1) // 8
        strip = grid[: cell + 1, : per_row * cell + 1]
        ax.imshow(strip, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(row["family"], rotation=0, ha="right", va="center", fontsize=11)
    fig.suptitle("samples after the same training time (first row of each run's grid)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
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
    args = p.parse_args(argv)
    if args.seconds < 1 or args.jobs < 1 or args.samples < 2:
        print("Error: --seconds and --jobs must be >= 1 and --samples >= 2.", file=sys.stderr)
        return 2
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    start_load = load_average()
    print(f"Training {len(args.families)} families for {args.seconds} s each, {args.jobs} at a time, on "
          f"data={args.data} at {args.size} px; results in {args.out}", flush=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(lambda f: train_one(f, args), args.families))
    text = table(rows, args, (start_load, load_average()))
    (args.out / "zoo.md").write_text(text + "\n")
    (args.out / "zoo.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows},
                                                  indent=2))
    figure(rows, args.out / "zoo.png")
    print(text)
    print(f"Wrote {args.out / 'zoo.md'}, zoo.json and zoo.png")
    return 1 if any("failed" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
