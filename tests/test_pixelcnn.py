"""The autoregressive family (PixelCNN, Gated PixelCNN, PixelRNN's Row LSTM and Diagonal BiLSTM):
causality, normalisation, maximum likelihood = minimum KL (C4), sampling (C20), the cached sampler
against the naive one, completion (C22), then short runs through the spine."""

from __future__ import annotations

import itertools
import math
import re
from functools import partial
from pathlib import Path

import pytest
import torch

from conftest import FAST
from genzoo.errors import ConfigError
from genzoo.models.pixelcnn import PixelCNN, PixelRNN
from genzoo.nets import pixel_net, pixel_rnn
from genzoo.training import train

KINDS = ["plain", "gated"]  # PixelCNN's nets
RNNS = ["row_lstm", "diagonal_bilstm"]  # PixelRNN's
VARIANTS = KINDS + RNNS
from conftest import SMALL_PIXELCNN as TINY  # noqa: E402


def net_of(variant: str, shape, levels: int, hidden: int, layers: int, out_hidden: int = 16, kernel: int = 3):
    if variant in RNNS:
        return pixel_rnn(shape, levels, variant=variant, hidden=hidden, layers=layers, out_hidden=out_hidden)
    return pixel_net(shape, levels, kind=variant, hidden=hidden, layers=layers, out_hidden=out_hidden, kernel=kernel)


def tiny_model(kind: str, shape=(1, 3, 3), levels: int = 2, hidden: int = 8, layers: int = 2,
               sampler: str = "naive") -> PixelCNN:
    opt = partial(torch.optim.Adam, lr=3e-3)
    if kind in RNNS:
        net = partial(pixel_rnn, hidden=hidden, layers=layers, out_hidden=16)
        return PixelRNN(net, data_shape=shape, optimizer=opt, levels=levels, variant=kind, sampler=sampler)
    net = partial(pixel_net, kind=kind, hidden=hidden, layers=layers, out_hidden=16, kernel=3)
    return PixelCNN(net, data_shape=shape, optimizer=opt, levels=levels, sampler=sampler)


def receptive_field(net, size: int) -> dict[tuple[int, int], set[tuple[int, int]]]:
    """For each output pixel, the input pixels its logits have a non-zero gradient with respect to."""
    out = {}
    for i, j in itertools.product(range(size), repeat=2):
        x = torch.randn(1, 1, size, size, dtype=torch.double, requires_grad=True)
        net(x)[0, :, 0, i, j].sum().backward()
        g = x.grad[0, 0]
        out[(i, j)] = {(a, b) for a, b in itertools.product(range(size), repeat=2) if g[a, b] != 0}
    return out


@pytest.mark.parametrize("kind", VARIANTS)
def test_causality_no_pixel_sees_itself_or_later_pixels(kind):
    """The gradient of pixel (i, j)'s logits w.r.t. every input pixel at or after (i, j) in raster order
    is exactly zero. The receptive field on 7x7 (a 7x7 mask-A layer or 5x5 gated layers, then more
    layers):
    - Gated PixelCNN reaches every earlier pixel.
    - Plain PixelCNN misses pixels above and to the right (its blind spot).
    - Row LSTM misses pixels above and to the right beyond its triangle (the paper's "triangular
      receptive field").
    - Diagonal BiLSTM reaches every earlier pixel but one: the last pixel of the row above is out
      of reach of a row's first 3 pixels. No layer of row i-1 sees x(i-1, W-1) (the mask-A conv and
      the mask-B LSTM inputs stop before it), so only the 7x7 conv reaches it from row i, 3 columns
      wide. This is a measured property of the paper's architecture."""
    torch.manual_seed(0)
    net = net_of(kind, (1, 7, 7), 2, hidden=8 if kind in KINDS else 4, layers=4 if kind in KINDS else 3,
                 out_hidden=8, kernel=5).double()
    field = receptive_field(net, 7)
    for (i, j), seen in field.items():
        assert all((a, b) < (i, j) for a, b in seen), ((i, j), sorted(p for p in seen if p >= (i, j)))
    unreached = {(i, j): {(a, b) for a, b in itertools.product(range(7), repeat=2) if (a, b) < (i, j)} - seen
                 for (i, j), seen in field.items()}
    if kind == "gated":
        assert not any(unreached.values())
    elif kind == "diagonal_bilstm":
        assert unreached == {(i, j): {(i - 1, 6)} if i > 0 and j < 3 else set() for i, j in field}
    else:
        blind = unreached[(6, 2)] if kind == "plain" else unreached[(6, 0)]
        assert blind and all(a < 6 and b > 2 for a, b in blind), sorted(blind)  # above and to the right


@pytest.mark.parametrize("kind", VARIANTS)
def test_colour_images_sum_to_one_over_all_binary_rgb_images(kind):
    """Three channels per pixel, each a categorical given the earlier pixels: on 2x2 RGB images with
    binary channels, the probabilities of all 2^12 images sum to 1."""
    torch.manual_seed(6)
    model = tiny_model(kind, shape=(3, 2, 2)).double()
    images = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=12)), dtype=torch.double).view(-1, 3, 2, 2)
    with torch.no_grad():
        assert model.logits(images[:1]).shape == (1, 2, 3, 2, 2)
        assert model.log_prob(images).exp().sum().item() == pytest.approx(1.0, abs=1e-9)


def ordered_model(kind: str, shape=(3, 2, 2), levels: int = 2, hidden: int = 6, layers: int = 2, lr: float = 3e-3,
                  out_hidden: int = 12):
    opt = partial(torch.optim.Adam, lr=lr)
    if kind in RNNS:
        net = partial(pixel_rnn, hidden=hidden, layers=layers, out_hidden=out_hidden)
        return PixelRNN(net, data_shape=shape, optimizer=opt, levels=levels, variant=kind, channel_order="ordered")
    net = partial(pixel_net, kind=kind, hidden=hidden, layers=layers, out_hidden=out_hidden, kernel=3)
    return PixelCNN(net, data_shape=shape, optimizer=opt, levels=levels, channel_order="ordered")


@pytest.mark.parametrize("kind", VARIANTS)
def test_ordered_channels_see_earlier_pixels_and_earlier_channels_of_their_own(kind):
    """``model.channel_order=ordered`` (the PixelRNN paper's R -> G -> B): the logits of channel c at
    pixel (i, j) have exactly zero gradient w.r.t. every channel of every later pixel and w.r.t.
    channels c, c+1, ... of pixel (i, j) itself, and a non-zero one w.r.t. its channels before c
    (G reads R, B reads R and G). Without ordering no channel of a pixel reads the pixel at all."""
    torch.manual_seed(2)
    # wide enough that some unit of every channel's features is alive somewhere in 16 random inputs;
    # hidden 10 is no multiple of 3: the gate halves still agree channel by channel
    ordered = ordered_model(kind, shape=(3, 4, 4), levels=4, hidden=10, layers=3, out_hidden=24).network.double()
    joint = tiny_model(kind, shape=(3, 4, 4), levels=4, hidden=6, layers=3).network.double()
    for net, is_ordered in ((ordered, True), (joint, False)):
        for i, j, c in itertools.product(range(4), range(4), range(3)):
            x = torch.randn(16, 3, 4, 4, dtype=torch.double, requires_grad=True)
            net(x)[:, :, c, i, j].sum().backward()
            g = x.grad.abs().sum(0)
            later = [(cc, a, b) for cc, a, b in itertools.product(range(3), range(4), range(4))
                     if (a, b) > (i, j) or ((a, b) == (i, j) and (not is_ordered or cc >= c))]
            assert all(g[p] == 0 for p in later), (kind, is_ordered, (c, i, j))
            own = g[:, i, j]
            assert (own[:c] != 0).all() if is_ordered else (own == 0).all(), (kind, is_ordered, (c, i, j), own)


@pytest.mark.parametrize("kind", VARIANTS)
def test_ordered_channels_sum_to_one_over_all_binary_rgb_images(kind):
    torch.manual_seed(7)
    model = ordered_model(kind).double()
    images = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=12)), dtype=torch.double).view(-1, 3, 2, 2)
    with torch.no_grad():
        assert model.log_prob(images).exp().sum().item() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("kind", VARIANTS)
def test_ordered_channels_learn_and_sample_colours_whose_channels_agree(kind):
    """Data: 1x1 RGB binary images that are black or white, each half the time (the channels of a
    pixel agree). Predicted together, the channels are independent given the (no) earlier pixels:
    the best such model has 3 log 2 nats and samples the 8 colours about equally. Predicted in order,
    G and B can copy R: after a short training the NLL approaches the entropy log 2, and samples
    (each channel drawn after the ones before it) are black or white."""
    torch.manual_seed(3)
    data = (torch.randint(0, 2, (256, 1, 1, 1)).double() * 2 - 1).expand(-1, 3, 1, 1)
    nll, agree = {}, {}
    for order in ("ordered", "joint"):
        model = ordered_model(kind, shape=(3, 1, 1), lr=1e-2).double()
        if order == "joint":
            model = tiny_model(kind, shape=(3, 1, 1), hidden=6).double()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(150):
            opt.zero_grad()
            (-model.log_prob(data).mean()).backward()
            opt.step()
        with torch.no_grad():
            nll[order] = -model.log_prob(data).mean().item()
            samples = model.eval().sample(2000, rng=torch.Generator().manual_seed(0))
        agree[order] = (samples[:, 0] == samples[:, 1]).logical_and(samples[:, 1] == samples[:, 2]).double().mean().item()
    assert nll["ordered"] < math.log(2) + 0.05 and nll["joint"] > 3 * math.log(2) - 0.01, nll
    assert agree["ordered"] > 0.97 and 0.15 < agree["joint"] < 0.35, agree


def test_ordered_channels_misconfigurations_are_explained():
    for model in (partial(PixelCNN, partial(pixel_net, kind="gated")), partial(PixelRNN, partial(pixel_rnn))):
        with pytest.raises(ConfigError, match="model.sampler=naive or auto"):  # the cached samplers draw all channels at once
            model(data_shape=(3, 4, 4), optimizer=None, channel_order="ordered", sampler="cached")
        assert model(data_shape=(3, 4, 4), optimizer=None, channel_order="ordered").sampler == "naive"
    from genzoo.resume import compare  # the masks are the weights' meaning: a resume may not change them

    family = "genzoo.models.PixelCNN"  # the class whose declarations say what its keys mean on resume
    assert compare({"model": {"_target_": family, "channel_order": "joint"}},
                   {"model": {"_target_": family, "channel_order": "ordered"}})[0]
    assert compare({"model": {"_target_": family, "levels": 256}},
                   {"model": {"_target_": family, "levels": 256, "channel_order": "joint"}}) == ([], [])
    with pytest.raises(ConfigError, match="choose joint"):
        PixelCNN(partial(pixel_net), data_shape=(3, 4, 4), optimizer=None, channel_order="rgb")
    # grey images have one value per pixel: nothing to order, the nets are the usual ones
    assert not PixelCNN(partial(pixel_net), data_shape=(1, 4, 4), optimizer=None, channel_order="ordered").ordered


@pytest.mark.parametrize("kind", VARIANTS)
def test_probabilities_over_all_512_binary_3x3_images_sum_to_one(kind):
    torch.manual_seed(1)
    model = tiny_model(kind).double()
    images = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=9)), dtype=torch.double).view(512, 1, 3, 3)
    with torch.no_grad():
        total = model.log_prob(images).exp().sum().item()
    assert total == pytest.approx(1.0, abs=1e-9)


def template_distribution():
    """Three 3x3 templates, each pixel flipped with probability 0.1: p(x) exactly, for all 512 images."""
    templates = torch.tensor([[1, 1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 1, 0, 0, 1, 0, 0], [1, 0, 0, 0, 1, 0, 0, 0, 1]],
                             dtype=torch.double)
    weights = torch.tensor([0.5, 0.3, 0.2], dtype=torch.double)
    images = torch.tensor(list(itertools.product([0, 1], repeat=9)), dtype=torch.double)
    flips = (images.unsqueeze(1) != templates.unsqueeze(0)).sum(-1)
    p = (weights * 0.1**flips * 0.9 ** (9 - flips)).sum(1)
    return (images * 2 - 1).view(512, 1, 3, 3), p


@pytest.mark.slow
@pytest.mark.parametrize("kind", VARIANTS)
def test_c4_maximum_likelihood_is_minimum_kl_to_the_data(kind):
    """C4: on a known distribution over 3x3 binary images, the model's held-out NLL minus the data's exact
    entropy is KL(p_data || p_model) computed by enumeration (the NLL on 20,000 held-out draws, within
    their sampling error), and training by maximum likelihood drives that KL towards 0."""
    torch.manual_seed(2)
    images, p = template_distribution()
    entropy = float(-(p * p.log()).sum())
    model = tiny_model(kind, hidden=16, layers=3 if kind in KINDS else 1).double()  # one LSTM layer: faster
    g = torch.Generator().manual_seed(0)

    def kl() -> float:
        with torch.no_grad():
            return float((p * (p.log() - model.log_prob(images))).sum())

    def draws(n: int) -> torch.Tensor:
        return images[torch.multinomial(p, n, replacement=True, generator=g)]

    held_out = draws(20_000)

    def check_reported_nll() -> None:
        with torch.no_grad():
            nll = -model.log_prob(held_out)
        spread = 4 * float(nll.std()) / math.sqrt(len(nll))
        assert float(nll.mean()) - entropy == pytest.approx(kl(), abs=spread)

    check_reported_nll()
    before = kl()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):
        loss = -model.log_prob(draws(256)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    check_reported_nll()
    assert before > 0.3 and kl() < 0.05 * before, (before, kl())


@pytest.mark.slow
def test_c20_argmax_repeats_one_image_sampling_gives_many():
    torch.manual_seed(3)
    images, p = template_distribution()
    model = tiny_model("gated", hidden=16, layers=3).double()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        batch = images[torch.multinomial(p, 256, replacement=True, generator=g)]
        loss = -model.log_prob(batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.sample_mode = "argmax"
    argmax = model.sample(64, rng=torch.Generator().manual_seed(1))
    assert len(torch.unique(argmax.view(64, -1), dim=0)) == 1
    model.sample_mode = "sample"
    sampled = model.sample(512, rng=torch.Generator().manual_seed(1))
    assert len(torch.unique(sampled.view(512, -1), dim=0)) > 20
    # and the samples follow the model: the share of the most likely template is near its probability
    top = images[p.argmax()].view(-1)
    share = (sampled.view(512, -1) == top).all(1).double().mean().item()
    with torch.no_grad():
        q_top = model.log_prob(images[p.argmax()].unsqueeze(0)).exp().item()
    assert share == pytest.approx(q_top, abs=4 * math.sqrt(q_top * (1 - q_top) / 512))


def test_sampling_uses_the_noise_it_is_given_and_completion_keeps_the_visible_rows():
    torch.manual_seed(4)
    model = tiny_model("gated", shape=(1, 6, 6), levels=4).eval()
    noise = model.draw_noise(5, torch.Generator().manual_seed(0))
    a, b = model.sample(noise=noise), model.sample(noise=noise)
    assert torch.equal(a, b) and torch.equal(a.unique(), model.to_values(torch.arange(4)))  # every level, only levels
    x = torch.rand(8, 1, 6, 6) * 2 - 1
    pics = model.pictures((x,), torch.Generator().manual_seed(0))
    assert set(pics) == {"completion_50", "completion_75"}
    grid, nrow = pics["completion_75"]
    assert nrow == 5 and grid.shape == (8 * 5, 1, 6, 6)
    rows = grid.view(8, 5, 1, 6, 6)
    assert torch.equal(rows[:, 4], x)  # the original last
    assert (rows[:, 0, :, 2:] == 0).all()  # the hidden 75% (rows 2..5 of 6) shown grey
    visible = model.to_values(model.to_levels(x[:, :, :2]))
    for c in (1, 2, 3):  # completions keep the visible rows (as levels) and fill the rest
        assert torch.equal(rows[:, c, :, :2], visible)


@pytest.mark.parametrize("variant", ["gated", *RNNS])
def test_cached_sampler_draws_exactly_the_naive_samplers_images(variant):
    """With the same uniforms, the cached sampler (states carried: the LSTM's, or the Gated PixelCNN's
    vertical stack once per row; one column per layer for each pixel) gives the naive sampler's images
    (whole net once per pixel), for samples and completions, on a non-square image; its per-pixel
    logits are the full pass's."""
    torch.manual_seed(5)
    model = tiny_model(variant, shape=(1, 5, 6), levels=4, hidden=6, layers=3).double().eval()
    noise = model.draw_noise(6, torch.Generator().manual_seed(0))
    naive = model.sample(noise=noise)
    model.sampler = "cached"
    cached = model.sample(noise=noise)
    assert torch.equal(cached, naive) and len(naive.unique()) == 4
    x = model.to_values(torch.randint(0, 4, (6, 1, 5, 6))).double()
    filled = model.complete(x, noise["u"], start_row=2)
    model.sampler = "naive"
    assert torch.equal(filled, model.complete(x, noise["u"], start_row=2)) and torch.equal(filled[:, :, :2], x[:, :, :2])
    cache = model.network.incremental(x.clone())
    full = model.network(x)[:, :, 0]
    steps = [cache.at(i, j)[:, :, 0] for i in range(5) for j in range(6)]
    assert torch.allclose(torch.stack(steps, -1), full.flatten(2), atol=1e-12, rtol=0)
    with pytest.raises(RuntimeError, match="out of raster order"):
        cache.at(0, 0)


def test_the_cached_sampler_is_refused_where_the_net_has_none():
    with pytest.raises(ConfigError, match="model.sampler=naive or auto"):
        PixelCNN(partial(pixel_net, kind="plain"), data_shape=(1, 8, 8), optimizer=None, sampler="cached")
    assert PixelCNN(partial(pixel_net, kind="plain"), data_shape=(1, 8, 8), optimizer=None).sampler == "naive"
    assert PixelCNN(partial(pixel_net, kind="gated"), data_shape=(1, 8, 8), optimizer=None).sampler == "cached"


@pytest.mark.parametrize("overrides,message", [
    (["model.levels=2"], "data.binarize=static"),
    (["model.sample_mode=greedy"], "model.sample_mode='greedy'"),
    (["net.network.kind=lstm"], "Unknown net.network.kind"),
    (["model.temperature=0"], "model.temperature=0 must be a number > 0"),
    (["model=pixelrnn", "model.variant=gru"], "Unknown model.variant='gru'"),
    (["model=pixelrnn", "model.sampler=fast"], "model.sampler='fast'"),
])
def test_pixelcnn_misconfigurations_are_explained(compose_cfg, overrides, message):
    cfg = compose_cfg(*FAST, "model=pixelcnn", *overrides)  # a later model= wins
    with pytest.raises(ConfigError, match=re.escape(message)):
        train(cfg)


# --- short runs through the spine -----------------------------------------------------------------------
def csv_last(cfg, column: str) -> float:
    header, *rows = (Path(cfg.paths.output_dir) / "csv" / "metrics.csv").read_text().splitlines()
    i = header.split(",").index(column)
    return float([r.split(",")[i] for r in rows if r.split(",")[i]][-1])


@pytest.mark.parametrize("choice,extra", [
    (["model=pixelcnn", "net.network.kind=gated"], []),
    (["model=pixelcnn", "net.network.kind=plain"], ["model.levels=2", "data.binarize=dynamic"]),
    (["model=pixelrnn", "model.variant=row_lstm"], []),
    (["model=pixelrnn", "model.variant=diagonal_bilstm"], ["model.levels=2", "data.binarize=static"]),
])
def test_autoregressive_runs_leave_samples_completions_and_held_out_nll(compose_cfg, choice, extra):
    cfg = compose_cfg(*FAST, *choice, *TINY, *extra, "trainer.max_steps=20",
                      "callbacks.held_out.every_n_steps=10", "metrics.num_samples=50", "data.size=8",
                      "callbacks.sample_grid.num_samples=16", "callbacks.sample_grid.nrow=4")
    metrics = train(cfg)
    samples = Path(cfg.paths.output_dir) / "samples"
    for name in ("last", "completion_50_last", "completion_75_last"):
        assert (samples / f"{name}.png").is_file(), name
    nll, bpd = csv_last(cfg, "nll/test"), csv_last(cfg, "bpd/test")
    levels = 2 if extra else 256
    assert 0 < nll < 64 * math.log(levels) * 1.5 and bpd == pytest.approx(nll / (64 * math.log(2)))
    assert metrics["model_step"] == 20 and "fid/classifier/50/train" in metrics


def test_ordered_rgb_run_leaves_colour_samples_completions_and_held_out_nll(compose_cfg):
    """8-bit RGB without a palette, channels in order: the run trains, samples (three net passes a
    pixel) and completes in colour, and reports bits/dim over all 3 x 64 values."""
    cfg = compose_cfg(*FAST, "model=pixelcnn", "model.channel_order=ordered", "data=colour_mnist5k", "data.size=8",
                      *TINY, "trainer.max_steps=10", "callbacks.held_out.every_n_steps=10", "metrics=none",
                      "callbacks.sample_grid.num_samples=4", "callbacks.sample_grid.nrow=2")
    metrics = train(cfg)
    from PIL import Image

    samples = Path(cfg.paths.output_dir) / "samples"
    for name in ("last", "completion_50_last"):
        image = Image.open(samples / f"{name}.png")
        assert image.mode == "RGB" and image.getextrema() != ((0, 0),) * 3, name
    nll, bpd = csv_last(cfg, "nll/test"), csv_last(cfg, "bpd/test")
    assert 0 < nll < 192 * math.log(256) and bpd == pytest.approx(nll / (192 * math.log(2)))
    assert metrics["model_step"] == 10


@pytest.mark.parametrize("choice", [["model=pixelcnn"], ["model=pixelrnn", "model.variant=diagonal_bilstm"]])
def test_autoregressive_resume_matches_uninterrupted_run(compose_cfg, choice):
    common = [*FAST, *choice, *TINY, "data.size=8", "trainer.max_steps=40", "metrics=none",
              "callbacks.model_checkpoint.every_n_steps=20", "callbacks.held_out.every_n_steps=20",
              "callbacks.sample_grid.every_n_steps=0", "callbacks.sample_grid.num_samples=4"]
    full = compose_cfg(*common, name="full")
    train(full)
    resumed = compose_cfg(*common, f"ckpt_path={Path(full.paths.output_dir) / 'checkpoints' / 'g0000020.ckpt'}",
                          name="resumed")
    train(resumed)
    load = lambda c: torch.load(Path(c.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)  # noqa: E731
    a, b = load(full), load(resumed)
    assert b["global_step"] == a["global_step"] == 40
    for name, t in a["state_dict"].items():
        assert torch.equal(t, b["state_dict"][name]), name
    assert csv_last(full, "nll/test") == csv_last(resumed, "nll/test")


@pytest.mark.parametrize("choice", [["model=pixelcnn"], ["model=pixelrnn", "model.variant=row_lstm"]])
def test_autoregressive_bf16_mixed_precision_trains(compose_cfg, choice):
    losses = {}
    for precision in ("32-true", "bf16-mixed"):
        cfg = compose_cfg(*FAST, *choice, *TINY, "data.size=8", f"trainer.precision={precision}",
                          "trainer.max_steps=1", "metrics=none", "callbacks.sample_grid.num_samples=4", name=precision)
        metrics = train(cfg)
        assert all(math.isfinite(v) for v in metrics.values()), metrics
        losses[precision] = metrics["train/nll"]
    assert losses["32-true"] != losses["bf16-mixed"]
    assert losses["bf16-mixed"] == pytest.approx(losses["32-true"], rel=0.02)


@pytest.mark.cli
@pytest.mark.ddp
@pytest.mark.full
@pytest.mark.parametrize("choice", [["model=pixelcnn"], ["model=pixelrnn", "model.variant=diagonal_bilstm"]])
def test_autoregressive_ddp_two_cpu_processes(tmp_path, choice):
    from conftest import run_cli

    r = run_cli("debug=quick", *FAST, *choice, *TINY, "data.size=8", "trainer.max_steps=6",
                "trainer.devices=2", "trainer.accelerator=cpu", "metrics.num_samples=20",
                "callbacks.sample_grid.num_samples=4", cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    (run,) = sorted((tmp_path / "outputs" / "train" / "runs").glob("*"))
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["genzoo"]["counters"]["model_step"] == 6
    header, *rows = (run / "csv" / "metrics.csv").read_text().splitlines()
    cols = header.split(",")
    last = [r.split(",") for r in rows if r.split(",")[cols.index("nll/test")]][-1]
    nll, bpd = float(last[cols.index("nll/test")]), float(last[cols.index("bpd/test")])
    assert 0 < nll < math.inf and bpd == pytest.approx(nll / (64 * math.log(2)))  # averaged over both ranks


@pytest.mark.slow
def test_c22_completions_of_hidden_digits_are_still_the_digit(compose_cfg):
    """C22 after a short run: a Gated PixelCNN trained 600 steps on 8 px digits completes the 180 held-out
    digits with their lower half hidden; the domain classifier recognises the original digit in the
    completions far above chance (0.1) and above what the visible half alone gives it (hidden rows set
    to background)."""
    from conftest import CACHE
    from genzoo.evaluation import load_run
    from genzoo.metrics import build_extractor

    cfg = compose_cfg(*FAST, "model=pixelcnn", "data.size=8", "net.network.hidden=16", "net.network.layers=4",
                      "net.network.kernel=3", "trainer.max_steps=600", "metrics=none", "model.optimizer.lr=3e-3",
                      "callbacks.held_out.every_n_steps=0", "callbacks.sample_grid.every_n_steps=0",
                      "callbacks.sample_grid.num_samples=4", f"paths.cache_dir={CACHE}")
    train(cfg)
    _, dm, model, _ = load_run(str(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"))
    clf = build_extractor("classifier", dm, CACHE)
    x, y = dm.sample_real(200, with_labels=True, split="test")
    visible = x.clone()
    visible[:, :, 4:] = -1.0
    filled = model.complete(x, torch.rand(len(x), 1, 8, 8, generator=torch.Generator().manual_seed(0)), start_row=4)
    with torch.no_grad():
        acc = lambda images: float((clf.logits(images).argmax(1) == y).float().mean())  # noqa: E731
        original, half, completed = acc(x), acc(visible), acc(filled)
    assert torch.equal(filled[:, :, :4], model.quantise(x)[:, :, :4])
    assert original > 0.9 and completed > 0.5 and completed > half + 0.1, (original, half, completed)
