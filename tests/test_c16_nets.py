"""The hard architectures of seed claim C16 (WGAN-GP paper, Figure 2): the net options, their depth as the
paper counts it, the critic's per-sample independence the gradient penalty needs, and a training run."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from conftest import FAST
from genzoo.errors import ConfigError
from genzoo.nets.common import Gated, gate, weight_layers

SETTINGS = ["dcgan_nonorm_g", "mlp_g", "dcgan_tanh", "dcgan_gated", "resnet_deep"]


def nets(compose_cfg, *overrides: str):
    from genzoo.training import build_datamodule, build_model

    cfg = compose_cfg(*FAST, *overrides)
    model = build_model(cfg, build_datamodule(cfg))
    return cfg, model.generator, model.discriminator


def modules(net: nn.Module, kind) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, kind)]


@pytest.mark.parametrize("net", SETTINGS)
def test_hard_settings_build_on_digits_with_the_options_they_name(compose_cfg, net):
    cfg, g, d = nets(compose_cfg, f"net={net}", "model=wgan_gp")
    x = g(torch.randn(5, cfg.model.z_dim))
    assert x.shape == (5, 1, 16, 16) and x.abs().max() <= 1  # images in [-1, 1]
    assert d(x).shape == (5,)
    norms = (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm, nn.LayerNorm)
    if net == "dcgan_nonorm_g":
        assert not modules(g, norms)
        deconvs = modules(g, nn.ConvTranspose2d)  # with no norm after it, every layer keeps its bias
        assert len(deconvs) >= 3 and all(m.bias is not None for m in deconvs)
    elif net == "mlp_g":
        linears = modules(g, nn.Linear)  # 4 hidden layers of 512, then the map to 256 pixels
        assert [m.out_features for m in linears] == [512, 512, 512, 512, 256]
        assert not modules(g, norms) and len(modules(g, nn.ReLU)) == 4
    elif net == "dcgan_tanh":
        for part in (g, d):
            assert not modules(part, (nn.ReLU, nn.LeakyReLU)) and len(modules(part, nn.Tanh)) >= 2
    elif net == "dcgan_gated":  # every hidden layer emits twice the features the next layer reads
        assert not modules(d, (nn.ReLU, nn.LeakyReLU, nn.Tanh)) and not modules(g, (nn.ReLU, nn.LeakyReLU))
        for part in (g, d):
            convs = modules(part, (nn.Conv2d, nn.ConvTranspose2d))
            assert len(modules(part, Gated)) == len(convs) - (part is g) >= 2
            for a, b in zip(convs[:-1], convs[1:]):
                assert a.out_channels == 2 * b.in_channels
        assert modules(d, nn.Conv2d)[-1].out_channels == 2 * d.head.in_features // 16  # 4 x 4 map, halved
        assert len(modules(g, nn.Tanh)) == 1 and modules(g, nn.ConvTranspose2d)[-1].out_channels == 1
    else:  # 16 px: G has the linear seed map, 2 x depth blocks of two convs, the output conv
        depth_g, depth_d = cfg.net.generator.depth, cfg.net.discriminator.depth
        assert weight_layers(g) == 2 + 4 * depth_g and weight_layers(d) == 5 + 2 * depth_d
        assert weight_layers(d) > 20 and cfg.net.discriminator.width == 16
    # WGAN-GP's critic gets layer norm in place of batch norm (model=wgan_gp), whatever the net
    assert not modules(d, (nn.BatchNorm2d, nn.BatchNorm1d))


@pytest.mark.parametrize("net", SETTINGS)
def test_the_penalised_critic_scores_each_sample_on_its_own(compose_cfg, net):
    """The gradient penalty is per sample, so D(x_i) must not depend on the other samples of the batch
    (in training mode, where batch norm would mix them); model=gan keeps batch norm, which does mix."""
    torch.manual_seed(0)
    x = torch.rand(6, 1, 16, 16) * 2 - 1
    other = x.clone()
    other[1:] = torch.rand(5, 1, 16, 16) * 2 - 1
    for model, mixes in (("wgan_gp", False), ("gan", net != "resnet_deep")):  # the ResNet critic has no norm
        d = nets(compose_cfg, f"net={net}", f"model={model}")[2].train()
        changed = not torch.allclose(d(x)[0], d(other)[0], atol=1e-6)
        assert changed == mixes, (model, net)


def test_the_gated_unit_is_tanh_of_one_half_times_sigmoid_of_the_other():
    # tanh(atanh(1/2)) = 1/2 and sigmoid(ln 3) = 3/4, so the unit gives 3/8; a gate of sigmoid(0) = 1/2 halves
    t = torch.tensor([[math.atanh(0.5), -1.0, math.log(3.0), 0.0]], dtype=torch.float64)
    assert torch.allclose(gate(t), torch.tensor([[0.375, -math.tanh(1.0) / 2]], dtype=torch.float64))
    images = torch.randn(3, 8, 5, 5)  # conv features: the halves are along the channels
    assert torch.equal(Gated()(images), torch.tanh(images[:, :4]) * torch.sigmoid(images[:, 4:]))
    from genzoo.nets import MLPDiscriminator

    d = MLPDiscriminator((2,), hidden=6, depth=2, act="gated")  # the MLP nets take the gated unit too
    assert [m.out_features for m in modules(d, nn.Linear)] == [12, 12, 1] and d(torch.randn(4, 2)).shape == (4,)


def test_depth_one_resnets_keep_their_layers_and_deeper_blocks_keep_the_resolution():
    from genzoo.nets import ResNetDiscriminator, ResNetGenerator
    from genzoo.nets.resnet import _UpBlock

    def layer_names(net):
        return [n for n, m in net.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]

    g, d = ResNetGenerator((1, 16, 16), width=8), ResNetDiscriminator((1, 16, 16), width=8)
    # the depth-1 nets are WGAN-GP's CIFAR-10 nets as before (checkpoints keep loading)
    assert layer_names(g) == ["fc", "blocks.0.c1", "blocks.0.c2", "blocks.0.skip", "blocks.1.c1", "blocks.1.c2",
                              "blocks.1.skip", "out.2"]
    assert [n for n in layer_names(d) if not n.startswith("head")] == [
        f"blocks.{i}.{c}" for i in range(3) for c in ("c1", "c2", *(("skip",) if i == 0 else ()))]
    g3 = ResNetGenerator((1, 32, 32), width=8, depth=3)
    assert len(g3.blocks) == 9 and [b.up for b in g3.blocks] == [True, False, False] * 3
    assert weight_layers(g3) == 2 + 6 * 3 and weight_layers(ResNetDiscriminator((1, 32, 32), depth=3)) == 4 * 3 + 5
    # a same-resolution block is x + F(x): with its last conv zeroed it is the identity
    block = _UpBlock(8, 8, "none", up=False)
    nn.init.zeros_(block.c2.weight), nn.init.zeros_(block.c2.bias)
    x = torch.randn(2, 8, 4, 4)
    assert isinstance(block.skip, nn.Identity) and torch.equal(block(x), x)
    with pytest.raises(ConfigError, match="depth must be a whole number >= 1"):
        ResNetGenerator((1, 16, 16), depth=0)


def test_the_gpu_recipe_has_the_papers_101_layer_critic(compose_cfg):
    cfg, g, d = nets(compose_cfg, "experiment=c16_resnet101")
    assert cfg.model.name == "wgan_gp" and cfg.data.size == 32
    assert weight_layers(d) == 101 and weight_layers(g) == 98
    x = g(torch.randn(2, cfg.model.z_dim))
    assert x.shape == (2, 1, 32, 32) and d(x).shape == (2,)


def test_wgan_gp_trains_the_hard_settings(compose_cfg):
    """One generator step of WGAN-GP with each hard setting, in one process: the penalty's double backward
    goes through the setting's layers, and the critic minimised -W + lambda * penalty."""
    from conftest import fit_briefly

    for net in ("dcgan_tanh", "dcgan_gated", "resnet_deep"):
        model, out = fit_briefly(compose_cfg(*FAST, "model=wgan_gp", f"net={net}", "net.generator.width=8",
                                             "net.discriminator.width=8", "metrics=none", name=net))
        assert out["penalty"] > 0 and math.isfinite(out["loss/g"]), net
        assert out["loss/d"] == pytest.approx(-out["wasserstein/estimate"] + model.penalty_weight * out["penalty"],
                                              rel=1e-5, abs=1e-6), net


def test_net_files_that_extend_another_are_offered_in_the_net_mismatch_message():
    from genzoo.training import net_options

    gan_nets = net_options(("generator", "discriminator"))
    assert {"dcgan", "dcgan_gp", "dcgan_nonorm_g", "dcgan_tanh", "dcgan_gated", "mlp_g", "resnet_deep"} <= set(gan_nets)
    assert "vae_mlp" not in gan_nets and "pixelcnn" not in gan_nets
