"""The family contract (``GenerativeModule``): every callback and CLI reaches a family only through it.

Each existing family is trained for a few steps and then driven through the sample grid, the sample
metrics, the eval path and the sample path, checking pictures and numbers. Two stand-in families
(an image translator with no latent, and one with held-out metrics) show that the same code serves
the shapes of the families still to come (CycleGAN, PixelRNN, VAE) without a special case.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn
from PIL import Image

from genzoo.data import Digits
from genzoo.errors import ConfigError
from genzoo.models.base import GenerativeModule
from genzoo.sampling import draw_share, grid_inputs, interpolation_noise, random_grid

FAMILIES = ["gan", "wgan", "wgan_gp", "fgan", "cgan", "vae", "cvae", "pixelcnn", "pixelrnn", "cyclegan"]


@pytest.fixture(scope="module")
def trained(tiny_run):
    """family -> (config, metrics) of its tiny run (4 model steps, 100-sample metrics at the end),
    trained on first use once per session."""
    class Runs:
        def __getitem__(self, family):
            run = tiny_run(family)
            return run.cfg, run.metrics

    return Runs()


def cells(path) -> tuple[int, int, list[int]]:
    """A saved grid's columns, rows and cell size (``genzoo.plotting.save_grid`` writes them into the PNG)."""
    from genzoo.plotting import read_grid_info

    info = read_grid_info(path)
    return info["columns"], info["rows"], info["cell"]


def load(cfg):
    from genzoo.evaluation import load_run

    return load_run(str(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"))


@pytest.mark.parametrize("family", FAMILIES)
def test_grid_is_redrawn_identically_from_the_contract(trained, family, tmp_path):
    """sample.py's fixed grid is the training run's last grid, pixel for pixel: the grid inputs come
    from the family's draw_noise with a private seed, whatever the family."""
    from genzoo.callbacks import save_samples

    cfg, _ = trained[family]
    _, dm, model, _ = load(cfg)
    grid = grid_inputs(model, cfg.callbacks.sample_grid.num_samples, cfg.callbacks.sample_grid.nrow, datamodule=dm)
    again = save_samples(grid.sample(model), tmp_path / "again.png", grid.nrow, dm, labels=grid.y)  # class rows
    last = Path(cfg.paths.output_dir) / "samples" / "last.png"
    assert Image.open(again).tobytes() == Image.open(last).tobytes()
    rows = 10 if model.condition == "label" else 8
    assert cells(last) == (8, rows, [16, 16]) and min(Image.open(last).size) >= 256  # upscaled, never below 256 px


@pytest.mark.parametrize("family", FAMILIES)
def test_sample_cli_redraws_the_training_grid_and_interpolates(trained, family, tmp_path):
    """sample.py's own code (in process): fixed.png is the run's last grid; interpolation.png has
    pairs x steps cells where the family has a latent (the adversarial ones, the VAE; not PixelCNN); the
    family's own pictures are redrawn too."""
    import sample as sample_cli
    from genzoo.training import compose_config

    cfg, _ = trained[family]
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    scfg = compose_config([f"ckpt_path={ckpt}", "interpolation.pairs=3", "interpolation.steps=5"], tmp_path,
                          config_name="sample")
    sample_cli.draw(scfg)
    last = Path(cfg.paths.output_dir) / "samples" / "last.png"
    assert Image.open(tmp_path / "fixed.png").tobytes() == Image.open(last).tobytes()
    _, _, model, _ = load(cfg)
    if model.latent_key is None:  # PixelCNN: nothing to interpolate
        assert not (tmp_path / "interpolation.png").exists()
    else:
        assert cells(tmp_path / "interpolation.png") == (5, 3, [16, 16])
    for name in model.picture_names:
        assert (tmp_path / f"{name}.png").is_file(), name


@pytest.mark.parametrize("family", ["vae", "cvae"])
def test_eval_path_reproduces_the_training_held_out_bounds(trained, family):
    """eval's held-out path, asked for the k the run used in training, gives the numbers the run logged
    at its end, with another batch size and split over two ranks too (each example's codes come from a
    private seed of its own); eval's own default k is 5,000."""
    from genzoo.metrics.held_out import held_out_average

    cfg, logged = trained[family]
    _, dm, model, _ = load(cfg)
    k = cfg.model.iw_samples_train
    assert model.importance_samples == cfg.model.iw_samples == 5000  # outside training: the evaluation k
    model.iw_samples = k
    again = held_out_average(model, dm, 64)  # the run used batches of cfg.callbacks.held_out.batch_size (256)
    assert cfg.callbacks.held_out.batch_size != 64
    assert set(again) == {"elbo/test", "recon/test", "kl/test", f"nll_k{k}/test", f"ess_k{k}/test"}
    for name, v in again.items():
        assert v == pytest.approx(logged[name], rel=1e-6), name
    n = len(dm.dataset("test"))
    shares = [(held_out_average(model, dm, 32, world=2, rank=r), len(range(r, n, 2))) for r in (0, 1)]
    for name, v in again.items():
        assert sum(m[name] * c for m, c in shares) / n == pytest.approx(v, rel=1e-6), name


@pytest.mark.parametrize("family", FAMILIES)
def test_eval_path_reproduces_the_training_metrics(trained, family):
    """eval's score() with the callback's seed gives the very numbers the run logged at its end."""
    from genzoo.evaluation import score

    cfg, logged = trained[family]
    _, dm, model, _ = load(cfg)
    again = score(model, dm, cfg.metrics, seed=cfg.metrics.seed)
    # a translator is scored per direction, on as many held-out sources as there are (at most 100)
    fids = ["fid/classifier/100/train"] if model.condition != "image" else [
        "fid/classifier/100/test/AtoB", "fid/classifier/100/test/BtoA"]
    assert again.keys() <= logged.keys() and set(fids) <= again.keys()
    for k, v in again.items():
        assert v == pytest.approx(logged[k], rel=1e-5, abs=1e-8), k
    if model.condition == "image":  # a translation is a function of its source: no draw to vary
        return
    # and a different draw gives different numbers (the seed is really used)
    other = score(model, dm, cfg.metrics, seed=cfg.metrics.seed + 1)
    assert other[fids[0]] != again[fids[0]]


@pytest.mark.parametrize("family", ["gan", "cgan"])
def test_samples_come_from_the_averaged_weights_and_the_private_generator(trained, family):
    cfg, _ = trained[family]
    _, dm, model, _ = load(cfg)
    state = torch.get_rng_state()
    a = model.sample(16, rng=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), state)  # the training RNG is untouched
    b = model.sample(16, rng=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    raw = model.sample(16, rng=torch.Generator().manual_seed(3), ema=False)
    assert not torch.equal(a, raw)  # ema=True (the default) samples the averaged generator
    assert a.shape == (16, *model.data_shape) and a.min() >= -1 and a.max() <= 1


def test_label_conditioned_sampling_asks_every_class_equally_over_ranks(trained):
    cfg, _ = trained["cgan"]
    _, dm, model, _ = load(cfg)
    shares = [draw_share(model, 100, seed=5, world=2, rank=r, datamodule=dm) for r in (0, 1)]
    labels = torch.cat([y for _, y in shares])
    assert torch.equal(torch.bincount(labels, minlength=10), torch.full((10,), 10))
    with pytest.raises(ConfigError, match="not class-conditional"):
        load(trained["gan"][0])[2].sample(4, y=torch.zeros(4, dtype=torch.long))


def test_interpolation_walks_the_latent_only(trained):
    cfg, _ = trained["cgan"]
    _, _, model, _ = load(cfg)
    noise = interpolation_noise(model, pairs=3, steps=5, mode="linear", rng=torch.Generator().manual_seed(0))
    z = noise["z"].view(3, 5, -1)
    mid = (z[:, 0] + z[:, 4]) / 2
    assert torch.allclose(z[:, 2], mid, atol=1e-6)  # linear: the middle step is the midpoint


# --- stand-in families: the contract serves shapes the adversarial family does not have -----------

class Translator(GenerativeModule):
    """Image-conditioned, no latent (CycleGAN's shape): a sample is the negated source image."""

    name = "translator"
    condition = "image"

    def __init__(self, data_shape=(1, 16, 16)) -> None:
        super().__init__()
        self.data_shape = tuple(data_shape)
        self.w = nn.Parameter(torch.ones(()))

    def draw_noise(self, n, rng=None):
        return {}

    def sample_given(self, noise, y=None, source=None, ema=True):
        return -source * self.w


class Scored(GenerativeModule):
    """No sampling; a held-out metric with a closed form: the per-example mean of x^2 (and of x)."""

    name = "scored"
    held_out_metric_names = ("mean_sq", "mean")

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def held_out_metrics(self, batch):
        x = batch[0].flatten(1)
        return {"mean_sq": (x * self.w).pow(2).mean(1), "mean": x.mean(1)}


def test_image_conditioned_family_translates_held_out_sources_in_a_fixed_order():
    dm = Digits(batch_size=16)
    model = Translator()
    grid = grid_inputs(model, num_samples=12, datamodule=dm)
    held_out = dm.sample_real(12, split="test")
    assert torch.equal(grid.source, held_out) and grid.y is None and grid.noise == {}
    assert torch.equal(grid.sample(model), -held_out)
    # two ranks translate consecutive, different held-out images
    (a, _), (b, _) = (draw_share(model, 10, 0, world=2, rank=r, datamodule=dm) for r in (0, 1))
    assert torch.equal(torch.cat([a, b]), -dm.sample_real(10, split="test"))
    assert torch.equal(random_grid(model, 4, torch.Generator(), 2, datamodule=dm).source, held_out[:4])
    with pytest.raises(ConfigError, match="no latent to interpolate"):
        interpolation_noise(model, 2, 3)
    with pytest.raises(ConfigError, match="give it source images"):
        model.sample(4)


def test_held_out_average_is_exact_over_batches_and_ranks():
    from genzoo.metrics.held_out import held_out_average

    dm = Digits(batch_size=16)
    x = dm.dataset("test").x.flatten(1).float()
    by_hand = {"mean_sq/test": float(x.pow(2).mean(1).mean()), "mean/test": float(x.mean(1).mean())}
    one = held_out_average(Scored(), dm, batch_size=7)
    assert one == pytest.approx(by_hand, rel=1e-6)  # float32 per-example values
    # two ranks, odd batch size: each sums its share; the sums are added, then divided
    parts = []
    held_out_average(Scored(), dm, batch_size=5, world=2, rank=0, all_reduce=lambda t: parts.append(t) or t)
    held_out_average(Scored(), dm, batch_size=5, world=2, rank=1, all_reduce=lambda t: parts.append(t) or t)
    total = parts[0] + parts[1]
    # float32 per-example values
    assert int(total[1, 0]) == len(x) and float(total[0, 0] / total[1, 0]) == pytest.approx(by_hand["mean_sq/test"], rel=1e-6)
    # the first n examples only: the name says so
    assert set(held_out_average(Scored(), dm, max_examples=20)) == {"mean_sq/test/20", "mean/test/20"}
    assert held_out_average(Translator(), dm) == {}  # nothing to compute, nothing read


def test_held_out_metrics_callback_logs_the_family_average(tmp_path):
    """The callback fires on the cadence rule and logs through the loggers (a family with metrics);
    for GANs it computes nothing (the adversarial runs above log no held-out key)."""
    import pytorch_lightning as pl

    from genzoo.callbacks import HeldOutMetrics

    class Fit(Scored):
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.0)

        def training_step(self, batch, batch_idx):
            opt = self.optimizers()
            opt.zero_grad()
            self.manual_backward(self.w * 0.0)
            opt.step()  # one optimiser step per model step (Lightning's max_steps counts these)
            self.model_step += 1

    dm = Digits(batch_size=64)
    cb = HeldOutMetrics(every_n_steps=2, batch_size=50)
    trainer = pl.Trainer(max_steps=5, logger=pl.loggers.CSVLogger(tmp_path, name="csv", version=""), callbacks=[cb],
                         enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(Fit(), datamodule=dm)
    assert [g for g, _ in cb.history] == [2, 4, 5]  # every 2 model steps and at the end
    x = dm.dataset("test").x.flatten(1).float()
    assert cb.history[-1][1]["mean_sq/test"] == pytest.approx(float(x.pow(2).mean()), rel=1e-6)  # float32 per-example values
    text = (tmp_path / "csv" / "metrics.csv").read_text()
    assert "mean_sq/test" in text.splitlines()[0]


@pytest.mark.parametrize("family", ["pixelcnn", "pixelrnn", "cyclegan"])
def test_eval_path_reproduces_every_familys_held_out_metrics(trained, family):
    """The held-out numbers a run logged at its end are what eval's path computes again, with another
    batch size (the likelihood families' NLL and bits/dim, the translator's cycle error)."""
    from genzoo.metrics.held_out import held_out_average

    cfg, logged = trained[family]
    _, dm, model, _ = load(cfg)
    again = held_out_average(model, dm, 37)
    assert again and {f"{name}/test" for name in model.held_out_metric_names} <= set(again)
    for name, v in again.items():
        assert v == pytest.approx(logged[name], rel=1e-5), name


def test_the_translators_held_out_metric_is_the_cycle_error_by_hand(trained):
    """cycle_l1/<direction>/test = mean over the held-out source images of mean |G_back(G_there(x)) - x|."""
    from genzoo.sampling import source_count, source_images

    cfg, logged = trained["cyclegan"]
    _, dm, model, _ = load(cfg)
    model.eval()
    for there, back in (("AtoB", "BtoA"), ("BtoA", "AtoB")):
        x, _ = source_images(model, dm, there, source_count(model, dm, there))
        with torch.no_grad():
            cycled = model.translator(back)(model.translator(there)(x))
        assert logged[f"cycle_l1/{there}/test"] == pytest.approx(float((cycled - x).abs().mean()), rel=1e-5), there


def test_an_unconditional_metric_draw_is_the_familys_own_sample_from_a_seed_per_rank(trained):
    """draw_share for an unconditional family: no labels, and rank r's samples are exactly the family's
    samples from noise drawn with seed + r (the same numbers whatever process computes them)."""
    _, _, model, _ = load(trained["gan"][0])
    model.eval()
    for rank, world, n in ((0, 1, 10), (1, 2, 5)):
        s, y = draw_share(model, 10, seed=5, world=world, rank=rank)
        noise = model.draw_noise(n, torch.Generator().manual_seed(5 + rank))
        with torch.no_grad():
            assert y is None and torch.equal(s, model.sample(noise=noise).float())
