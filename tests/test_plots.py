"""Pictures a person can read (issue 34): every grid at least 256 px on its short side, upscaled without
blurring, labelled where a label means something; curves on a grid of readable panels in model steps;
every family's run leaves its training curves, and its held-out curves where it has held-out metrics."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.plotting import (
    STEP,
    GridLabels,
    Panel,
    curves_figure,
    grid_figure,
    grid_pixels,
    metric_panels,
    picture_labels,
    read_grid_info,
    sample_labels,
    save_curves,
    save_grid,
    traversal_dims,
    upscale,
)

FAMILIES = ["gan", "wgan", "wgan_gp", "fgan", "cgan", "vae", "cvae", "pixelcnn", "pixelrnn", "cyclegan"]


def short_side(path) -> int:
    return min(Image.open(path).size)


def ticks(labels) -> list[str]:
    return [t.get_text() for t in labels]


# --- grids ------------------------------------------------------------------------------------------

def test_an_unlabelled_grid_is_the_torchvision_grid_upscaled_by_a_whole_factor(tmp_path):
    """16 digits of 16 px, 8 a row: torchvision's 137 x 35 grid, each pixel an 8 x 8 square (35 * 8 >= 256)."""
    from torchvision.utils import save_image

    images = torch.rand(16, 1, 16, 16) * 2 - 1
    save_image(images, tmp_path / "plain.png", nrow=8, normalize=True, value_range=(-1, 1), padding=1)
    plain = np.asarray(Image.open(tmp_path / "plain.png").convert("RGB"))
    assert plain.shape[:2] == (35, 137)
    path = save_grid(images, tmp_path / "grid.png", nrow=8)
    big = np.asarray(Image.open(path).convert("RGB"))
    assert big.shape[:2] == (35 * 8, 137 * 8) and short_side(path) >= 256
    assert np.array_equal(big, plain.repeat(8, 0).repeat(8, 1))
    assert read_grid_info(path) == {"columns": 8, "rows": 2, "cell": [16, 16], "padding": 1, "scale": 8,
                                         "row_labels": [], "column_labels": [], "row_axis": "", "column_axis": "",
                                         "title": ""}
    # a grid already large enough is not scaled
    assert upscale(np.zeros((300, 400, 3), np.uint8))[1] == 1


def test_a_labelled_grid_draws_the_upscaled_pixels_one_to_one_with_its_labels(tmp_path):
    images = torch.rand(80, 1, 16, 16) * 2 - 1
    labels = sample_labels(torch.arange(10).repeat_interleave(8), 8)
    assert list(labels.rows) == [str(c) for c in range(10)] and labels.row_axis == "class asked for"
    big, k = upscale(grid_pixels(images, 8))
    assert k == 2
    fig = grid_figure(big, k, (16, 16), labels)
    ax = fig.axes[0]
    assert ticks(ax.get_yticklabels()) == [str(c) for c in range(10)] and ax.get_ylabel() == "class asked for"
    # row i's tick sits at the centre of row i's cells (upscaled pixels)
    assert ax.get_yticks()[3] == pytest.approx(2 * (1 + 3 * 17) + 16 - 0.5)
    fig.canvas.draw()
    box = ax.get_window_extent()
    assert (round(box.width), round(box.height)) == (big.shape[1], big.shape[0])  # drawn 1:1, no resampling
    path = save_grid(images, tmp_path / "classes.png", nrow=8, labels=labels)
    assert short_side(path) >= 256 and Image.open(path).size[0] > big.shape[1]  # the labels widen it
    info = read_grid_info(path)
    assert (info["columns"], info["rows"], info["row_labels"][:2]) == (8, 10, ["0", "1"])
    # rows of mixed classes carry no class label
    assert sample_labels(torch.tensor([0, 1, 0, 1]), 2) is None and sample_labels(None, 8) is None


def test_long_column_labels_tilt_instead_of_overlapping():
    big, k = upscale(grid_pixels(torch.zeros(16, 1, 16, 16), 8))  # cells 8 x 17 = 136 px apart
    long = ["given", "a label much longer than a cell is wide", *"123456"]
    assert grid_figure(big, k, (16, 16), GridLabels(columns=long)).axes[0].get_xticklabels()[0].get_rotation() == 45
    short = grid_figure(big, k, (16, 16), GridLabels(columns=list("12345678")))
    assert short.axes[0].get_xticklabels()[0].get_rotation() == 0


def test_picture_labels_name_rows_and_columns_of_every_picture_kind():
    class Translator:
        directions = ("AtoB", "BtoA")

    x = torch.zeros(24, 1, 16, 16)
    t = picture_labels(Translator(), "translation_BtoA", x, 8)
    assert list(t.rows) == ["source B", "B->A", "back A->B"]
    c = picture_labels(None, "completion_75", torch.zeros(8 * 6, 1, 8, 8), 6)
    assert list(c.columns) == ["given", "1", "2", "3", "4", "original"] and "lower 75% hidden" in c.column_axis
    r = picture_labels(None, "reconstructions", torch.zeros(64, 1, 8, 8), 8)
    assert list(r.rows) == ["input"] * 4 + ["reconstruction"] * 4

    class Conditional:
        num_classes = 10

    s = picture_labels(Conditional(), "style_transfer", torch.zeros(88, 1, 8, 8), 11)
    assert list(s.columns) == ["input", *map(str, range(10))]
    i = picture_labels(None, "interpolations", torch.zeros(80, 1, 8, 8), 10)
    assert i.columns[0] == "0" and i.columns[-1] == "1" and len(i.rows) == 8


def test_traversal_labels_name_the_dimensions_and_quantiles_the_vae_sweeps(compose_cfg):
    """The labels' dimensions are the ones the model's own traversal moves: decoding the first code with
    only those two dimensions set to the labelled N(0, 1) quantiles gives the model's picture."""
    from conftest import fast, fit_briefly

    model, _ = fit_briefly(compose_cfg(*fast("model=vae", "model.z_dim=6")), steps=2)
    model.eval()
    torch.manual_seed(0)
    batch = (torch.rand(32, 1, 16, 16) * 2 - 1,)
    images, nrow = model.pictures(batch, torch.Generator().manual_seed(0))["traversal"]
    d0, d1 = traversal_dims(model, batch)
    labels = picture_labels(model, "traversal", images, nrow, batch)
    assert labels.row_axis == f"z[{d0}] at N(0,1) quantile" and labels.column_axis == f"z[{d1}] at N(0,1) quantile"
    assert list(labels.rows) == list(labels.columns) == ["5%", "18%", "31%", "44%", "56%", "69%", "82%", "95%"]
    def decoded(rows: int, cols: int) -> torch.Tensor:  # the first code, two dimensions swept
        with torch.no_grad():
            mu, _ = model.encode(batch[0])
            q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, 8))
            z = mu[:1].repeat(64, 1)
            z[:, rows], z[:, cols] = q.repeat_interleave(8), q.repeat(8)
            return model.mean_image(model.decode(z, None))

    assert torch.allclose(decoded(d0, d1), images, atol=1e-6)
    assert not torch.allclose(decoded(d1, d0), images, atol=1e-3)  # rows and columns are told apart
    assert not torch.allclose(images[0], images[7])  # the columns do move


# --- curves -----------------------------------------------------------------------------------------

def test_fourteen_metrics_with_raw_twins_make_seven_readable_panels_in_model_steps(tmp_path):
    names = ["fid/classifier/2k/train", "kid/classifier/2k/train", "precision/classifier/2k/train",
             "recall/classifier/2k/train", "is/classifier/2k", "effective_classes/classifier/2k",
             "conditional_accuracy/classifier/2k"]
    history = {k: [(500, 1.0), (1000, 0.5)] for n in names for k in (n, f"{n}/raw")}
    panels = metric_panels(history)
    assert [p.title for p in panels] == names and list(panels[0].lines) == ["weight average", "trained weights"]
    assert "unscaled" in panels[1].ylabel and panels[0].ylabel.startswith("FID")
    fig = curves_figure(panels)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 7 and tuple(fig.get_size_inches()) == (16.0, 6.0)  # 4 columns of 4 x 3 in
    assert {ax.get_xlabel() for ax in visible} == {STEP} and all(ax.get_ylabel() for ax in visible)
    path = save_curves(panels, tmp_path / "metrics.png")
    assert Image.open(path).size == (1600, 600)
    described = json.loads(Image.open(path).text["genzoo:panels"])
    assert [d["title"] for d in described] == names and {d["xlabel"] for d in described} == {STEP}


def test_one_metric_is_one_panel_and_its_single_point_is_visible():
    fig = curves_figure([Panel("elbo/test", "ELBO", {"elbo/test": [(4, -300.0)]})])
    (ax,) = fig.axes
    assert tuple(fig.get_size_inches()) == (4.0, 3.0) and ax.get_lines()[0].get_marker() == "o"
    assert ax.get_xlim()[0] == 0 and ax.get_xlim()[1] > 4


def test_metric_labels_say_the_quantity_and_scale():
    from genzoo.metrics.names import metric_label

    assert "unscaled" in metric_label("kid/classifier/2k/train") and "classifier" in metric_label("kid/classifier/2k/train")
    assert metric_label("nll_k5000/test") == "NLL, nats per image (lower is better), k = 5000"
    assert metric_label("bpd/test").startswith("bits per dimension")
    assert metric_label("train/bpd").startswith("bits per dimension") and metric_label("loss/g") == "loss of g"
    assert metric_label("fid/inception/50k/train/raw").endswith("trained weights")
    assert metric_label("toy2d/1k/modes_covered") == "modes covered" and metric_label("unknown/x") == "unknown/x"


# --- other plots ------------------------------------------------------------------------------------

def test_toy2d_scatter_keeps_far_samples_in_view_and_the_legend_off_the_data(tmp_path):
    from genzoo.callbacks.images import save_scatter, scatter_figure

    real = torch.randn(500, 2)
    samples = torch.cat([torch.randn(100, 2), torch.tensor([[8.0, -9.0], [1e6, 0.0]])])
    fig = scatter_figure(samples, real, "model step 3")
    ax = fig.axes[0]
    assert ax.get_xlim()[1] > 9 and ax.get_ylim()[0] < -9  # the far sample is in view
    assert "1 of 102 samples outside the view" in ax.get_title()  # the one 1e6 away is counted
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")
    fig.canvas.draw()
    (legend,) = fig.legends
    assert not legend.get_window_extent().overlaps(ax.get_window_extent())
    path = save_scatter(samples, real, tmp_path / "s.png", title="model step 3")
    assert short_side(path) >= 256


def test_critic_plots_label_their_axes_in_whole_layers_and_model_steps():
    from genzoo.callbacks.critic import axes_text, grad_norms_figure, weights_figure

    fig = weights_figure(torch.randn(1000) * 0.01, 50, clip=0.01)
    text = axes_text(fig)
    assert (text["xlabel"], text["ylabel"]) == ("weight value", "number of weights")
    assert "model step 50" in text["title"] and "0.01" in text["title"]
    fig = grad_norms_figure([(50, [1.0, 0.5, 0.2]), (100, [2.0, 0.4, 0.1])])
    fig.canvas.draw()
    ax = fig.axes[0]
    shown = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert shown and all(float(t).is_integer() for t in shown)
    assert axes_text(fig)["legend"] == ["model step 50", "model step 100"] and axes_text(fig)["xlabel"].startswith("critic layer")


# --- real runs --------------------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_leaves_readable_labelled_pictures_and_its_curves(tiny_run, family):
    """A tiny run of each family (4 model steps, 100-sample metrics): samples and the family's pictures
    at least 256 px on the short side, labelled where labels mean something; plots/losses.png with the
    family's training curves; plots/metrics.png with its sample metrics and, where it has them, its
    held-out metrics, every panel in model steps."""
    from genzoo.evaluation import load_run

    run = tiny_run(family)
    _, _, model, _ = load_run(str(run.ckpt))
    samples, plots = run.dir / "samples", run.dir / "plots"
    assert short_side(samples / "last.png") >= 256
    info = read_grid_info(samples / "last.png")
    if model.condition == "label":
        assert info["row_labels"] == [str(c) for c in range(model.num_classes)]
    for name in model.picture_names:
        path = samples / f"{name}_last.png"
        pic = read_grid_info(path)
        assert short_side(path) >= 256 and (pic["row_labels"] or pic["column_labels"]), name
        if name.startswith("translation_"):
            a, b = name[-4], name[-1]
            assert pic["row_labels"] == [f"source {a}", f"{a}->{b}", f"back {b}->{a}"]
    losses = json.loads(Image.open(plots / "losses.png").text["genzoo:panels"])
    assert losses and {p["xlabel"] for p in losses} == {STEP}
    prefix = "train/" if family in ("vae", "cvae", "pixelcnn", "pixelrnn") else "loss/"
    assert all(p["title"].startswith(prefix) for p in losses)
    metrics = json.loads(Image.open(plots / "metrics.png").text["genzoo:panels"])
    titles = [p["title"] for p in metrics]
    assert any(t.startswith("fid/classifier/100") for t in titles)
    held_out = {re.sub(r"_k\d+$", "", t.rsplit("/test", 1)[0]) for t in titles if t.endswith("/test")}
    for name in model.held_out_metric_names:  # a VAE's k differs outside a run: nll_k<k>
        assert re.sub(r"_k\d+$", "", name) in held_out, name
    cols = min(4, len(metrics))
    assert Image.open(plots / "metrics.png").size == (400 * cols, 300 * math.ceil(len(metrics) / cols))


def test_the_model_summary_has_no_flops_column_of_zeros(compose_cfg, caplog):
    """Lightning counts FLOPs only through an example input, which no family has: the column read 0."""
    import logging

    import pytorch_lightning as pl

    from conftest import fast
    from genzoo.callbacks.summary import ModelSummary
    from genzoo.training import build_datamodule, build_model

    cfg = compose_cfg(*fast())
    dm = build_datamodule(cfg)
    model = build_model(cfg, dm)
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, callbacks=[ModelSummary()])
    assert [type(cb) for cb in trainer.callbacks if isinstance(cb, pl.callbacks.ModelSummary)] == [ModelSummary]
    with caplog.at_level(logging.INFO, logger="pytorch_lightning.callbacks.model_summary"):
        trainer.fit(model, datamodule=dm)
    (text,) = [r.getMessage() for r in caplog.records if "Total params" in r.getMessage()]
    assert "FLOPs" not in text and "Flops" not in text
    assert "generator" in text and "discriminator" in text and "Trainable params" in text
