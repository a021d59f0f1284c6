"""Data on the device (issue 35, ``data.on_device``): an in-memory training set held once on the run's device,
batches sliced there (``ResidentLoader``), against the DataLoader path it replaces.

The claims: the same batches in the same order for a seed (images, labels, static binarisation, palette
colours, text windows), the same resume position and rank shards, the same dynamic binarisation draws
through the real Trainer (so the same weights), and no DataLoader fetch on a training step.

Measured on CPU (2 busy cores, one thread, ``experiment=vae_mnist5k_iwae``'s 784-200-200-50 VAE, batch 64):
fetching a batch through the DataLoader (an iterator, a list of 64 indices turned back into a tensor, the
collate) costs more than slicing it from the resident tensor, so ``auto`` holds in-memory sets resident
on CPU as well as on GPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import fast
from genzoo.data import Digits, ImageFolder, Text, Toy2D
from genzoo.data.base import ResidentLoader, ResumableLoader, ResumableSampler, passthrough_collate, to_unit_range
from genzoo.errors import ConfigError


def batches(loader, epoch: int) -> list[tuple[torch.Tensor, ...]]:
    loader.sampler.set_epoch(epoch)
    return list(iter(loader))


def same(a: list[tuple[torch.Tensor, ...]], b: list[tuple[torch.Tensor, ...]]) -> bool:
    return len(a) == len(b) and all(len(u) == len(v) and all(torch.equal(s, t) for s, t in zip(u, v))
                                    for u, v in zip(a, b))


DATASETS = {
    "digits": lambda **kw: Digits(size=8, batch_size=50, **kw),
    "digits_static_binary": lambda **kw: Digits(size=8, batch_size=50, binarize="static", **kw),
    "digits_palette": lambda **kw: Digits(size=8, batch_size=50, palette_size=3, **kw),
    "text": lambda **kw: Text(seq_len=16, batch_size=50, **kw),  # cleaning the corpus takes seconds: full tier
    "toy2d": lambda **kw: Toy2D(num_samples=500, batch_size=50, **kw),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.full) if n == "text" else n for n in DATASETS])
def test_resident_batches_equal_the_dataloaders_batch_for_batch(name):
    """Two epochs, then a resume 3 batches into epoch 1: every tensor equal (on CPU) between the paths."""
    resident, loader = DATASETS[name](seed=4), DATASETS[name](seed=4, on_device=False)
    a, b = resident.train_dataloader(), loader.train_dataloader()
    assert isinstance(a, ResidentLoader) and isinstance(b, ResumableLoader) and len(a) == len(b) > 3
    for epoch in (0, 1):
        got, want = batches(a, epoch), batches(b, epoch)
        assert same(got, want) and len(got) == len(a)
    if name == "digits_static_binary":
        assert set(got[0][0].unique().tolist()) == {-1.0, 1.0}
    if name == "digits_palette":
        assert len(got[0][0].unique()) <= 3
    full = batches(a, 1)
    assert not same(full, batches(a, 0))  # each epoch its own order
    for ld in (a, b):  # what Lightning restores from a checkpoint taken after 3 batches of epoch 1
        ld.load_state_dict({"epoch": 1, "consumed": 3})
    assert same(list(iter(a)), full[3:]) and same(list(iter(b)), full[3:])
    assert a.state_dict() == {"epoch": 1, "consumed": 3}


def test_resident_loader_shards_ranks_as_the_dataloader():
    """Two ranks: disjoint shards, each equal to the DataLoader's shard of the same rank."""
    dm = Digits(size=8, batch_size=20, seed=2)
    dm.setup("fit")
    ds = dm.train_set
    seen = []
    for rank in (0, 1):
        res = ResidentLoader(ds, ResumableSampler(ds, 20, num_replicas=2, rank=rank, seed=2), 20)
        dl = ResumableLoader(ds, batch_size=20, sampler=ResumableSampler(ds, 20, num_replicas=2, rank=rank, seed=2),
                             drop_last=True, collate_fn=passthrough_collate)
        got = batches(res, 3)
        assert same(got, batches(dl, 3)) and len(got) == len(ds) // 2 // 20
        seen.append(torch.cat([b[0] for b in got]).flatten(1))
    # no image of rank 0's shard is in rank 1's (images compared as rows; the set has duplicates, so count)
    both = torch.cat(seen)
    assert len(both) == 2 * (len(ds) // 2 // 20) * 20
    order = ResumableSampler(ds, 20, num_replicas=2, rank=0, seed=2)
    order.set_epoch(3)
    other = ResumableSampler(ds, 20, num_replicas=2, rank=1, seed=2)
    other.set_epoch(3)
    assert not set(order.indices().tolist()) & set(other.indices().tolist())


class CountFetches:
    """Counts DataLoader iterators made and dataset fetches done through torch.utils.data."""

    def __init__(self, monkeypatch) -> None:
        import torch.utils.data._utils.fetch as fetch
        from torch.utils.data import DataLoader

        self.fetches = self.iterators = 0
        fetch_orig, iter_orig = fetch._MapDatasetFetcher.fetch, DataLoader.__iter__

        def counted_fetch(this, *a, **k):
            self.fetches += 1
            return fetch_orig(this, *a, **k)

        def counted_iter(this):
            self.iterators += 1
            return iter_orig(this)

        monkeypatch.setattr(fetch._MapDatasetFetcher, "fetch", counted_fetch)
        monkeypatch.setattr(DataLoader, "__iter__", counted_iter)


@pytest.mark.parametrize("on_device", ["auto", "false"])
def test_training_steps_read_no_dataloader(compose_cfg, monkeypatch, on_device):
    """Through a real Trainer: with the set resident, 6 steps make no DataLoader iterator and no fetch, and each
    batch the step sees is the resident images at the sampler's indices; with data.on_device=false every step
    fetches (the counter counts)."""
    import pytorch_lightning as pl

    from genzoo.training import build_datamodule, build_model

    cfg = compose_cfg(*fast("model=vae", "data=digits", "data.batch_size=16", f"data.on_device={on_device}"))
    pl.seed_everything(0, verbose=False)
    dm = build_datamodule(cfg)
    model = build_model(cfg, dm)
    seen = []

    class Record(pl.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.append((batch[0].clone(), trainer.train_dataloader))

    counter = CountFetches(monkeypatch)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, max_steps=6, callbacks=[Record()])
    trainer.fit(model, datamodule=dm)
    assert model.model_step == 6 and len(seen) == 6
    if on_device == "auto":
        assert counter.fetches == 0 and counter.iterators == 0
        loader = seen[0][1]
        assert isinstance(loader, ResidentLoader) and loader.dataset.x.data_ptr() == dm.train_set.x.data_ptr()  # on CPU
        order = ResumableSampler(dm.train_set, 16, seed=dm.seed)
        order.set_epoch(0)
        idx = order.indices()
        for i, (x, _) in enumerate(seen):
            assert torch.equal(x, to_unit_range(loader.dataset.x[idx[16 * i: 16 * (i + 1)]]))
    else:
        assert counter.fetches >= 6 and counter.iterators == 1
        assert isinstance(seen[0][1], ResumableLoader)


@pytest.mark.full
def test_dynamic_binarisation_and_a_cross_mode_resume_match_through_the_trainer(compose_cfg):
    """A Bernoulli VAE with dynamic binarisation, 30 steps over 25-batch epochs: DataLoader uninterrupted ==
    resident uninterrupted == resident resumed at step 20 from the DataLoader run's checkpoint, to the last bit
    of every weight (the same batches, the same binarisation draws, the same data position after resume)."""
    from genzoo.training import train

    common = fast("model=vae", "model.likelihood=bernoulli", "data.binarize=dynamic", "data.batch_size=64",
                  "callbacks.model_checkpoint.every_n_steps=20", "callbacks.held_out.every_n_steps=0",
                  "callbacks.sample_grid.every_n_steps=0", "trainer.max_steps=30")
    loader = compose_cfg(*common, "data.on_device=false", name="loader")
    train(loader)
    ckpt = Path(loader.paths.output_dir) / "checkpoints"
    states = {}
    for name, extra in (("resident", []), ("resumed", [f"ckpt_path={ckpt / 'g0000020.ckpt'}"])):
        cfg = compose_cfg(*common, "data.on_device=true", *extra, name=name)
        train(cfg)
        states[name] = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    want = torch.load(ckpt / "last.ckpt", weights_only=False)
    for name, got in states.items():
        assert got["genzoo"]["counters"]["model_step"] == 30, name
        for key, t in want["state_dict"].items():
            assert torch.equal(t, got["state_dict"][key]), (name, key)


@pytest.mark.parametrize("value", ["sometimes", 2])
def test_on_device_takes_auto_true_or_false(value):
    with pytest.raises(ConfigError, match=r"data.on_device=.*choose auto"):
        Digits(on_device=value)
    assert Digits(on_device="true").on_device is True and Digits(on_device=False).on_device is False


def test_on_device_true_for_file_backed_images_is_explained(tmp_path):
    for i in range(4):
        Image.new("RGB", (8, 8), (60 * i, 0, 0)).save(tmp_path / f"{i}.png")
    files = ImageFolder(root=str(tmp_path), size=8, in_memory=False, batch_size=2, held_out_fraction=0.25,
                        on_device=True)
    with pytest.raises(ConfigError, match="data.on_device=true.*data.in_memory=true"):
        files.train_dataloader()
    auto = ImageFolder(root=str(tmp_path), size=8, in_memory=False, batch_size=2, held_out_fraction=0.25)
    assert isinstance(auto.train_dataloader(), ResumableLoader)  # auto: file-backed sets keep the DataLoader
    memory = ImageFolder(root=str(tmp_path), size=8, in_memory=True, batch_size=2, held_out_fraction=0.25)
    assert isinstance(memory.train_dataloader(), ResidentLoader)
