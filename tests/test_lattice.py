"""The checkerboard ("dot lattice") measure, and the DCGAN generator's up-sampling option that removes it."""

from __future__ import annotations

import pytest
import torch

from genzoo.errors import ConfigError
from genzoo.metrics.lattice import lattice_mask, lattice_score, lattice_share
from genzoo.nets import DCGANGenerator
from genzoo.nets.dcgan import UPSAMPLES, upsample_layer

# model=wgan_gp's generator up-sampling (conf/net/dcgan_gp.yaml), chosen by measurement (README, Performance)
WGAN_GP_UPSAMPLE = "nearest"


def checkerboard(n: int = 16) -> torch.Tensor:
    i = torch.arange(n)
    return ((i[:, None] + i[None, :]) % 2 * 2 - 1).float().view(1, 1, n, n)


def blob(n: int = 16, sigma: float = 3.0) -> torch.Tensor:
    i = torch.arange(n).float() - (n - 1) / 2
    return torch.exp(-(i[:, None] ** 2 + i[None, :] ** 2) / (2 * sigma**2)).view(1, 1, n, n)


def test_mask_marks_the_bins_of_period_2_and_4_patterns():
    m = lattice_mask(8, 8, (2,))
    assert m.nonzero().tolist() == [[0, 4], [4, 0], [4, 4]]
    m = lattice_mask(8, 8, (2, 4))  # multiples of 2 in each index, DC left out
    assert int(m.sum()) == 15 and bool(m[2, 6]) and not bool(m[1, 2])
    assert int(lattice_mask(12, 12, (2, 4, 8)).sum()) == 15  # 8 does not divide 12: skipped


def test_checkerboard_is_all_lattice_a_smooth_blob_almost_none():
    assert lattice_share(checkerboard()) == pytest.approx(1.0)
    period4 = torch.tensor([1.0, 0.0, -1.0, 0.5]).repeat(4).view(1, 1, 1, 16).expand(1, 1, 16, 16)
    assert lattice_share(period4, (4,)) == pytest.approx(1.0)
    assert lattice_share(period4, (2,)) < 1.0  # its period-4 harmonics are not at period-2 bins
    assert lattice_share(blob()) < 1e-4
    assert lattice_share(torch.zeros(2, 1, 8, 8)) == 0.0


def test_share_of_a_ramp_by_hand():
    # each row 0, 1, 2, 3: centred -1.5, -0.5, 0.5, 1.5; DFT along the row X1 = -2 + 2i, X2 = -2, X3 = -2 - 2i,
    # so the period-2 bin holds |X2|^2 / (|X1|^2 + |X2|^2 + |X3|^2) = 4 / (8 + 4 + 8) = 0.2 of the power
    ramp = torch.arange(4.0).repeat(4, 1).view(1, 1, 4, 4)
    assert lattice_share(ramp, (2,)) == pytest.approx(0.2)
    # in 2-D the 4 equal rows put 4 X_k at bins (0, k): power 16 * (8, 4, 8) = 320, 64 of it at (0, 2).
    # Pooled over a batch as a ratio of sums: a flat image adds nothing; a +-1 checkerboard adds
    # 16^2 = 256 at bin (2, 2), all lattice: (64 + 256) / (320 + 256)
    assert lattice_share(torch.cat([ramp, torch.zeros_like(ramp)]), (2,)) == pytest.approx(0.2)
    both = torch.cat([ramp, checkerboard(4)])
    assert lattice_share(both, (2,)) == pytest.approx((64 + 256) / (320 + 256))


def test_score_is_relative_to_real_images():
    smooth = torch.cat([blob(sigma=s) for s in (2.0, 3.0, 4.0)])
    assert lattice_score(smooth, smooth) == pytest.approx(1.0)
    dotted = smooth + 0.05 * checkerboard()
    assert lattice_score(dotted, smooth) > 100


@pytest.mark.parametrize("upsample", UPSAMPLES)
@pytest.mark.parametrize("size", [8, 12, 16, 28, 32, 64])
def test_generator_shape_at_every_size(upsample, size):
    g = DCGANGenerator((3, size, size), z_dim=8, width=4, upsample=upsample)
    assert g(torch.randn(2, 8)).shape == (2, 3, size, size)


@pytest.mark.parametrize("upsample", ["nearest", "bilinear"])
def test_resize_conv_keeps_a_flat_input_flat_a_transposed_conv_does_not(upsample):
    """Odena et al.'s point, exactly: away from the border, a resize-convolution of a constant map is
    constant (one kernel everywhere); a stride-2 transposed convolution paints a period-2 pattern."""
    torch.manual_seed(0)
    flat = torch.ones(1, 3, 6, 6)
    with torch.no_grad():
        out = upsample_layer(upsample, 3, 2, bias=True)(flat)[..., 2:-2, 2:-2]
        deconv = upsample_layer("transpose", 3, 2, bias=True)(flat)[..., 2:-2, 2:-2]
    assert out.shape == deconv.shape == (1, 2, 8, 8)
    assert torch.allclose(out, out[..., :1, :1].expand_as(out), atol=1e-6)
    assert lattice_share(deconv, (2,)) > 0.99  # all of its variation is the period-2 pattern


def test_resize_generator_has_less_lattice_at_init():
    torch.manual_seed(0)
    z = torch.randn(200, 16)
    shares = {}
    for upsample in UPSAMPLES:
        torch.manual_seed(1)
        with torch.no_grad():
            shares[upsample] = lattice_share(DCGANGenerator((1, 28, 28), z_dim=16, width=8, upsample=upsample).eval()(z))
    assert shares["nearest"] < shares["transpose"] / 5 and shares["bilinear"] < shares["transpose"] / 5


def test_unknown_upsample_is_refused_naming_the_choices():
    with pytest.raises(ConfigError, match="upsample='pixel'.*transpose, nearest, bilinear"):
        DCGANGenerator((1, 16, 16), upsample="pixel")


def test_config_defaults(compose_cfg):
    from genzoo.training import build_datamodule, build_model

    def upsample(*overrides: str) -> str:
        cfg = compose_cfg(*overrides, "metrics=none", "logger=none")
        return build_model(cfg, build_datamodule(cfg)).generator.upsample

    assert upsample("model=wgan_gp") == WGAN_GP_UPSAMPLE
    # the key is absent from net=dcgan (model=gan's): its checkpoints from before the option still resume
    assert upsample("model=gan") == "transpose" and upsample("model=wgan_gp", "net=dcgan") == "transpose"
    cfg = compose_cfg("model=wgan_gp", "net.generator.upsample=transpose")  # the old default
    assert cfg.net.generator.upsample == "transpose" and cfg.net.discriminator.width == 32
