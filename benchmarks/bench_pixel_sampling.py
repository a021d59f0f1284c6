"""Images per second of the autoregressive samplers: naive (the whole net once per pixel) against cached
(the PixelRNN's LSTM states carried, one column per layer computed for each new pixel).

The nets are the configs' defaults (conf/net/pixelrnn.yaml, conf/net/pixelcnn.yaml), freshly
initialised (sampling cost does not depend on the weights), on one-channel images of --size pixels
with 256 levels. Both samplers get the same uniforms and the script checks that they draw the same
images. Naive and cached are timed back to back in one process, so compare their ratio: the 2 shared
cores are noisy and seconds are not comparable between runs.

    python benchmarks/bench_pixel_sampling.py [--size 28] [--n 16] [--variants row_lstm diagonal_bilstm gated]
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
import yaml  # noqa: E402

from genzoo.models.pixelcnn import PixelCNN, PixelRNN  # noqa: E402
from genzoo.nets import pixel_net, pixel_rnn  # noqa: E402


def net_kwargs(name: str) -> dict:
    cfg = yaml.safe_load((ROOT / "conf" / "net" / f"{name}.yaml").read_text())["network"]
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def model(variant: str, size: int) -> PixelCNN:
    shape = (1, size, size)
    if variant in ("row_lstm", "diagonal_bilstm"):
        return PixelRNN(partial(pixel_rnn, **net_kwargs("pixelrnn")), data_shape=shape, optimizer=None,
                        variant=variant, sampler="cached")
    kwargs = {**net_kwargs("pixelcnn"), "kind": variant}
    return PixelCNN(partial(pixel_net, **kwargs), data_shape=shape, optimizer=None)


def timed(m: PixelCNN, noise: dict, sampler: str) -> tuple[torch.Tensor, float]:
    m.sampler = sampler
    start = time.perf_counter()
    images = m.sample(noise=noise)
    return images, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=28)
    ap.add_argument("--n", type=int, default=16, help="images drawn per sampler (one batch)")
    ap.add_argument("--variants", nargs="+", default=["row_lstm", "diagonal_bilstm", "gated"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"{args.n} images of 1x{args.size}x{args.size}, 256 levels, {args.threads} threads")
    print(f"{'variant':<16} {'naive img/s':>12} {'cached img/s':>13} {'speed-up':>9}  same images")
    for variant in args.variants:
        m = model(variant, args.size).eval()
        noise = m.draw_noise(args.n, torch.Generator().manual_seed(1))
        naive, t_naive = timed(m, noise, "naive")
        if not hasattr(m.network, "incremental"):
            print(f"{variant:<16} {args.n / t_naive:>12.3f} {'(none)':>13} {'':>9}", flush=True)
            continue
        cached, t_cached = timed(m, noise, "cached")
        print(f"{variant:<16} {args.n / t_naive:>12.3f} {args.n / t_cached:>13.3f} {t_naive / t_cached:>8.1f}x  "
              f"{torch.equal(naive, cached)}", flush=True)


if __name__ == "__main__":
    main()
