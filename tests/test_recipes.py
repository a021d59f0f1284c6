"""Every ``experiment=`` recipe at its real shape (``make test-full``): 2 model steps on the CPU through
``train(cfg)``, reading synthetic data written in the dataset's real on-disk layout and image size
(tests/datasets_on_disk.py) with the real loading code, at the recipe's own widths, depths and batch
sizes. Only these change (``REAL_SHAPE_OVERRIDES``): no DataLoader workers, 2 model steps, no sample
metrics, no end-of-run sample grid, held-out evaluation or critic diagnostics, csv logs.

Each run is checked against values fixed outside the run: the first batch's shape (the real batch of
the real image size), the Lightning optimiser steps that 2 model steps take (from each family's update
schedule), every net's parameter count (the DCGAN and CycleGAN ones are the reference implementations'
published counts, the IWAE VAE's is computed by hand below; the rest pin the recipe's current size),
finite losses, and where a recipe schedules its learning rate, the rate after 2 steps.

Seconds per model step on 2 busy cores (benchmarks/recipe_shapes.py): 0.2 (VAE) to about 4 minutes
(wgan_gp_text: 10 critic steps of 1-D ResNets of width 512); c16_resnet101 runs at batch 8 (below).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from datasets_on_disk import RECIPE_DATA, recipe_overrides, skip_cifar10_md5

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml"))


def vae_mlp_params(x: int = 784, h: int = 200, z: int = 50) -> tuple[int, int]:
    """The IWAE paper's x-h-h-z tanh MLPs: the encoder ends in z means and z log-variances (2z outputs),
    the decoder in x Bernoulli logits; each linear layer has weights and biases."""
    encoder = (x * h + h) + (h * h + h) + (h * 2 * z + 2 * z)
    decoder = (z * h + h) + (h * h + h) + (h * x + x)
    return encoder, decoder


IWAE_ENCODER, IWAE_DECODER = vae_mlp_params()
# the DCGAN reference (PyTorch's DCGAN example/tutorial, nz 100, ngf = ndf = 64, 64 px, BatchNorm, no
# biases): netG 3,576,704 and netD 2,765,568 parameters; genzoo adds a bias where no BatchNorm follows:
# G's last layer (3 channels), D's first (64) and last (1)
DCGAN64_G, DCGAN64_D = 3_576_704 + 3, 2_765_568 + 64 + 1
# the CycleGAN reference (junyanz/pytorch-CycleGAN-and-pix2pix, as its train.py prints them): ResNet-9 G
# 11.378 M, 70x70 PatchGAN D 2.765 M
CYCLEGAN_G, CYCLEGAN_D = 11_378_179, 2_764_737

# c16_resnet101 (a 98-layer G, a 101-layer critic, 5 critic steps with the penalty's double backward per
# model step) at its real batch of 64 did not finish its first model step in 13 minutes on the 2 shared
# cores; its real-shape run uses batch 8 (every width and depth as the recipe has them)
C16_BATCH = 8
REDUCED = {"c16_resnet101": [f"data.batch_size={C16_BATCH}"]}

#: recipe -> (first batch's shapes, Lightning optimiser steps for 2 model steps, {net: parameters})
EXPECTED: dict[str, tuple[list[list[int]], int, dict[str, int]]] = {
    "wgan_gp_cifar10": ([[64, 3, 32, 32], [64]], 2 * (5 + 1), {"generator": 1_204_483, "discriminator": 1_053_825}),
    # z 128 instead of 100: (128 - 100) x 512 x 4 x 4 more weights in G's first layer
    "wgan_gp_celeba": ([[64, 3, 64, 64]], 2 * (5 + 1), {"generator": DCGAN64_G + 28 * 512 * 16, "discriminator": DCGAN64_D}),
    "dcgan_celeba": ([[128, 3, 64, 64]], 2 * (1 + 1), {"generator": DCGAN64_G, "discriminator": DCGAN64_D}),
    "dcgan_mnist": ([[128, 1, 28, 28], [128]], 2 * (1 + 1), {"generator": 759_681, "discriminator": 138_689}),
    "wgan_mnist": ([[64, 1, 28, 28], [64]], 2 * (100 + 1), {"generator": 533_889, "discriminator": 138_689}),  # paper schedule
    "gan_toy2d": ([[256, 2], [256]], 2 * (1 + 1), {"generator": 136_450, "discriminator": 132_609}),
    "c16_resnet101": ([[C16_BATCH, 1, 32, 32], [C16_BATCH]], 2 * (5 + 1), {"generator": 3_637_121, "discriminator": 3_673_537}),
    "wgan_gp_text": ([[64, 48, 32]], 2 * (10 + 1), {"generator": 15_250_480, "discriminator": 13_153_793}),
    "cyclegan_horse2zebra": ([[1, 3, 256, 256], [1, 3, 256, 256]], 2 * 2,  # read at 286 px, cropped on the device
                             {"g_ab": CYCLEGAN_G, "g_ba": CYCLEGAN_G, "d_a": CYCLEGAN_D, "d_b": CYCLEGAN_D}),
    "cyclegan_digits": ([[4, 1, 16, 16], [4, 1, 16, 16]], 2 * 2,
                        {"g_ab": 4_284_673, "g_ba": 4_284_673, "d_a": 134_337, "d_b": 134_337}),
    "pixelcnn_mnist_binarized": ([[16, 1, 28, 28], [16]], 2, {"network": 53_602}),
    "pixelrnn_mnist_binarized": ([[16, 1, 28, 28], [16]], 2, {"network": 65_666}),
    "vae_mnist_iwae": ([[20, 1, 28, 28], [20]], 2, {"encoder": IWAE_ENCODER, "decoder": IWAE_DECODER}),
    "vae_mnist5k_iwae": ([[64, 1, 28, 28], [64]], 2, {"encoder": IWAE_ENCODER, "decoder": IWAE_DECODER}),
}


class Observed(pl.Callback):
    """Writes to ``path`` (JSON) what the run really did: the first batch's tensor shapes, every net's
    parameter count, the counters and the learning rates at the end."""

    def __init__(self, path: str) -> None:
        self.path, self.seen = Path(path), {}

    def on_train_start(self, trainer, pl_module) -> None:
        names = {id(m): n for n, m in pl_module.named_children()}
        self.seen["params"] = {names[id(m)]: sum(p.numel() for p in m.parameters()) for m in pl_module.nets()}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen.setdefault("first_batch", [list(t.shape) for t in batch if isinstance(t, torch.Tensor)])

    def on_train_end(self, trainer, pl_module) -> None:
        opts = trainer.optimizers
        self.seen.update(global_step=trainer.global_step, model_step=pl_module.model_step,
                         lrs=[o.param_groups[0]["lr"] for o in opts])
        self.path.write_text(json.dumps(self.seen))


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """One folder of synthetic datasets for the module (each written on first use, then shared)."""
    return tmp_path_factory.mktemp("datasets")


def test_every_recipe_has_a_real_shape_run():
    assert sorted(EXPECTED) == RECIPES == sorted(RECIPE_DATA)


@pytest.mark.full
@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_at_real_shape(recipe, data_root, tmp_path, monkeypatch):
    from genzoo.training import compose_config, train

    skip_cifar10_md5(monkeypatch.setattr)
    seen = tmp_path / "seen.json"
    cfg = compose_config([*recipe_overrides(recipe, data_root), "+callbacks.observed._target_=test_recipes.Observed",
                          f"+callbacks.observed.path={seen}", *REDUCED.get(recipe, [])], tmp_path / "run")
    metrics = train(cfg)
    got = json.loads(seen.read_text())
    first_batch, opt_steps, params = EXPECTED[recipe]
    assert got["first_batch"] == first_batch
    assert got["model_step"] == metrics["model_step"] == 2
    assert got["global_step"] == opt_steps
    assert got["params"] == params
    trained = {k: v for k, v in metrics.items() if k != "model_step"}  # the losses (and NLLs, bits/dim) logged
    assert trained and all(math.isfinite(v) for v in trained.values()), trained
    if recipe == "wgan_gp_cifar10":  # lr decays linearly to 0 over trainer.max_steps generator steps: 0 after 2 of 2
        assert got["lrs"] == [0.0, 0.0]
