"""Conditional GANs (seed claim C18): every net conditioned both ways, labels through training,
row-per-class grids, the conditional accuracy metric, clear errors, and the claim on digits."""

import re
from functools import partial
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import fast
from genzoo.errors import ConfigError
from genzoo.losses import gradient_penalty
from genzoo.nets import (
    CONDITIONINGS,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    ResNetDiscriminator,
    ResNetGenerator,
    conditional_nets,
)
from genzoo.training import train

NETS = {
    "mlp_toy": (partial(MLPGenerator, hidden=16, depth=2), partial(MLPDiscriminator, hidden=16, depth=2), (2,), 4),
    "mlp_image": (partial(MLPGenerator, hidden=16), partial(MLPDiscriminator, hidden=16), (1, 8, 8), 10),
    "dcgan": (partial(DCGANGenerator, width=8), partial(DCGANDiscriminator, width=8, norm="none"), (1, 16, 16), 10),
    "resnet": (partial(ResNetGenerator, width=8), partial(ResNetDiscriminator, width=8), (3, 16, 16), 5),
}


@pytest.mark.parametrize("conditioning", CONDITIONINGS)
@pytest.mark.parametrize("net", list(NETS))
def test_every_net_is_conditioned_on_the_label_both_ways(net, conditioning):
    make_g, make_d, shape, k = NETS[net]
    torch.manual_seed(0)
    g, d = conditional_nets(make_g, make_d, shape, z_dim=6, num_classes=k, conditioning=conditioning)
    z, y = torch.randn(5, 6), torch.tensor([0, 1, 2, 3, 4]) % k
    other = (y + 1) % k
    x = g(z, y)
    assert x.shape == (5, *shape)
    assert not torch.allclose(x, g(z, other))  # the class changes the sample
    out = d(x, y)
    assert out.shape == (5,)
    assert ((out - d(x, other)).abs() > 1e-6).all()  # ... and the score, sample by sample
    # the penalty of a conditional critic is the gradient w.r.t. x at the pair's class
    gp = gradient_penalty(lambda t: d(t, y), torch.randn(5, *shape), x.detach())
    assert torch.isfinite(gp) and gp > 0


def test_projection_adds_the_class_embedding_times_the_features():
    """Miyato and Koyama, eq. 3: D(x, y) - D(x, y') = <E(y) - E(y'), phi(x)>, and with equal
    embeddings the score is the unconditional net's."""
    make_g, make_d, shape, k = NETS["dcgan"]
    torch.manual_seed(0)
    _, d = conditional_nets(make_g, make_d, shape, 6, k, "projection")
    x, y, y2 = torch.randn(4, *shape), torch.tensor([1, 2, 3, 4]), torch.tensor([5, 6, 7, 8])
    phi = d.net.features(x)
    diff = ((d.embed.weight[y] - d.embed.weight[y2]) * phi).sum(1)
    assert torch.allclose(d(x, y) - d(x, y2), diff, atol=1e-5)
    with torch.no_grad():
        d.embed.weight.zero_()
    assert torch.allclose(d(x, y), d.net(x), atol=1e-6)


def test_dcgan_head_is_the_papers_last_convolution():
    """The critic's linear head on flattened features is DCGAN's final base x base convolution."""
    torch.manual_seed(0)
    d = DCGANDiscriminator((1, 16, 16), width=8)
    conv = torch.nn.Conv2d(16, 1, 4)
    with torch.no_grad():
        conv.weight.copy_(d.head.weight.view(1, 16, 4, 4))
        conv.bias.copy_(d.head.bias)
    x = torch.randn(3, 1, 16, 16)
    trunk = d.body[:-1]  # everything before the flatten
    assert torch.allclose(d(x), conv(trunk(x)).flatten(), atol=1e-6)


@pytest.mark.parametrize("overrides,rows", [
    (["model=cgan"], 10),
    (["model=cgan", "model.conditioning=concat", "loss=minimax"], 10),
    (["model=cgan", "loss=kl"], 10),  # an f-GAN divergence
    (["model=wgan_gp", "model.conditioning=projection"], 10),
    (["model=fgan", "loss=reverse_kl", "model.conditioning=concat"], 10),
])
def test_conditional_models_train_log_accuracy_and_draw_a_row_per_class(compose_cfg, overrides, rows):
    from genzoo.evaluation import load_run, score

    cfg = compose_cfg(*fast(*overrides, "trainer.max_steps=2", "metrics.num_samples=100"))
    metrics = train(cfg)
    # the logged accuracy is the accuracy of this model's samples: eval's path, same seed, same number
    _, dm, model, _ = load_run(str(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"))
    again = score(model, dm, cfg.metrics, seed=cfg.metrics.seed)
    assert metrics["conditional_accuracy/classifier/100"] == pytest.approx(again["conditional_accuracy/classifier/100"])
    from genzoo.plotting import read_grid_info

    grid = Image.open(Path(cfg.paths.output_dir) / "samples" / "last.png")
    info = read_grid_info(grid.filename)  # 8 samples of 16 px per class row, each row labelled with its class
    assert (info["columns"], info["rows"], info["cell"]) == (8, rows, [16, 16]) and min(grid.size) >= 256
    assert info["row_labels"] == [str(c) for c in range(rows)]
    if "loss=kl" in overrides:
        assert "divergence/kl" in metrics


def test_conditional_toy2d_scores_samples_at_the_mode_asked_for(compose_cfg):
    cfg = compose_cfg(*fast("model=cgan", "data=toy2d", "data.name=grid", "trainer.max_steps=2",
                            "metrics.num_samples=250"))
    metrics = train(cfg)
    # by hand: the share of the (same-seed) samples within 3 std of the mode they were asked for
    from genzoo.evaluation import load_run
    from genzoo.sampling import draw_share

    _, dm, model, _ = load_run(str(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"))
    samples, asked = draw_share(model, 250, cfg.metrics.seed, datamodule=dm)
    dist = dm.distribution
    at_mode = (samples.double() - dist.centers.double()[asked]).norm(dim=1) <= 3 * dist.std
    assert metrics["toy2d/250/conditional_accuracy"] == pytest.approx(float(at_mode.double().mean()))
    assert metrics["toy2d/250/conditional_accuracy"] <= metrics["toy2d/250/high_quality"]


@pytest.mark.parametrize("overrides,message", [
    (["model=cgan", "loss=wasserstein"], "model=wgan_gp model.conditioning=projection"),
    (["model=cgan", "model.conditioning=null"], "model=cgan is conditional by definition"),
    (["model=cgan", "model.conditioning=label"], "choose one of concat, projection"),
    (["model=cgan", "data=toy2d", "data.name=swiss_roll"], "needs labelled data"),
])
def test_conditional_misconfigurations_are_explained(compose_cfg, overrides, message):
    cfg = compose_cfg(*fast(*overrides, "trainer.max_steps=1"))
    with pytest.raises(Exception, match=re.escape(message)) as info:  # Hydra wraps errors raised in __init__
        train(cfg)
    assert isinstance(info.value, ConfigError) or isinstance(info.value.__cause__, ConfigError)


@pytest.mark.slow
def test_c18_cgan_generates_the_class_asked_for(compose_cfg):
    """C18: after 300 generator steps on digits, samples asked for class k are classified as k (by
    the cached digits classifier) far above chance (0.1), and each row of the grid is its digit."""
    from genzoo.evaluation import load_run
    from genzoo.metrics import build_extractor

    cfg = compose_cfg(*fast("model=cgan", "trainer.max_steps=300", "net.generator.width=16",
                            "net.discriminator.width=16", "metrics.num_samples=500"))
    metrics = train(cfg)
    assert metrics["conditional_accuracy/classifier/500"] > 0.6
    _, dm, model, _ = load_run(str(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"))
    from genzoo.sampling import grid_inputs

    grid = grid_inputs(model, nrow=20)
    classifier = build_extractor("classifier", dm, cfg.metrics.cache_dir)
    predicted = classifier.logits(grid.sample(model)).argmax(1).view(10, grid.nrow)
    majority = predicted.mode(dim=1).values
    assert (majority == torch.arange(10)).sum() >= 9, predicted
