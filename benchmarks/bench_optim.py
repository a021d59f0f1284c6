"""Time a training step with Adam built by genzoo (torch's fused kernel) against the same Adam with
``foreach=True`` (torch's default multi-tensor path), on the IWAE paper's VAE MLP (784-200-200-50 encoder,
50-200-200-784 Bernoulli decoder, batch 64): the step whose optimiser share is largest among genzoo's
defaults. Blocks alternate (foreach, fused, foreach, ...) in one process on ``--threads`` threads and the
ratio of median step times is printed. The 2 shared cores are noisy: compare ratios, not seconds.

    python benchmarks/bench_optim.py [--steps 200] [--repeats 5] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from genzoo.optim import build_optimizer  # noqa: E402


def vae_mlp() -> nn.Module:
    torch.manual_seed(0)

    def mlp(*sizes: int) -> list[nn.Module]:
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.Tanh()]
        return layers[:-1]

    return nn.ModuleDict({"encoder": nn.Sequential(*mlp(784, 200, 200, 100)),
                          "decoder": nn.Sequential(*mlp(50, 200, 200, 784))})


def step_seconds(fused: bool, steps: int, x: torch.Tensor) -> float:
    """Median seconds of one ELBO step (forward, backward, Adam) over ``steps`` steps after 10 warm-up steps."""
    net = vae_mlp()
    adam = partial(torch.optim.Adam, lr=1e-3) if fused else partial(torch.optim.Adam, lr=1e-3, foreach=True)
    opt = build_optimizer(adam, net.parameters())
    assert bool(opt.param_groups[0].get("fused")) == fused
    times = []
    for i in range(steps + 10):
        start = time.perf_counter()
        mean, log_var = net["encoder"](x).chunk(2, dim=1)
        z = mean + (0.5 * log_var).exp() * torch.randn_like(mean)
        recon = nn.functional.binary_cross_entropy_with_logits(net["decoder"](z), x, reduction="sum")
        kl = 0.5 * (mean.square() + log_var.exp() - 1 - log_var).sum()
        opt.zero_grad(set_to_none=True)
        ((recon + kl) / len(x)).backward()
        opt.step()
        if i >= 10:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    x = (torch.rand(64, 784, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    ratios = []
    for r in range(args.repeats):
        loop, fused = step_seconds(False, args.steps, x), step_seconds(True, args.steps, x)
        ratios.append(fused / loop)
        print(f"repeat {r}: foreach {loop * 1e3:.3f} ms, fused {fused * 1e3:.3f} ms, fused / foreach {ratios[-1]:.3f}",
              flush=True)
    print(f"median fused / foreach step time over {args.repeats} repeats: {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f}; {args.threads} thread(s))")


if __name__ == "__main__":
    main()
