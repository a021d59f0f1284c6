"""Palettes (seed claim C21): k-means colour quantisation as a data option, the autoregressive models
over palette indices, and why: regressing RGB gives greyer samples than choosing among colours."""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FAST, SMALL_PIXELCNN
from genzoo.data import ColourMNIST5k, Digits
from genzoo.data.base import kmeans
from genzoo.errors import ConfigError
from genzoo.metrics.colour import saturation
from genzoo.models.pixelcnn import PixelCNN
from genzoo.nets import pixel_net
from genzoo.training import train


def off_palette(images: torch.Tensor, palette: torch.Tensor) -> float:
    """The largest distance from a pixel of ``images`` to its nearest palette colour (0: all on it)."""
    pixels = images.movedim(1, -1).reshape(-1, 1, images.shape[1])
    return float((pixels - palette[None]).abs().sum(-1).min(1).values.max())


SIX = torch.tensor([[1, 0, 0], [0, 1, 1], [0, 1, 0], [1, 0, 1], [0, 0, 1], [1, 1, 0]], dtype=torch.float) * 2 - 1


def test_kmeans_finds_the_colours_of_a_few_colour_image_set():
    g = torch.Generator().manual_seed(0)
    pixels = SIX[torch.randint(6, (5000,), generator=g)] + 0.01 * torch.randn(5000, 3, generator=g)
    centres = kmeans(pixels, 6, seed=0)
    order = torch.cdist(SIX, centres).argmin(1)
    assert sorted(order.tolist()) == list(range(6))  # one centre per colour
    assert torch.allclose(centres[order], SIX, atol=0.01)
    assert torch.equal(kmeans(pixels, 6, seed=0), centres)  # a function of the seed: the cached palette is reproducible


def test_saturation_is_zero_for_grey_and_one_for_pure_hues():
    grey = torch.full((2, 3, 4, 4), 0.3)
    hues = SIX[:, :, None, None].expand(6, 3, 4, 4)
    assert torch.equal(saturation(grey), torch.zeros(2, dtype=torch.double))
    assert torch.allclose(saturation(hues), torch.ones(6, dtype=torch.double))
    half = torch.tensor([1.0, 0.0, 0.0])[None, :, None, None].expand(1, 3, 1, 1)  # (1, .5, .5) in [0, 1]
    assert saturation(half).item() == pytest.approx(0.5)


def test_a_palette_is_fitted_once_cached_and_every_image_uses_only_its_colours(tmp_path):
    dm = ColourMNIST5k(size=12, palette_size=24, batch_size=32)
    dm.cache_dir = str(tmp_path)
    palette = dm.palette
    assert palette.shape == (24, 3) and len(torch.unique(palette, dim=0)) == 24
    assert torch.equal(torch.round((palette + 1) * 127.5) / 127.5 - 1, palette)  # 8-bit colours
    (cached,) = tmp_path.glob("palette-*.pt")
    again = ColourMNIST5k(size=12, palette_size=24, batch_size=32)
    again.cache_dir = str(tmp_path)
    torch.save(palette.flip(0), cached)  # the cache is what a second module reads
    assert torch.equal(again.palette, palette.flip(0))
    for split in ("train", "test"):
        x = dm.sample_real(200, split=split)
        assert off_palette(x, palette) < 1e-6, split
    raw = ColourMNIST5k(size=12).sample_real(200)
    assert saturation(raw).mean() > 0.5  # vivid data: the palette keeps it so
    assert saturation(x).mean() == pytest.approx(float(saturation(raw).mean()), abs=0.1)


def test_palette_misconfigurations_are_explained():
    with pytest.raises(ConfigError, match="data.palette_size=1 must be a whole number >= 2"):
        Digits(palette_size=1)
    with pytest.raises(ConfigError, match="use one of them"):
        Digits(palette_size=4, binarize="static")
    with pytest.raises(ConfigError, match="only 17 distinct colours"):  # sklearn's digits have 17 grey levels
        _ = Digits(size=8, palette_size=20).palette


@pytest.mark.slow
def test_c21_choosing_among_colours_keeps_them_vivid_regressing_rgb_greys_them():
    """C21 on a distribution whose colours average to grey: 2x2 images of one pure hue each, six hues in
    complementary pairs. The palette model (a categorical over the six colours) samples vivid images,
    as saturated as the data; the Gaussian regression of RGB (learned sigma) samples greyer ones, and
    its mean (the regression's prediction, sample_mode=argmax) greyer still: its first pixel, with
    nothing to condition on, is the average colour."""
    torch.manual_seed(0)
    net = partial(pixel_net, kind="gated", hidden=16, layers=2, out_hidden=16, kernel=3)
    palette_model = PixelCNN(net, data_shape=(3, 2, 2), optimizer=None, palette=SIX)
    regression = PixelCNN(net, data_shape=(3, 2, 2), optimizer=None, output="gaussian")

    def draws(n: int, g: torch.Generator) -> torch.Tensor:
        return SIX[torch.randint(6, (n,), generator=g)][:, :, None, None].expand(n, 3, 2, 2).clone()

    for model in (palette_model, regression):
        opt, g = torch.optim.Adam(model.parameters(), lr=1e-2), torch.Generator().manual_seed(0)
        for _ in range(300):
            loss = -model.log_prob(draws(128, g)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    vivid = saturation(palette_model.sample(256, rng=gen())).mean().item()
    sampled = saturation(regression.sample(256, rng=gen())).mean().item()
    regression.sample_mode = "argmax"
    means = regression.sample(256, rng=gen())
    assert saturation(draws(256, gen())).mean().item() == 1.0
    assert vivid > 0.98 and sampled < vivid - 0.15 and saturation(means).mean().item() < sampled
    assert saturation(means[:, :, :1, :1]).max().item() < 0.2  # the first pixel: the average colour, grey


def test_a_palette_run_on_an_image_folder_of_sprites(compose_cfg, tmp_path):
    """The notes' Pokemon setting, on made-up sprites: data=image_folder data.size=20
    data.palette_size=167 trains a PixelCNN over palette indices; its samples are palette colours."""
    rng = np.random.default_rng(0)
    root = tmp_path / "pokemon"
    root.mkdir()
    for i in range(40):
        img = np.zeros((40, 40, 3), np.uint8)
        img[8:32, 8:32] = rng.integers(0, 256, 3)
        img += rng.integers(0, 40, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / f"{i:03d}.png")
    cfg = compose_cfg(*FAST, "model=pixelcnn", *SMALL_PIXELCNN, "data=image_folder", f"data.root={root}",
                      "data.size=20", "data.palette_size=167", "data.batch_size=16", "trainer.max_steps=3",
                      "metrics=none", "callbacks.held_out.every_n_steps=3", "callbacks.sample_grid.num_samples=4",
                      f"paths.cache_dir={tmp_path / 'cache'}")
    metrics = train(cfg)
    assert math.isfinite(metrics["nll/test"])
    from genzoo.evaluation import load_run

    _, dm, model, _ = load_run(str(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"))
    assert model.levels == 167 and torch.equal(model.palette, dm.palette)
    samples = model.sample(4, rng=torch.Generator().manual_seed(0))
    assert samples.shape == (4, 3, 20, 20)
    assert off_palette(samples, model.palette) < 1e-6
