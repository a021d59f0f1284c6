"""Quality per second: train configurations for the same wall-clock budget, then score them.

Each (configuration, data, seed) trains for ``--seconds`` of wall time (``trainer.max_time``; the
model-step count is whatever fits), then its samples are scored once: classifier FID of 2,000
samples against the held-out split, for the averaged generator (EMA, what sampling uses) and, where
the model keeps one, the trained weights (``/raw``). Prints, per run and as mean (spread) over seeds:
generator steps, seconds per generator step, real images per second seen by the critic, FID.

    python benchmarks/bench_time_to_quality.py [--seconds 240] [--seeds 0 1] [--data digits mnist5k] \\
        [--configs gan wgan_gp cgan] [--set "wgan_gp:net.discriminator.width=32"] [--out results.md]

A configuration is a ``model=`` name plus overrides: ``--set NAME:OVERRIDE[,OVERRIDE...]`` adds one
(``--set "wgan_gp_w32:model=wgan_gp,net.discriminator.width=32"``). The 2 shared cores are noisy:
compare configurations measured in one invocation, never seconds across machines.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

QUIET = ["logger=csv", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
         "trainer.enable_model_summary=false", "callbacks.sample_grid.every_n_steps=0",
         "callbacks.held_out.every_n_steps=0", "callbacks.model_checkpoint.every_n_steps=0",
         "callbacks.loss_curves=null", "trainer.max_steps=-1", "metrics=classifier", "metrics.every_n_steps=0",
         "metrics.num_samples=2000", "metrics.split=test"]


def budget(seconds: int) -> str:
    return f"00:00:{seconds // 60:02d}:{seconds % 60:02d}"


def run_one(name: str, overrides: list[str], data: str, seed: int, seconds: int, out: Path) -> dict[str, float]:
    from genzoo.training import compose_config, train

    cfg = compose_config([*overrides, f"data={data}", f"seed={seed}", *QUIET, f"++trainer.max_time={budget(seconds)}"],
                         out / f"{name}-{data}-s{seed}")
    start = time.perf_counter()
    metrics = train(cfg)
    wall = time.perf_counter() - start
    steps = metrics["model_step"]
    critic_steps = steps * (cfg.model.get("n_critic") or 1)
    fid = next(v for k, v in metrics.items() if k.startswith("fid/") and not k.endswith("/raw"))
    raw = next((v for k, v in metrics.items() if k.startswith("fid/") and k.endswith("/raw")), float("nan"))
    return {"steps": steps, "s_per_step": seconds / max(steps, 1),
            "images_per_s": critic_steps * cfg.data.batch_size / seconds, "fid": fid, "fid_raw": raw, "wall": wall}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=240)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--data", nargs="+", default=["digits", "mnist5k"])
    p.add_argument("--configs", nargs="+", default=["gan", "wgan_gp", "cgan"])
    p.add_argument("--set", action="append", default=[], help="NAME:OVERRIDE[,OVERRIDE...] (a named configuration)")
    p.add_argument("--out", type=Path, default=None, help="also write the table (markdown) here")
    args = p.parse_args()

    import torch

    torch.set_num_threads(2)
    configs = {c: [f"model={c}"] for c in args.configs}
    for spec in args.set:
        name, _, rest = spec.partition(":")
        configs[name] = [o for o in rest.split(",") if o]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data in args.data:
            for name, overrides in configs.items():
                for seed in args.seeds:
                    r = run_one(name, overrides, data, seed, args.seconds, Path(tmp))
                    rows.append({"config": name, "data": data, "seed": seed, **r})
                    print(f"{name} {data} seed {seed}: {r['steps']:.0f} steps, {r['s_per_step']:.3f} s/step, "
                          f"{r['images_per_s']:.0f} img/s, FID {r['fid']:.1f} (raw {r['fid_raw']:.1f})", flush=True)
    keys = ("steps", "s_per_step", "images_per_s", "fid", "fid_raw")
    lines = [f"{args.seconds} s of training per run on this machine; classifier FID of 2,000 samples against the "
             f"held-out split; mean (min-max) over seeds {', '.join(map(str, args.seeds))}.", "",
             "| config | data | generator steps | s / step | real images / s | FID (EMA G) | FID (raw G) |",
             "|---|---|---|---|---|---|---|"]
    for data in args.data:
        for name in configs:
            mine = [r for r in rows if r["config"] == name and r["data"] == data]
            cells = []
            for k in keys:
                vals = [r[k] for r in mine]
                fmt = ".3f" if k == "s_per_step" else ".0f" if k in ("steps", "images_per_s") else ".1f"
                cells.append(f"{statistics.mean(vals):{fmt}} ({min(vals):{fmt}}-{max(vals):{fmt}})")
            lines.append(f"| {name} | {data} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(table)
    if args.out is not None:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
