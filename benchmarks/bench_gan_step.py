"""Time genzoo's GAN and WGAN-GP training steps against a plain PyTorch loop doing the same maths.

Same nets (the default DCGAN on 16 px digits), batch size, optimisers, threads and in-memory data;
the plain loop does exactly what GAN.training_step does (critic step with G frozen, generator step
with D frozen, EMA update of G). genzoo runs through train(cfg) -> Lightning Trainer with its default trainer,
CSV logging every 10 steps and the loss-curve callback; the progress bar, checkpoint and sample-grid
callbacks (periodic I/O, not per-step work) are off. Blocks alternate (plain, genzoo, plain, ...)
and the ratio of medians is printed. The 2 shared cores are noisy: compare ratios, not seconds.

    python benchmarks/bench_gan_step.py [--steps 300] [--repeats 3] [--models gan wgan_gp] [--ddp]

For wgan_gp (n_critic 5, two-sided penalty, LayerNorm critic) a "step" is one generator step,
i.e. 5 critic steps with the penalty's double backward plus 1 generator step.

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
             "+trainer.enable_checkpointing=false", "model.ema_decay=0.999"]  # the plain loop averages G too


class Timer(pl.Callback):
    """Seconds per generator step after ``warmup`` generator steps."""

    def __init__(self, warmup: int, out_file: str) -> None:
        # the result goes through a file: under ddp_spawn this object runs in the child processes
        self.warmup, self.out_file, self.t0, self.g0, self.result = warmup, out_file, None, 0, None

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        now = time.perf_counter()
        if self.t0 is None and pl_module.model_step >= self.warmup:
            self.t0, self.g0 = now, pl_module.model_step
        self.t1, self.g1 = now, pl_module.model_step  # end-of-run work (plots) is not a training step

    def on_train_end(self, trainer, pl_module) -> None:
        if self.t0 is not None and trainer.is_global_zero:
            self.result = (self.t1 - self.t0) / (self.g1 - self.g0)
            Path(self.out_file).write_text(str(self.result))


def genzoo_step_time(steps: int, warmup: int, extra=(), model: str = "gan") -> float:
    import genzoo.training as tr

    d = tempfile.mkdtemp()
    timer = Timer(warmup, str(Path(d) / "sec_per_model_step"))
    orig = tr.instantiate_group

    def with_timer(group):  # add the timer to the callbacks the config builds
        objs = orig(group)
        if group is not None and "loss_curves" in group:
            objs.append(timer)
        return objs

    tr.instantiate_group = with_timer
    try:
        tr.train(tr.compose_config([*OVERRIDES, f"model={model}", f"trainer.max_steps={steps + warmup}", *extra], d))
    finally:
        tr.instantiate_group = orig
    return float(Path(timer.out_file).read_text())


def plain_step_time(steps: int, warmup: int, model: str = "gan") -> float:
    """The same maths as GAN.training_step / WGANGP (critic steps, then a generator step), in a bare loop."""
    from genzoo.data import Digits
    from genzoo.losses import NonSaturating, Wasserstein, gradient_penalty
    from genzoo.nets import DCGANDiscriminator, DCGANGenerator

    torch.manual_seed(0)
    dm = Digits(size=16, batch_size=64)
    dm.setup()
    ds, n, bs, z_dim = dm.train_set, len(dm.train_set), 64, 64
    gp = model == "wgan_gp"
    G, D = DCGANGenerator((1, 16, 16), z_dim=z_dim), DCGANDiscriminator((1, 16, 16), norm="layer" if gp else "batch")
    lr, betas, n_critic = (1e-4, (0.0, 0.9), 5) if gp else (2e-4, (0.5, 0.999), 1)
    from genzoo.models.ema import EMA

    G_ema = EMA({"generator": G}, 0.999)  # genzoo's default EMA of G
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    loss = Wasserstein() if gp else NonSaturating()
    g = torch.Generator().manual_seed(0)
    perm, pos, t0 = torch.randperm(n, generator=g), 0, None
    for step in range(steps + warmup):
        if step == warmup:
            t0 = time.perf_counter()
        for _ in range(n_critic):  # each critic step on a fresh real batch
            if pos + bs > n:
                perm, pos = torch.randperm(n, generator=g), 0
            (real, _) = ds.__getitems__(perm[pos : pos + bs].tolist())
            pos += bs
            G.requires_grad_(False)
            with torch.no_grad():
                fake = G(torch.randn(bs, z_dim))
            d_loss = loss.d_loss(D(real), D(fake))
            if gp:
                d_loss = d_loss + 10.0 * gradient_penalty(D, real, fake)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            G.requires_grad_(True)
            float(d_loss)
        # generator step, critic frozen
        D.requires_grad_(False)
        g_loss = loss.g_loss(D(G(torch.randn(bs, z_dim))))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
        G_ema.update({"generator": G})
        float(d_loss), float(g_loss)  # genzoo reads the losses for logging too
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=["gan", "wgan_gp"], choices=["gan", "wgan_gp"])
    ap.add_argument("--ddp", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    results = {}
    for model in a.models:
        steps = a.steps if model == "gan" else max(a.steps // 5, 20)
        plain, genzoo = [], []
        for r in range(a.repeats):
            plain.append(plain_step_time(steps, a.warmup, model))
            genzoo.append(genzoo_step_time(steps, a.warmup, model=model))
            print(f"{model} repeat {r}: plain {plain[-1] * 1e3:.2f} ms/g-step   genzoo {genzoo[-1] * 1e3:.2f} ms/g-step",
                  flush=True)
        results[model] = statistics.median(genzoo) / statistics.median(plain)
    print()
    for model, ratio in results.items():
        print(f"{model} generator step (DCGAN, digits 16 px, batch 64, {a.threads} threads): "
              f"genzoo / plain = {ratio:.3f}   (target <= 1.05; medians of {a.repeats})")
    if a.ddp:  # the chosen DDP mechanism against one process, same per-process batch (global batch doubles)
        one = genzoo_step_time(a.steps, a.warmup, ["metrics=none"])
        two = genzoo_step_time(a.steps, a.warmup, ["metrics=none", "trainer.devices=2", "trainer.accelerator=cpu",
                                                   "trainer.strategy=ddp_spawn_find_unused_parameters_true"])
        print(f"DDP (ddp_find_unused_parameters_true, gloo): 1 process x {a.threads} threads {64 / one:.0f} samples/s; "
              f"2 processes x 1 thread {128 / two:.0f} samples/s (throughput ratio {(128 / two) / (64 / one):.2f}; "
              f"time per generator step {two / one:.2f}x)")


if __name__ == "__main__":
    main()
