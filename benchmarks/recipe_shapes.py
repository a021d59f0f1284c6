"""Every ``experiment=`` recipe at its real shape: parameter count, peak memory of training and seconds
per model step, each recipe in a fresh subprocess, on synthetic data written in the real on-disk layout
(tests/datasets_on_disk.py: CIFAR-10 pickles, CelebA's folder and partition file, horse2zebra's
trainA/... at 256 px, MNIST IDX files, a text file) at the recipe's real widths, depths and batch sizes.
Only these change: no DataLoader workers, no sample metrics, no end-of-run sample grid or held-out
evaluation, ``--steps`` model steps (2).

    python benchmarks/recipe_shapes.py [--recipes wgan_gp_cifar10 ...] [--device cpu|cuda] [--steps 2]
        [--threads 2] [--set KEY=VALUE ...] [--out benchmarks/results/recipe_shapes_cpu.json]

Memory, per device:
- cpu: the process's peak resident set (Linux ``VmHWM``, reset through ``/proc/self/clear_refs`` when
  training starts) minus its resident set then (``VmRSS``): what training adds on top of the loaded data
  and the built model (gradients, optimiser states, activations of the real batch, Lightning's state)
  over all ``--steps`` model steps. Not tracemalloc (it does not see torch's allocations). CPU
  allocators keep freed memory, so this is an upper bound of what the same step needs on a GPU.
- cuda: ``torch.cuda.max_memory_allocated()`` over the fit (peak stats reset at its start), which
  includes the parameters, gradients, optimiser states and activations (and the data when it is held
  on the device).

Seconds per model step: the wall time of the last model step (the first pays one-off costs). A model
step is one generator step and its critic steps for the adversarial families, one optimiser step of
the model for the others; ``batches/step`` in the table counts its batches (a batch per critic step:
5 for WGAN-GP's n_critic 5, the generator step taken in the 5th; WGAN's paper schedule takes 100
critic steps per generator step for the first 25). The shared 2-core machines are noisy: seconds are
indicative.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from datasets_on_disk import RECIPE_DATA, recipe_overrides, skip_cifar10_md5  # noqa: E402


def recipes_in_folder() -> list[str]:
    return sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def _proc_status_kb(key: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1))


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to VmRSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def child(recipe: str, data_dir: Path, device: str, steps: int, threads: int, extra: list[str]) -> dict:
    """One recipe in this (fresh) process -> its figures."""
    import pytorch_lightning as pl
    import torch

    from genzoo.quiet import quiet_logs
    from genzoo.training import build_datamodule, build_model, build_trainer, compose_config, instantiate_group

    torch.set_num_threads(threads)
    skip_cifar10_md5()
    quiet_logs()
    cuda = device == "cuda"
    hw = ["trainer.accelerator=gpu", "trainer.devices=1"] if cuda else ["trainer.accelerator=cpu"]
    with tempfile.TemporaryDirectory() as out:
        cfg = compose_config([*recipe_overrides(recipe, data_dir, small=True), *hw, f"trainer.max_steps={steps}", *extra], out)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        dm = build_datamodule(cfg)
        model = build_model(cfg, dm)
        names = {id(m): n for n, m in model.named_children()}
        params = {names[id(m)]: sum(p.numel() for p in m.parameters()) for m in model.nets()}

        class Probe(pl.Callback):
            def __init__(self) -> None:
                self.ends: list[float] = []
                self.batches: list[int] = []
                self.shapes: list[list[int]] = []
                self.n = 0

            def _sync(self) -> None:
                if cuda:
                    torch.cuda.synchronize()

            def on_train_start(self, trainer, pl_module) -> None:
                self._sync()
                if cuda:
                    torch.cuda.reset_peak_memory_stats()
                    self.cuda_start = torch.cuda.memory_allocated()
                self.rss_start = _proc_status_kb("VmRSS")
                self.reset = _reset_peak_rss()
                self.start = time.perf_counter()

            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
                if not self.shapes:
                    self.shapes = [list(t.shape) for t in batch if isinstance(t, torch.Tensor)]

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
                self.n += 1
                if pl_module.model_step > len(self.ends):
                    self._sync()
                    self.ends.append(time.perf_counter())
                    self.peak_kb = _proc_status_kb("VmHWM")
                    self.batches.append(self.n)
                    self.n = 0

        probe = Probe()
        # first: its step end is read before any other callback's work at that step (the end-of-run checkpoint, plots)
        trainer = build_trainer(cfg, model, [probe, *instantiate_group(cfg.get("callbacks"))], [])
        trainer.fit(model, datamodule=dm)
        peak_kb = probe.peak_kb  # at the end of the last model step, before the end-of-run callbacks
    assert model.model_step == steps, (recipe, model.model_step)
    ends = [probe.start, *probe.ends]
    row = {
        "recipe": recipe, "device": device, "data": RECIPE_DATA[recipe] or cfg.data._target_.rsplit(".", 1)[-1],
        "data_shape": list(dm.shape), "batch": int(cfg.data.batch_size),
        "g_batch": int(model.g_batch_size) if getattr(model, "g_batch_size", None) else None,
        "first_batch_shapes": probe.shapes, "params": params, "params_total": sum(params.values()),
        "opt_steps_per_model_step": probe.batches, "s_per_step": [b - a for a, b in zip(ends, ends[1:], strict=False)],
        "threads": threads, "torch": torch.__version__, "overrides": extra,
    }
    if cuda:
        row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        row["cuda_start_mb"] = probe.cuda_start / 2**20
        row["gpu"] = torch.cuda.get_device_name()
    else:
        row["cpu_peak_mb"] = (peak_kb - probe.rss_start) / 1024 if probe.reset else None
        row["cpu_rss_peak_mb"] = peak_kb / 1024
    return row


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 10_000 else str(n)


def table(rows: list[dict], device: str) -> str:
    mem = "CUDA peak MB" if device == "cuda" else "CPU peak MB"
    lines = [f"| recipe | data shape | batch | params | {mem} | s/step ({device}) | batches/step |",
             "|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['recipe']} | failed: {r['error']} | | | | | |")
            continue
        shape = "x".join(map(str, r["data_shape"]))
        batch = f"{r['batch']} (G {r['g_batch']})" if r["g_batch"] and r["g_batch"] != r["batch"] else str(r["batch"])
        params = " + ".join(f"{k} {_millions(v)}" for k, v in r["params"].items())
        if len(r["params"]) > 1:
            params += f" = {_millions(r['params_total'])}"
        peak = r.get("cuda_peak_mb") if device == "cuda" else r.get("cpu_peak_mb")
        name = r["recipe"] + (f" ({', '.join(r['overrides'])})" if r.get("overrides") else "")
        lines.append(f"| {name} | {shape} | {batch} | {params} | {peak:.0f} | {r['s_per_step'][-1]:.2f} | "
                     f"{r['opt_steps_per_model_step'][-1]} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipes", nargs="*", default=None, help="default: every file in conf/experiment/")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--steps", type=int, default=2, help="model steps per recipe (>= 2: the last one is timed)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--data-dir", type=Path, default=None, help="where the synthetic datasets are written (default: a temp dir)")
    p.add_argument("--timeout", type=int, default=900, help="seconds per recipe")
    p.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/recipe_shapes_<device>.json)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="extra overrides for every recipe run (e.g. data.batch_size=8: the table shows the batch used)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.data_dir, args.device, args.steps, args.threads, args.set)))
        return

    recipes = args.recipes or recipes_in_folder()
    unknown = sorted(set(recipes) - set(RECIPE_DATA))
    if unknown:
        sys.exit(f"No synthetic data known for {', '.join(unknown)}: add it to RECIPE_DATA in tests/datasets_on_disk.py")
    out = args.out or ROOT / "benchmarks" / "results" / f"recipe_shapes_{args.device}.json"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        for recipe in recipes:  # one at a time, each in a fresh process (its own peak memory)
            cmd = [sys.executable, __file__, "--child", recipe, "--data-dir", str(data_dir), "--device", args.device,
                   "--steps", str(args.steps), "--threads", str(args.threads), *(["--set", *args.set] if args.set else [])]
            env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
            try:
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env, cwd=tmp)
                lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
                if r.returncode != 0 or not lines:
                    tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
                    rows.append({"recipe": recipe, "error": tail[:300], "stderr_tail": r.stderr[-3000:]})
                else:
                    rows.append(json.loads(lines[-1]))
            except subprocess.TimeoutExpired:
                rows.append({"recipe": recipe, "error": f"timed out after {args.timeout} s"})
            print(f"{recipe}: {rows[-1].get('error') or 'done'}", file=sys.stderr, flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)  # after every recipe: a long run keeps what it measured
            out.write_text(json.dumps({"device": args.device, "steps": args.steps, "threads": args.threads, "rows": rows},
                                      indent=1))
    print(table(rows, args.device))
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
