"""Time genzoo's GAN training step against a plain PyTorch loop doing the same maths.

Same nets (the default DCGAN on 16 px digits), batch size, optimisers, threads and in-memory data;
the plain loop does exactly what GAN.training_step does (critic step with G frozen, generator step
with D frozen). genzoo runs through train(cfg) -> Lightning Trainer with its default trainer,
CSV logging every 10 steps and the loss-curve callback; the progress bar, checkpoint and sample-grid
callbacks (periodic I/O, not per-step work) are off. Blocks alternate (plain, genzoo, plain, ...)
and the ratio of medians is printed. The 2 shared cores are noisy: compare ratios, not seconds.

    python benchmarks/bench_gan_step.py [--steps 300] [--repeats 3] [--ddp]

--ddp also times 2 DDP CPU processes (ddp_spawn, find_unused_parameters=True, 1 thread each,
global batch 2x) against one process with 2 threads, in samples per second.
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

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

OVERRIDES = ["logger=csv", "callbacks.rich_progress_bar=null", "callbacks.model_checkpoint=null",
             "callbacks.sample_grid=null", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false",
             "+trainer.enable_checkpointing=false"]


def compose(overrides, out):
    from hydra import compose as hcompose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = hcompose(config_name="train", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(out)
        cfg.hydra.runtime.cwd = str(out)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


class Timer(pl.Callback):
    """Seconds per generator step after ``warmup`` generator steps."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.t0, self.g0, self.result = warmup, None, 0, None

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if self.t0 is None and pl_module.g_step >= self.warmup:
            self.t0, self.g0 = time.perf_counter(), pl_module.g_step

    def on_train_end(self, trainer, pl_module) -> None:
        if self.t0 is not None and trainer.is_global_zero:
            self.result = (time.perf_counter() - self.t0) / (pl_module.g_step - self.g0)
            print(f"BENCH_SEC_PER_G_STEP {self.result}", flush=True)


def genzoo_step_time(steps: int, warmup: int, extra=()) -> float:
    import genzoo.training as tr

    timer = Timer(warmup)
    orig = tr.instantiate_group

    def with_timer(group):  # add the timer to the callbacks the config builds
        objs = orig(group)
        if group is not None and "loss_curves" in group:
            objs.append(timer)
        return objs

    tr.instantiate_group = with_timer
    try:
        with tempfile.TemporaryDirectory() as d:
            tr.train(compose([*OVERRIDES, f"trainer.max_steps={steps + warmup}", *extra], d))
    finally:
        tr.instantiate_group = orig
    return timer.result


def plain_step_time(steps: int, warmup: int) -> float:
    """The same maths as GAN.training_step (n_critic = 1), in a bare loop."""
    from genzoo.data import Digits
    from genzoo.losses import NonSaturating
    from genzoo.nets import DCGANDiscriminator, DCGANGenerator

    torch.manual_seed(0)
    dm = Digits(size=16, batch_size=64)
    dm.setup()
    ds, n, bs, z_dim = dm.train_set, len(dm.train_set), 64, 64
    G, D = DCGANGenerator((1, 16, 16), z_dim=z_dim), DCGANDiscriminator((1, 16, 16))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loss = NonSaturating()
    g = torch.Generator().manual_seed(0)
    perm, pos, t0 = torch.randperm(n, generator=g), 0, None
    for step in range(steps + warmup):
        if step == warmup:
            t0 = time.perf_counter()
        if pos + bs > n:
            perm, pos = torch.randperm(n, generator=g), 0
        (real, _) = ds.__getitems__(perm[pos : pos + bs].tolist())
        pos += bs
        # critic step, generator frozen
        G.requires_grad_(False)
        with torch.no_grad():
            fake = G(torch.randn(bs, z_dim))
        d_loss = loss.d_loss(D(real), D(fake))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        G.requires_grad_(True)
        # generator step, critic frozen
        D.requires_grad_(False)
        g_loss = loss.g_loss(D(G(torch.randn(bs, z_dim))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
        float(d_loss), float(g_loss)  # genzoo reads the losses for logging too
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ddp", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    plain, genzoo = [], []
    for r in range(a.repeats):
        plain.append(plain_step_time(a.steps, a.warmup))
        genzoo.append(genzoo_step_time(a.steps, a.warmup))
        print(f"repeat {r}: plain {plain[-1] * 1e3:.2f} ms/step   genzoo {genzoo[-1] * 1e3:.2f} ms/step", flush=True)
    ratio = statistics.median(genzoo) / statistics.median(plain)
    print(f"\nGAN step (DCGAN, digits 16 px, batch 64, {a.threads} threads): "
          f"genzoo / plain = {ratio:.3f}   (target <= 1.05; medians of {a.repeats})")
    if a.ddp:
        one = genzoo_step_time(a.steps, a.warmup)
        two = genzoo_step_time(a.steps, a.warmup, ["trainer.devices=2", "trainer.accelerator=cpu",
                                                   "trainer.strategy=ddp_spawn_find_unused_parameters_true"])
        print(f"DDP: 1 process {64 / one:.0f} samples/s; 2 processes x 1 thread {128 / two:.0f} samples/s "
              f"(ratio {(128 / two) / (64 / one):.2f})" if two else "DDP timing not available")


if __name__ == "__main__":
    main()
