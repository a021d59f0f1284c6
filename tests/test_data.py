"""Data: embedded sets, real on-disk layouts loaded by the real loading code, missing-data errors,
exact toy densities, and the resumable sampler."""

import os
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.data import (
    CIFAR10,
    MNIST,
    CelebA,
    Digits,
    FashionMNIST,
    ImageFolder,
    MNIST5k,
    ResumableSampler,
    Toy2D,
    Toy2DDistribution,
)
from genzoo.errors import ConfigError, DatasetNotFoundError


def first_batch(dm):
    dm.setup("fit")
    return next(iter(dm.train_dataloader()))


@pytest.mark.parametrize("dm,shape,classes", [
    (Digits(size=16, batch_size=32), (1, 16, 16), 10),
    (Digits(size=32, batch_size=32), (1, 32, 32), 10),
    (MNIST5k(batch_size=32), (1, 28, 28), 10),
])
def test_embedded_images(dm, shape, classes):
    x, y = first_batch(dm)
    assert x.shape == (32, *shape) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1 and x.min() < -0.9 and x.max() > 0.9
    assert y.dtype == torch.long and 0 <= y.min() and y.max() < classes
    assert dm.shape == shape and dm.num_classes == classes
    # a fixed 10% is held out: disjoint from training, the same whatever the run's seed
    total = 1797 if isinstance(dm, Digits) else 5000
    train, test = dm.dataset("train"), dm.dataset("test")
    assert len(train) + len(test) == total and len(test) == round(0.1 * total)
    other = type(dm)(size=dm.size, batch_size=32, seed=7)
    assert torch.equal(other.dataset("test").x, test.x)
    from genzoo.data.base import held_out_share

    tr, te = held_out_share(total, 0.1, "train"), held_out_share(total, 0.1, "test")
    assert not set(tr.tolist()) & set(te.tolist()) and len(tr) + len(te) == total
    from genzoo.data.embedded import resize_images

    x_all, _ = dm.load()  # the held-out images are exactly those indices of the whole set, brought to size
    held = x_all[te]
    if held.shape[-1] != dm.size:
        held = resize_images(held.float().div(127.5).sub(1) if held.dtype == torch.uint8 else held, dm.size)
    assert torch.equal(test.x, held.to(test.x.dtype))


@pytest.mark.parametrize("name,half,points", [("ring", 2.5, 1001), ("grid", 4.5, 901), ("bimodal", 3.5, 351),
                                              ("swiss_roll", 3.5, 351)])
def test_toy2d_density_is_normalised_and_matches_samples(name, half, points):
    dist = Toy2DDistribution(name)
    t = torch.linspace(-half, half, points, dtype=torch.float64)  # spacing <= std / 2
    grid = torch.cartesian_prod(t, t)
    mass = float(dist.log_prob(grid).exp().sum() * (t[1] - t[0]) ** 2)
    assert abs(mass - 1) < 0.01
    # samples land where the density is high: their mean log-density beats that of uniform points
    x, _ = dist.sample(2000, torch.Generator().manual_seed(0))
    u = torch.rand(2000, 2, dtype=torch.float64) * 8 - 4
    assert dist.log_prob(x).mean() > dist.log_prob(u).mean() + 3


def test_toy2d_datamodule_shape_and_labels():
    dm = Toy2D(name="grid", num_samples=1000, batch_size=100)
    x, y = first_batch(dm)
    assert x.shape == (100, 2) and dm.shape == (2,) and dm.num_classes == 25
    with pytest.raises(ConfigError, match="ring, grid, bimodal, swiss_roll"):
        Toy2D(name="moons")


# --- on-disk layouts ---------------------------------------------------------------------------

def write_idx(path, arr, magic):
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes())


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
def test_mnist_raw_idx_layout(tmp_path, cls):
    raw = tmp_path / cls.__name__ / "raw"
    raw.mkdir(parents=True)
    imgs = np.random.default_rng(0).integers(0, 256, (70, 28, 28), dtype=np.uint8)
    labels = (np.arange(70) % 10).astype(np.uint8)
    write_idx(raw / "train-images-idx3-ubyte", imgs, 2051)
    write_idx(raw / "train-labels-idx1-ubyte", labels, 2049)
    write_idx(raw / "t10k-images-idx3-ubyte", imgs[:10], 2051)
    write_idx(raw / "t10k-labels-idx1-ubyte", labels[:10], 2049)
    dm = cls(root=str(tmp_path), batch_size=16)
    x, y = first_batch(dm)
    assert x.shape == (16, 1, 28, 28) and len(dm.train_set) == 70
    # the loaded pixels are the file's pixels, scaled to [-1, 1]
    assert torch.allclose(dm.train_set.__getitems__([3])[0][0, 0], torch.from_numpy(imgs[3]).float() / 127.5 - 1)
    assert int(dm.train_set.y[3]) == 3
    # the held-out split is the official test files (t10k-*)
    test = dm.dataset("test")
    assert len(test) == 10 and torch.equal(test.x[:, 0], torch.from_numpy(imgs[:10]))


def test_cifar10_python_pickle_layout(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (8, 3 * 32 * 32), dtype=np.uint8)
        with open(base / name, "wb") as f:
            pickle.dump({"data": data, "labels": list(range(8))}, f)  # keys as the official files decode
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, f)
    # torchvision checks the md5 sums of the official files; a made-up tree has others. Only the md5
    # comparison is replaced (by an existence check); the rest is torchvision's real loading code.
    monkeypatch.setattr(tvd.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    dm = CIFAR10(root=str(tmp_path), batch_size=8)
    x, y = first_batch(dm)
    assert x.shape == (8, 3, 32, 32) and len(dm.train_set) == 40
    with open(base / "data_batch_1", "rb") as f:
        first = pickle.load(f, encoding="latin1")["data"][0].reshape(3, 32, 32)
    assert torch.allclose(dm.train_set.__getitems__([0])[0][0], torch.from_numpy(first).float() / 127.5 - 1)
    with open(base / "test_batch", "rb") as f:  # the held-out split is the official test batch
        test_first = pickle.load(f, encoding="latin1")["data"][0].reshape(3, 32, 32)
    test = dm.dataset("test")
    assert len(test) == 8 and torch.equal(test.x[0], torch.from_numpy(test_first))


def make_celeba(root, n=12):
    img_dir = root / "img_align_celeba"
    img_dir.mkdir(parents=True)
    lines = []
    for i in range(n):
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(np.full((218, 178, 3), i * 20, np.uint8)).save(img_dir / name)
        lines.append(f"{name} {0 if i < 8 else (1 if i < 10 else 2)}")
    (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("nested", [False, True])
def test_celeba_layout_and_splits(tmp_path, nested):
    make_celeba(tmp_path / "celeba" if nested else tmp_path)
    dm = CelebA(root=str(tmp_path), batch_size=4)
    (x,) = first_batch(dm)
    assert x.shape == (4, 3, 64, 64) and len(dm.train_set) == 8
    assert len(CelebA(root=str(tmp_path), split="valid", batch_size=1).image_paths("train")) == 2
    assert len(CelebA(root=str(tmp_path), split="all", batch_size=1).image_paths("train")) == 12
    # the held-out split is the official test partition (the last two images)
    assert [p.name for p in dm.image_paths("test")] == ["000011.jpg", "000012.jpg"]
    assert len(dm.dataset("test")) == 2


def test_image_folder_rgba_and_sizes(tmp_path):
    sub = tmp_path / "sprites" / "fire"
    sub.mkdir(parents=True)
    for i in range(6):
        rgba = np.zeros((40, 40, 4), np.uint8)
        rgba[10:30, 10:30] = (255, 0, 0, 255)  # red square on a transparent background
        Image.fromarray(rgba, "RGBA").save(sub / f"p{i}.png")
    dm = ImageFolder(root=str(tmp_path / "sprites"), size=20, batch_size=3, in_memory=True)
    (x,) = first_batch(dm)
    assert x.shape == (3, 3, 20, 20)
    assert torch.allclose(x[0, :, 0, 0], torch.ones(3))              # transparent -> white
    assert torch.allclose(x[0, :, 10, 10], torch.tensor([1.0, -1.0, -1.0]))  # red stays red
    lazy = ImageFolder(root=str(tmp_path / "sprites"), size=20, batch_size=3, in_memory=False)
    (x2,) = first_batch(lazy)
    assert x2.shape == (3, 3, 20, 20)


@pytest.mark.parametrize("make,where", [
    (lambda r: MNIST(root=r), "MNIST/raw"),
    (lambda r: CIFAR10(root=r), "cifar-10-batches-py"),
    (lambda r: CelebA(root=r), "img_align_celeba"),
    (lambda r: ImageFolder(root=r, size=32), "No images"),
])
def test_missing_dataset_says_where_it_looked_and_how_to_fix(tmp_path, make, where):
    with pytest.raises(DatasetNotFoundError) as e:
        make(str(tmp_path)).setup("fit")
    msg = str(e.value)
    assert where in msg and str(tmp_path) in msg
    assert "data.download=true" in msg or "data.root" in msg


def test_celeba_split_without_partition_file_is_explained(tmp_path):
    make_celeba(tmp_path)
    (tmp_path / "list_eval_partition.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="data.split=all"):
        CelebA(root=str(tmp_path)).setup("fit")


# --- sampler ---------------------------------------------------------------------------------------

def test_sampler_resumes_mid_epoch_and_shards_ranks():
    ds = list(range(100))
    s = ResumableSampler(ds, batch_size=10, seed=3)
    s.set_epoch(2)
    full = list(iter(s))
    assert sorted(full) == ds
    s.set_epoch(1)
    assert list(iter(s)) != full  # a new permutation each epoch
    resumed = ResumableSampler(ds, batch_size=10, seed=3)
    resumed.load_state_dict({"epoch": 2, "consumed": 4})
    assert list(iter(resumed)) == full[40:]
    assert list(iter(resumed)) == full  # the skip applies once
    # a checkpoint taken at the end of an epoch resumes at the next one
    done = ResumableSampler(ds, batch_size=10, seed=3)
    done.load_state_dict({"epoch": 2, "consumed": 10})
    assert done.epoch == 3 and len(list(iter(done))) == 100
    # two ranks see disjoint halves
    r0, r1 = (ResumableSampler(ds, 10, num_replicas=2, rank=r, seed=3) for r in (0, 1))
    a, b = list(iter(r0)), list(iter(r1))
    assert len(a) == len(b) == 50 and not set(a) & set(b)


def test_too_small_dataset_for_batch_is_explained():
    with pytest.raises(ConfigError, match="data.batch_size"):
        Toy2D(num_samples=10, batch_size=64).setup("fit")
