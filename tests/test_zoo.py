"""benchmarks/zoo.py reads each family's run on one scale: steps and parameters from the checkpoint, the
final sample metrics and held-out likelihoods from its CSV (the averaged weights' numbers where it keeps
a weight average), one table row per family."""

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import zoo  # noqa: E402


@pytest.mark.parametrize("family", ["gan", "pixelcnn"])
def test_a_run_is_summarised_from_its_checkpoint_and_csv(tiny_run, family):
    from genzoo.evaluation import load_run

    run = tiny_run(family)
    row = zoo.summarise(family, run.dir, seconds=8)
    assert row["steps"] == 4 and row["steps_per_s"] == 0.5
    _, _, model, _ = load_run(str(run.ckpt))
    assert row["params"] == sum(p.numel() for name, p in model.named_parameters() if not name.startswith("ema."))
    logged = {k: v for k, v in run.metrics.items() if not k.endswith("/raw")}
    assert row["metrics"]["fid/classifier/100/train"] == pytest.approx(logged["fid/classifier/100/train"], rel=1e-6)
    if family == "pixelcnn":  # a likelihood family: its held-out NLL and bits/dim, as logged
        assert row["metrics"]["nll/test"] == pytest.approx(logged["nll/test"], rel=1e-6)
        assert row["metrics"]["bpd/test"] == pytest.approx(logged["bpd/test"], rel=1e-6)
    else:  # GANs: no likelihood, and the trained weights' (raw) numbers are not the row's
        assert not any(k.startswith(("nll", "bpd")) or k.endswith("/raw") for k in row["metrics"])


@pytest.mark.parametrize("family", ["wgan_gp", "cvae", "cyclegan"])
def test_each_run_is_looked_at_from_its_checkpoint_with_a_fixed_draw(tiny_run, family, tmp_path):
    import torch

    run = tiny_run(family)
    seen = zoo.look(run.dir, n=64)
    again = zoo.look(run.dir, n=64)
    assert seen["first"].shape[0] == 8 and torch.equal(seen["first"], again["first"])  # a fixed seed: the same row
    assert seen["lattice"] > 0 and seen["lattice"] == again["lattice"]
    zoo.figure([{"family": family, "first": seen["first"]}, {"family": "gan", "failed": "boom"}], tmp_path / "zoo.png")
    from PIL import Image

    assert min(Image.open(tmp_path / "zoo.png").size) >= 64


def test_the_table_has_a_row_per_family_and_says_what_failed():
    import argparse

    args = argparse.Namespace(seconds=60, jobs=2, data="mnist5k", size=16, seed=0, samples=100)
    rows = [{"family": "vae", "steps": 120, "steps_per_s": 2.0, "params": 1234,
             "metrics": {"fid/classifier/100/test": 12.34, "nll_k100/test": 99.5, "effective_classes/classifier/100": 9.1},
             "lattice": 1.234},
            {"family": "gan", "failed": "Traceback...\nRuntimeError: boom"}]
    text = zoo.table(rows, args, (1.0, 2.0))
    vae, gan = (line for line in text.splitlines() if line.startswith(("| vae", "| gan")))
    cells = [c.strip() for c in vae.split("|")[1:-1]]
    assert cells[:5] == ["vae", "120", "2.00", "1,234", "12.3"] and cells[8] == "9.10" and cells[10] == "99.5"
    assert cells[12] == "1.23"
    assert "failed: RuntimeError: boom" in gan and "load average 1.0 at the start, 2.0 at the end" in text
