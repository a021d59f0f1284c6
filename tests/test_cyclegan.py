"""CycleGAN (C19): the nets at the reference's sizes, the loss, the image pool, the schedule, unpaired
data in the reference layout, one pass per generator per step, exact resume, bf16, DDP, the sample
CLI's folder translation, and the claim itself on the embedded digits."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import fast, run_cli
from genzoo.errors import ConfigError, GenzooError
from genzoo.losses import LSGAN
from genzoo.models.cyclegan import ImagePool, lr_factor
from genzoo.nets.cyclegan import CycleGenerator, PatchDiscriminator, receptive_field
from genzoo.plotting import read_grid_info
from genzoo.training import build_datamodule, build_model, train

SMALL = ["net.generator.width=4", "net.discriminator.width=4", "model.pool_size=3"]


def cyc(*overrides: str) -> list[str]:
    """model=cyclegan on the embedded digit pair, unless the overrides choose its data."""
    data = [] if any(o.startswith(("data=", "experiment=")) for o in overrides) else ["data=unpaired_digits"]
    return fast("model=cyclegan", *data, *SMALL, *overrides)


def make_tree(root: Path, sizes=None, px: int = 20) -> Path:
    """The reference layout (trainA/ trainB/ testA/ testB/) with small random RGB images: A reddish
    squares, B bluish stripes, and one corrupt file that must be skipped."""
    rng = np.random.default_rng(0)
    sizes = sizes or {"trainA": 6, "trainB": 9, "testA": 3, "testB": 4}
    for folder, n in sizes.items():
        (root / folder).mkdir(parents=True)
        for i in range(n):
            img = rng.integers(0, 255, (px, px, 3), dtype=np.uint8)
            img[..., 0 if folder.endswith("A") else 2] = 230
            Image.fromarray(img).save(root / folder / f"{i:03d}.png")
    (root / "trainA" / "broken.jpg").write_bytes(b"not an image")
    return root


# --- maths and parts -----------------------------------------------------------------------------------
def test_least_squares_loss_against_hand_values():
    loss = LSGAN()
    real, fake = torch.tensor([1.0, 0.0, 3.0]), torch.tensor([0.0, 1.0])
    # D: mean((r - 1)^2) + mean(f^2) = (0 + 1 + 4) / 3 + (0 + 1) / 2;  G: mean((f - 1)^2) = (1 + 0) / 2
    assert loss.d_loss(real, fake).item() == pytest.approx(5 / 3 + 1 / 2)
    assert loss.g_loss(fake).item() == pytest.approx(0.5)


def test_nets_have_the_reference_sizes_at_256_px_and_adapt_to_small_images():
    g, d = CycleGenerator((3, 256, 256)), PatchDiscriminator((3, 256, 256))
    # resnet_9blocks and the 3-layer PatchGAN of the reference, parameter for parameter
    assert sum(p.numel() for p in g.parameters()) == 11_378_179 and g.blocks == 9
    assert sum(p.numel() for p in d.parameters()) == 2_764_737 and receptive_field(d) == 70
    assert d(torch.zeros(1, 3, 256, 256)).shape == (1, 1, 30, 30)
    assert CycleGenerator((3, 128, 128), width=4).blocks == 6
    for size, layers in ((16, 1), (32, 2), (64, 3)):
        g, d = CycleGenerator((1, size, size), width=4), PatchDiscriminator((1, size, size), width=4)
        x = torch.zeros(2, 1, size, size)
        assert g(x).shape == x.shape and d.layers == layers and d(x).shape[-1] >= 2
    with pytest.raises(ConfigError, match="does not fit 16 px"):
        PatchDiscriminator((1, 16, 16), layers=3)


def test_image_pool_returns_fresh_or_stored_fakes_and_keeps_every_image():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first) and pool.count == 4  # filling: the images themselves
    held = set(pool.images.flatten().tolist())
    swapped = 0
    for step in range(200):
        new = torch.tensor([100.0 + step]).view(1, 1, 1, 1)
        out = float(pool.query(new))
        after = set(pool.images.flatten().tolist())
        if out == new.item():  # kept: the pool is unchanged
            assert after == held
        else:  # swapped: a stored image came out and the new one took its place
            swapped += 1
            assert out in held and after == (held - {out}) | {new.item()}
        held = after
    assert 0.4 < swapped / 200 < 0.6  # probability 1/2
    assert torch.equal(ImagePool(0).query(first), first)
    with pytest.raises(ConfigError, match="pool_size"):
        ImagePool(-1)


def test_the_batched_pool_is_the_reference_loop_image_by_image():
    """The pool decides a batch at once, with tensor operations (no host read per image); with the same
    draws it returns and keeps exactly what the reference's loop over the batch does, also when the pool
    fills in the middle of a batch and when images of one batch draw the same slot."""
    torch.manual_seed(1)
    collided = filled_mid_batch = False
    for size, batches in ((3, [2, 4, 5, 1, 6, 6]), (5, [7, 3, 8, 8])):
        pool, ref, count = ImagePool(size), torch.zeros(size, 1, 2, 2), 0
        for n in batches:
            x = torch.randn(n, 1, 2, 2)
            rng = torch.get_rng_state()
            out = pool.query(x)
            torch.set_rng_state(rng)
            swap, slot = torch.rand(n) > 0.5, torch.randint(size, (n,))  # the draws query made (same generator)
            expected = x.clone()
            filled_mid_batch |= 0 < size - count < n
            collided |= len(set(slot[swap].tolist())) < int(swap.sum()) and count == size
            for i in range(n):  # the reference's ImagePool.query
                if count < size:
                    ref[count] = x[i]
                    count += 1
                elif swap[i]:
                    expected[i] = ref[slot[i]].clone()
                    ref[slot[i]] = x[i]
            assert torch.equal(out, expected) and torch.equal(pool.images, ref) and pool.count == count
    assert collided and filled_mid_batch


def test_learning_rate_is_constant_then_falls_linearly_to_zero():
    rates = [lr_factor(e, 100, 100) for e in range(202)]
    assert rates[:100] == [1.0] * 100
    assert rates[100] == pytest.approx(1 - 1 / 101) and rates[199] == pytest.approx(1 / 101)
    assert rates[200] == rates[201] == 0.0
    assert all(a > b for a, b in zip(rates[99:200], rates[100:201]))


def test_an_epoch_is_the_larger_domain_with_the_smaller_cycled_and_b_drawn_at_random(tmp_path):
    from genzoo.data.unpaired import PairSampler, UnpairedPairs

    a = torch.utils.data.TensorDataset(torch.arange(3.0))
    b = torch.utils.data.TensorDataset(torch.arange(5.0))
    ds = UnpairedPairs(a, b)
    assert len(ds) == 5
    sampler = PairSampler(ds, batch_size=1)
    epoch0 = list(sampler)
    pairs = [(c // 5, c % 5) for c in epoch0]
    assert sorted(i for i, _ in pairs) == [0, 0, 1, 1, 2]  # every A image, the shorter domain cycled
    assert epoch0 == list(PairSampler(ds, batch_size=1))  # a function of (seed, epoch): resumable
    sampler.set_epoch(1)
    assert list(sampler) != epoch0
    # two ranks share one epoch's items between them
    shards = [list(PairSampler(ds, batch_size=1, num_replicas=2, rank=r)) for r in (0, 1)]
    assert sorted(shards[0] + shards[1]) == sorted(epoch0[:4])


# --- the training step -----------------------------------------------------------------------------------
def test_one_step_runs_each_generator_pass_once_and_both_updates(compose_cfg):
    """G_AB runs on a (fake B), on fake A (the B cycle) and on b (identity); G_BA likewise: three calls
    each per step, none recomputed for the critics' update, which reuses the fakes."""
    cfg = compose_cfg(*cyc("trainer.max_steps=1"))
    dm = build_datamodule(cfg)
    model = build_model(cfg, dm)
    calls = {"g_ab": 0, "g_ba": 0}
    for name in calls:
        getattr(model, name).register_forward_hook(lambda *_, n=name: calls.__setitem__(n, calls[n] + 1))
    import pytorch_lightning as pl

    before = {k: v.clone() for k, v in model.state_dict().items()}
    pl.Trainer(max_steps=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False).fit(model, datamodule=dm)
    assert calls == {"g_ab": 3, "g_ba": 3}
    assert model.model_step == 1
    for prefix in ("g_ab", "g_ba", "d_a", "d_b"):  # one optimiser over both generators, one over both critics
        assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items() if k.startswith(prefix)), prefix


@pytest.mark.parametrize("overrides,message", [
    (["data=digits"], "model=cyclegan trains on two unpaired image domains, but data=digits holds images. Use "
                      "experiment=cyclegan_digits"),
    (["loss=wasserstein"], "does not train with loss=wasserstein"),
    (["model.lambda_a=-1"], "model.lambda_a=-1"),
])
def test_misconfigurations_are_explained(compose_cfg, overrides, message):
    cfg = compose_cfg(*cyc("trainer.max_steps=1", *overrides))
    with pytest.raises(GenzooError, match=message):
        train(cfg)


# --- data in the reference layout, the recipe, sample.py --------------------------------------------------
@pytest.mark.cli
@pytest.mark.full
def test_horse2zebra_recipe_runs_on_a_tree_in_the_reference_layout_and_sample_translates_a_folder(tmp_path):
    """The recipe composes as the reference runs it (256 px, 286 px loads, flips, batch 1) and trains a
    few steps here at 16 px on a tiny tree (a corrupt file skipped); sample.py then translates a folder."""
    from genzoo.training import compose_config

    tree = make_tree(tmp_path / "h2z")
    recipe = compose_config(["experiment=cyclegan_horse2zebra", f"data.root={tree}"], tmp_path / "composed")
    assert (recipe.data.size, recipe.data.load_size, recipe.data.batch_size, recipe.data.flip) == (256, 286, 1, True)
    assert recipe.trainer.max_steps == 200 * 1334 and recipe.model.pool_size == 50
    r = run_cli("experiment=cyclegan_horse2zebra", f"data.root={tree}", "data.size=16", "data.load_size=18",
                "data.num_workers=0", "trainer.max_steps=3", "metrics=none", "logger=csv", "net.generator.width=4",
                "net.discriminator.width=4", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
                "hydra.run.dir=run", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Skipped 1 unreadable image file" in r.stderr
    run = tmp_path / "run"
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["genzoo"]["counters"]["model_step"] == 3 and ckpt["global_step"] == 6
    for direction, held_out in (("AtoB", 3), ("BtoA", 4)):  # testA has 3 images, testB 4
        info = read_grid_info(run / "samples" / f"translation_{direction}_last.png")
        assert (info["columns"], info["rows"]) == (held_out, 3)  # rows: sources, translations, cycles
        assert info["row_labels"][1] == f"{direction[0]}->{direction[-1]}"
    held = [row for row in csv.DictReader(open(run / "csv" / "metrics.csv")) if row.get("cycle_l1/AtoB/test")]
    assert held and all(math.isfinite(float(held[-1][f"cycle_l1/{d}/test"])) for d in ("AtoB", "BtoA"))

    import subprocess
    import sys

    from conftest import ROOT

    out = subprocess.run([sys.executable, str(ROOT / "src" / "sample.py"), f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
                          f"input_dir={tree / 'testB'}", "direction=BtoA", "hydra.run.dir=sampled", "device=cpu"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    translated = sorted((tmp_path / "sampled" / "translated_BtoA").glob("*.png"))
    assert [p.name for p in translated] == [f"{i:03d}.png" for i in range(4)]
    assert Image.open(translated[0]).size == (16, 16)
    assert (tmp_path / "sampled" / "translated_BtoA.png").is_file()
    bad = subprocess.run([sys.executable, str(ROOT / "src" / "sample.py"), f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
                          "direction=AtoC", "hydra.run.dir=bad"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "AtoB and BtoA" in bad.stderr + bad.stdout


def test_two_folders_and_missing_folders(tmp_path, compose_cfg):
    tree = make_tree(tmp_path / "t", {"trainA": 10, "trainB": 10})
    cfg = compose_cfg(*cyc("data=unpaired", f"data.root_a={tree / 'trainA'}", f"data.root_b={tree / 'trainB'}",
                           "data.size=16", "data.num_workers=0"))
    dm = build_datamodule(cfg)
    assert len(dm.domain("A").dataset("test")) == 1 and len(dm.domain("B").dataset("train")) == 9  # 10% held out
    a, b = dm.sample_real(2, split="test")
    assert a.shape == (1, 3, 16, 16) and b.shape == (1, 3, 16, 16)
    from genzoo.errors import DatasetNotFoundError

    with pytest.raises(ConfigError, match="data.root=DIR"):
        build_datamodule(compose_cfg(*cyc("data=unpaired")))
    with pytest.raises(DatasetNotFoundError, match="is not a folder"):
        build_datamodule(compose_cfg(*cyc("data=unpaired", f"data.root={tmp_path / 'nowhere'}")))


def test_augmentation_crops_and_flips_from_the_global_rng():
    from genzoo.data import Digits, UnpairedDomains

    dm = UnpairedDomains(Digits(size=16), Digits(size=16), flip=True)
    x = torch.arange(2 * 20 * 20, dtype=torch.float).view(2, 1, 20, 20)
    torch.manual_seed(3)
    y = dm.augment(x)
    assert y.shape == (2, 1, 16, 16)
    for img, out in zip(x, y):  # each output is a 16x16 window of its image, maybe mirrored
        windows = [img[:, t:t + 16, s:s + 16] for t in range(5) for s in range(5)]
        assert any(torch.equal(out, w) or torch.equal(out, w.flip(-1)) for w in windows)
    torch.manual_seed(3)
    assert torch.equal(dm.augment(x), y)


# --- exact resume, bf16 ----------------------------------------------------------------------------------
def test_resume_restores_optimisers_schedules_pools_rng_and_data_position(compose_cfg, tmp_path):
    """10 + 10 steps == 20 steps, bit for bit: the pools (size 3) fill and swap, the learning rate
    falls (an epoch is 9 pairs at batch 2: 4 steps), training images are cropped and flipped at random,
    the generators' weight average (model.ema_decay) goes on, and the run crosses epoch ends."""
    tree = make_tree(tmp_path / "tree")
    common = [*cyc("data=unpaired", f"data.root={tree}", "data.size=16", "data.load_size=18", "data.num_workers=0",
                   "data.batch_size=2", "model.lr_constant_epochs=1", "model.lr_decay_epochs=6", "metrics=none",
                   "model.ema_decay=0.9",
                   "callbacks.model_checkpoint.every_n_steps=10", "callbacks.held_out.every_n_steps=10",
                   "trainer.max_steps=20")]
    full = compose_cfg(*common, name="full")
    train(full)
    resumed = compose_cfg(*common, f"ckpt_path={Path(full.paths.output_dir) / 'checkpoints' / 'g0000010.ckpt'}",
                          name="resumed")
    train(resumed)
    a, b = (torch.load(Path(c.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False) for c in (full, resumed))
    assert b["genzoo"]["counters"]["model_step"] == 20 and a["global_step"] == b["global_step"] == 40
    assert any(k.startswith("ema.averaged.g_ba.") for k in a["state_dict"])  # the generators' average resumes too
    for name, t in a["state_dict"].items():
        assert (torch.equal(t, b["state_dict"][name]) if torch.is_tensor(t) else t == b["state_dict"][name]), name
    for key in ("A", "B"):
        assert a["genzoo"]["pools"][key]["count"] == 3
        assert torch.equal(a["genzoo"]["pools"][key]["images"], b["genzoo"]["pools"][key]["images"])
    lrs = [s["_last_lr"][0] for s in a["lr_schedulers"]]
    assert lrs == [s["_last_lr"][0] for s in b["lr_schedulers"]] and lrs[0] < 2e-4  # decaying by step 20
    for sa, sb in zip(a["optimizer_states"], b["optimizer_states"]):
        for k, st in sa["state"].items():
            assert torch.equal(st["exp_avg"], sb["state"][k]["exp_avg"])


def test_a_resumed_learning_rate_change_is_the_new_base_of_the_schedule(compose_cfg, tmp_path):
    """A resume that changes model.optimizer_g.lr is said to be applied; the schedule (built inside the model,
    a LambdaLR) must then scale the new rate, not the checkpoint's: after the resumed steps the generators'
    rate is new_lr * lr_factor(epoch), and the critics' (unchanged) stays old_lr * lr_factor(epoch)."""
    tree = make_tree(tmp_path / "tree")
    common = [*cyc("data=unpaired", f"data.root={tree}", "data.size=16", "data.load_size=18", "data.num_workers=0",
                   "data.batch_size=2", "model.lr_constant_epochs=0", "model.lr_decay_epochs=6",
                   "callbacks.model_checkpoint.every_n_steps=2", "callbacks.held_out.every_n_steps=100")]
    first = compose_cfg(*common, "trainer.max_steps=2", name="first")
    train(first)
    new_lr, old_lr = 1e-3, 2e-4
    resumed = compose_cfg(*common, "trainer.max_steps=6", f"model.optimizer_g.lr={new_lr}",
                          f"ckpt_path={Path(first.paths.output_dir) / 'checkpoints' / 'last.ckpt'}", name="resumed")
    train(resumed)
    ckpt = torch.load(Path(resumed.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["genzoo"]["counters"]["model_step"] == 6
    steps_per_epoch = 4  # 9 pairs at batch 2, the last partial batch dropped (the resume test's count)
    factor = lr_factor(6 // steps_per_epoch, 0, 6)
    assert factor < 1  # the schedule has moved: the test tells the two bases apart
    (g_group,), (d_group,) = (s["param_groups"] for s in ckpt["optimizer_states"])
    assert g_group["lr"] == pytest.approx(new_lr * factor) and d_group["lr"] == pytest.approx(old_lr * factor)
    assert [s["base_lrs"] for s in ckpt["lr_schedulers"]] == [[new_lr], [old_lr]]


def test_bf16_mixed_precision_trains(compose_cfg):
    losses = {}
    for precision in ("32-true", "bf16-mixed"):
        cfg = compose_cfg(*cyc(f"trainer.precision={precision}", "trainer.max_steps=1", "metrics=none"), name=precision)
        metrics = train(cfg)
        assert all(math.isfinite(v) for v in metrics.values()), metrics
        losses[precision] = torch.tensor([metrics["loss/cycle_a"], metrics["loss/g"], metrics["loss/d"]])
    assert not torch.equal(losses["32-true"], losses["bf16-mixed"])
    assert torch.allclose(losses["32-true"], losses["bf16-mixed"], rtol=0.05)


# --- DDP ------------------------------------------------------------------------------------------------
@pytest.mark.cli
@pytest.mark.ddp
@pytest.mark.full
def test_ddp_step_matches_one_process_with_the_global_batch_and_ranks_keep_their_own_pools(tmp_path):
    """Two CPU processes with batch 2 each take the same first step as one process with batch 4 (pools of
    4 only fill in the first step, so they return the fresh fakes: equality is possible; later steps
    swap fakes per rank); the checkpoint keeps each rank's pool. Adam's eps is raised so that its first step is smooth in the
    gradient (with eps 1e-8 it is sign(g), which magnifies float-order noise in near-zero gradients)."""
    tree = make_tree(tmp_path / "tree", {"trainA": 8, "trainB": 8, "testA": 2, "testB": 2})
    common = ["model=cyclegan", "data=unpaired", f"data.root={tree}", "data.size=16", "data.num_workers=0",
              "data.flip=false", "net.generator.width=4", "net.discriminator.width=4", "model.pool_size=4",
              "+model.optimizer_g.eps=1.0", "+model.optimizer_d.eps=1.0", "trainer.max_steps=1", "metrics=none",
              "logger=csv", "callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false",
              "trainer.accelerator=cpu"]
    two = run_cli(*common, "data.batch_size=2", "trainer.devices=2", "hydra.run.dir=two", cwd=tmp_path, timeout=600)
    assert two.returncode == 0, two.stderr[-3000:]
    one = run_cli(*common, "data.batch_size=4", "hydra.run.dir=one", cwd=tmp_path, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = (torch.load(tmp_path / d / "checkpoints" / "last.ckpt", weights_only=False) for d in ("two", "one"))
    for name, t in a["state_dict"].items():
        assert torch.allclose(t, b["state_dict"][name], atol=1e-6, rtol=1e-5), name
    pools = a["genzoo"]["pools"]["A"]["images"]
    assert pools.shape == (2, 4, 3, 16, 16) and not torch.equal(pools[0], pools[1])  # one pool per rank
    assert a["genzoo"]["pools"]["A"]["count"] == 2 and b["genzoo"]["pools"]["A"]["count"] == 4


# --- C19 -------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_c19_translations_keep_the_digit_and_approach_the_target_domain(compose_cfg):
    """C19 on the embedded digits (scikit-learn's 8x8 digits <-> MNIST, 16 px, never shown a label):
    after a short CPU run (600 steps, ~50 s) the target domain's classifier reads the source's digit in
    over 3x as many translations as chance (0.1), both ways; and the FID (the classifier's features) to
    the target domain falls from the first evaluation."""
    cfg = compose_cfg(*fast("model=cyclegan", "data=unpaired_digits", "net.generator.width=16", "net.discriminator.width=16",
                            "trainer.max_steps=600", "metrics.every_n_steps=150", "metrics.num_samples=300",
                            "callbacks.held_out.every_n_steps=600", "callbacks.sample_grid.every_n_steps=600"))
    train(cfg)
    rows = [r for r in csv.DictReader(open(Path(cfg.paths.output_dir) / "csv" / "metrics.csv"))
            if r.get("label_preservation/classifier/300/AtoB")]
    first, last = rows[0], rows[-1]
    assert float(last["model_step"]) == 600
    for d in ("AtoB", "BtoA"):
        # three times chance; measured here 0.48 (AtoB) and 0.37 (BtoA) after 600 steps
        assert float(last[f"label_preservation/classifier/300/{d}"]) > 0.3, (d, last)
        assert float(last[f"fid/classifier/300/test/{d}"]) < float(first[f"fid/classifier/300/test/{d}"]), d
