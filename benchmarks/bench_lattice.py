"""The dot lattice of a generator, against time: train configurations for the same wall-clock budget,
interleaved (seed by seed, every configuration in turn, so a busy machine slows them alike), then
score each run's trained generator: the lattice share of 2,000 samples (``genzoo.metrics.lattice``:
the share of spectral power at the frequencies of period-2 and period-4 patterns) against that of the
held-out real images, the classifier FID, and generator steps per second. With ``--every N`` it also
scores the checkpoints written every N generator steps, to see whether the lattice fades.

    python benchmarks/bench_lattice.py [--seconds 180] [--seeds 0 1] [--data mnist5k] [--every 100] [--out DIR] \\
        [--set "transpose:model=wgan_gp,net.generator.upsample=transpose,net.generator.width=64"] \\
        [--set "nearest_w32:model=wgan_gp"]

(those two are the default: WGAN-GP's generator before issue 32, and the default now).

    python benchmarks/bench_lattice.py --score RUN_DIR [RUN_DIR ...]   # score the checkpoints of runs

``--out`` gets a markdown table and a sample grid (64 samples, 8 x 8) per run. The 2 shared cores are
noisy: compare configurations of one invocation, never seconds across machines.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

QUIET = ["logger=csv", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
         "trainer.enable_model_summary=false", "callbacks.sample_grid.every_n_steps=0",
         "callbacks.held_out.every_n_steps=0", "callbacks.loss_curves=null", "trainer.max_steps=-1",
         "metrics=classifier", "metrics.every_n_steps=0", "metrics.num_samples=2000", "metrics.split=test",
         "++callbacks.critic_diagnostics.every_n_steps=0"]
NUM_SAMPLES = 2000


def real_images(datamodule, split: str = "test"):
    import torch

    ds = datamodule.dataset(split)
    return torch.cat([ds[i][0].reshape(1, *datamodule.shape) for i in range(len(ds))])


def score_checkpoint(path: Path, grid: Path | None = None) -> dict[str, float]:
    """Lattice share of NUM_SAMPLES samples of the trained (not averaged) generator, and of the held-out images."""
    import torch

    from genzoo.callbacks import save_grid
    from genzoo.evaluation import load_run
    from genzoo.metrics.lattice import lattice_share
    from genzoo.sampling import draw_samples

    _, dm, model, _ = load_run(str(path))
    gen = torch.Generator().manual_seed(4321)
    with torch.no_grad():
        fake = draw_samples(model, NUM_SAMPLES, rng=gen, ema=False)
    real = real_images(dm)
    if grid is not None:
        save_grid(fake[:64], grid, nrow=8)
    return {"step": float(model.model_step), "share": lattice_share(fake), "share_p2": lattice_share(fake, (2,)),
            "real_share": lattice_share(real), "real_share_p2": lattice_share(real, (2,))}


def score_run(run_dir: Path) -> list[dict[str, float]]:
    ckpts = sorted(run_dir.glob("checkpoints/g*.ckpt"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    rows = []
    for ckpt in ckpts:
        r = score_checkpoint(ckpt)
        rows.append(r)
        print(f"{run_dir.name} step {r['step']:.0f}: lattice share {r['share']:.4f} (period 2: {r['share_p2']:.5f}); "
              f"real {r['real_share']:.4f} ({r['real_share_p2']:.5f}); score {r['share'] / r['real_share']:.1f}", flush=True)
    return rows


def run_one(name: str, overrides: list[str], data: str, seed: int, seconds: int, every: int, out: Path,
            grids: Path | None) -> dict[str, float]:
    from genzoo.training import compose_config, train

    run_dir = out / f"{name}-{data}-s{seed}"
    cfg = compose_config([*overrides, f"data={data}", f"seed={seed}", *QUIET,
                          f"callbacks.model_checkpoint.every_n_steps={every}",
                          f"++trainer.max_time=00:00:{seconds // 60:02d}:{seconds % 60:02d}"], run_dir)
    start = time.perf_counter()
    metrics = train(cfg)
    wall = time.perf_counter() - start
    fid = next((v for k, v in metrics.items() if k.startswith("fid/") and not k.endswith("/raw")), float("nan"))
    grid = None if grids is None else grids / f"{name}-{data}-s{seed}.png"
    final = score_checkpoint(run_dir / "checkpoints" / "last.ckpt", grid)
    curve = score_run(run_dir) if every > 0 else []
    steps = metrics["model_step"]
    return {"steps": steps, "steps_per_s": steps / seconds, "wall": wall, "fid": fid, **final,
            "score": final["share"] / final["real_share"], "curve": curve}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=180)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--data", default="mnist5k")
    p.add_argument("--set", action="append", default=[], help="NAME:OVERRIDE[,OVERRIDE...] (a named configuration)")
    p.add_argument("--every", type=int, default=0, help="also score checkpoints every N generator steps (0: only the last)")
    p.add_argument("--out", type=Path, default=None, help="write the table (lattice.md) and sample grids here")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: on a shared machine, 2 oversubscribe)")
    p.add_argument("--score", type=Path, nargs="*", default=None, help="only score the checkpoints of these run folders")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    if args.score:
        for run_dir in args.score:
            score_run(run_dir)
        return
    configs = {}
    for spec in args.set or ["transpose:model=wgan_gp,net.generator.upsample=transpose,net.generator.width=64",
                            "nearest_w32:model=wgan_gp"]:
        name, _, rest = spec.partition(":")
        configs[name] = [o for o in rest.split(",") if o]
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for name, overrides in configs.items():
                r = run_one(name, overrides, args.data, seed, args.seconds, args.every, Path(tmp), args.out)
                rows.append({"config": name, "seed": seed, **r})
                print(f"== {name} seed {seed}: {r['steps']:.0f} G steps ({r['steps_per_s']:.2f}/s), FID {r['fid']:.1f}, "
                      f"lattice share {r['share']:.4f} (real {r['real_share']:.4f}, score {r['score']:.1f})", flush=True)
    keys = (("steps", ".0f"), ("steps_per_s", ".2f"), ("fid", ".1f"), ("share", ".4f"), ("score", ".1f"))
    lines = [f"{args.seconds} s of training per run, data={args.data}, interleaved; classifier FID of 2,000 samples "
             f"against the held-out split; lattice share of 2,000 samples of the trained G (held-out images: "
             f"{rows[0]['real_share']:.4f}); score = share / real share. Mean (min-max) over seeds "
             f"{', '.join(map(str, args.seeds))}.", "",
             "| config | overrides | G steps | G steps / s | FID | lattice share | lattice score |",
             "|---|---|---|---|---|---|---|"]
    for name, overrides in configs.items():
        mine = [r for r in rows if r["config"] == name]
        cells = [f"{statistics.mean(r[k] for r in mine):{f}} ({min(r[k] for r in mine):{f}}-{max(r[k] for r in mine):{f}})"
                 for k, f in keys]
        lines.append(f"| {name} | `{' '.join(overrides)}` | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if args.out is not None:
        (args.out / "lattice.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
