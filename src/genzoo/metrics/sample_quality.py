"""Sample metrics as thin layers over torch-fidelity's feature-level functions (FID, KID, IS,
precision/recall).

``SampleMetrics`` extracts features of generated samples with any extractor (classifier,
Inception, TorchScript Inception), takes the real features from an on-disk cache keyed by
(dataset, split, extractor, resolution), and hands both to torch-fidelity (FID statistics and
distance, KID, Inception Score). Metric names state the protocol: ``fid/<extractor>/<n>/<split>``, where
``n`` is the number of samples asked for (``metrics.num_samples``), never a count that depends on the data:
a translation direction scores each held-out source image once, so it uses fewer samples where the
source domain holds fewer (``SampleMetrics.count_note`` says how many; the training log prints it).

KID is torch-fidelity's unbiased squared MMD of the features under the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, reported unscaled (not x 1000): it is in squared kernel units of the extractor's
features, so its size depends on the extractor (the digits classifier's features give values in the
hundreds to tens of thousands for poor samples; Inception's, the small numbers papers quote x 1000).
"""

from __future__ import annotations

from pathlib import Path

import torch

from genzoo.checkpoints import atomic_write
from genzoo.data.base import check_split
from genzoo.errors import ConfigError
from genzoo.metrics.extractors import dataset_key, read_cache
from genzoo.sampling import draw_share


def count_label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


@torch.no_grad()
def extract(extractor: torch.nn.Module, images: torch.Tensor, batch_size: int = 250, logits: bool = False):
    feats, logs = [], []
    first = next(extractor.parameters(), None)
    dev = first.device if first is not None else images.device
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size].to(dev)
        feats.append(extractor(x).float().cpu())
        if logits:
            logs.append(extractor.logits(x).float().cpu())
    return torch.cat(feats), (torch.cat(logs) if logits else None)


def frechet_distance(feat_a: torch.Tensor, feat_b: torch.Tensor) -> float:
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    stat_a, stat_b = fid_features_to_statistics(feat_a.double()), fid_features_to_statistics(feat_b.double())
    return float(fid_statistics_to_metric(stat_a, stat_b, verbose=False)["frechet_inception_distance"])


def kernel_distance(feat_a: torch.Tensor, feat_b: torch.Tensor, subset_size: int = 1000, subsets: int = 50) -> float:
    from torch_fidelity.metric_kid import kid_features_to_metric

    size = min(subset_size, len(feat_a), len(feat_b))
    out = kid_features_to_metric(feat_a.double(), feat_b.double(), kid_subset_size=size, kid_subsets=subsets,
                                 verbose=False)
    return float(out["kernel_inception_distance_mean"])


def precision_recall(fake: torch.Tensor, real: torch.Tensor, neighborhood: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of generated vs real features."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    out = prc_features_to_metric(fake.float(), real.float(), prc_neighborhood=neighborhood, verbose=False)
    return float(out["precision"]), float(out["recall"])


def inception_score(logits: torch.Tensor, splits: int = 10) -> float:
    from torch_fidelity.metric_isc import isc_features_to_metric

    return float(isc_features_to_metric(logits.double(), splits=splits)["inception_score_mean"])


def effective_classes(logits: torch.Tensor) -> float:
    """exp(entropy) of the histogram of the classes a classifier assigns to samples: the number of
    equally frequent classes with that spread. 10 for digits spread over all 10 classes, 1 when every
    sample looks like one class: mode collapse, seen as it starts (a cheap diversity signal: the
    logits are those of the IS)."""
    counts = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).double()
    p = counts[counts > 0] / counts.sum()
    return float(torch.exp(-(p * p.log()).sum()))


class SampleMetrics:
    """FID, KID (and IS where the extractor has logits) of samples against a dataset split."""

    def __init__(self, extractor: torch.nn.Module, datamodule, cache_dir: str | Path, num_samples: int,
                 split: str = "train", num_real: int | None = None, direction: str | None = None) -> None:
        self.extractor, self.datamodule = extractor, datamodule
        self.cache_dir, self.num_samples, self.split = Path(cache_dir), num_samples, check_split(split)
        self.num_real = num_real
        #: a translation direction ("AtoB"): ``datamodule`` is its target domain, the metric names end
        #: in the direction, and the share of samples classified as their source's label is
        #: ``label_preservation``
        self.direction = direction
        #: the sample count in the metric names: what was asked (``metric_suites`` sets it where fewer are used)
        self.name_count = num_samples
        self._real: torch.Tensor | None = None
        self.computed_real = False  # True when this object had to extract the real features itself

    @property
    def name(self) -> str:
        return self.extractor.name

    def cache_path(self) -> Path:
        res = "x".join(map(str, self.datamodule.shape))
        n = self.num_real or "all"
        return self.cache_dir / f"real-{self.name}-{dataset_key(self.datamodule)}-{self.split}-{res}-{n}.pt"

    def real_features(self) -> torch.Tensor:
        if self._real is not None:
            return self._real
        path = self.cache_path()
        cached = read_cache(path)
        if torch.is_tensor(cached) and cached.ndim == 2:
            self._real = cached
            return self._real
        available = len(self.datamodule.dataset(self.split))
        n = available if self.num_real is None else min(self.num_real, available)
        real = self.datamodule.sample_real(n, split=self.split)
        self._real, _ = extract(self.extractor, real)
        with atomic_write(path) as tmp:
            torch.save(self._real, tmp)
        self.computed_real = True
        return self._real

    def count_note(self) -> str | None:
        """A line saying how many samples are scored, where fewer than the names say."""
        if self.num_samples >= self.name_count:
            return None
        return (f"Sample metrics {self.direction or ''}: {self.num_samples} samples scored (each held-out source image "
                f"once), fewer than the {self.name_count} asked (metrics.num_samples); the names say {self.name_count}.")

    def keys(self) -> dict[str, str]:
        n = count_label(self.name_count)
        d = f"/{self.direction}" if self.direction else ""
        accuracy = "label_preservation" if self.direction else "conditional_accuracy"
        return {"fid": f"fid/{self.name}/{n}/{self.split}{d}", "kid": f"kid/{self.name}/{n}/{self.split}{d}",
                "precision": f"precision/{self.name}/{n}/{self.split}{d}",
                "recall": f"recall/{self.name}/{n}/{self.split}{d}", "is": f"is/{self.name}/{n}{d}",
                "classes": f"effective_classes/{self.name}/{n}{d}",
                "conditional_accuracy": f"{accuracy}/{self.name}/{n}{d}"}

    def from_features(self, feats: torch.Tensor, logits: torch.Tensor | None,
                      labels: torch.Tensor | None = None) -> dict[str, float]:
        """FID/KID/precision/recall; with class logits IS; with the classes asked of a conditional
        model (or a translation's source labels) also the share of samples the classifier assigns to
        that class."""
        real, k = self.real_features(), self.keys()
        out = {k["fid"]: frechet_distance(feats, real), k["kid"]: kernel_distance(feats, real)}
        out[k["precision"]], out[k["recall"]] = precision_recall(feats, real)
        if logits is not None:
            out[k["is"]] = inception_score(logits, splits=min(10, max(1, len(logits) // 100)))
            out[k["classes"]] = effective_classes(logits)
            if labels is not None:
                out[k["conditional_accuracy"]] = float((logits.argmax(1) == labels.to(logits.device)).float().mean())
        return out

    def compute(self, model, seed: int = 0, datamodule=None) -> dict[str, float]:
        """Metrics of ``num_samples`` samples of ``model`` (through the family contract; a
        label-conditional model is asked for every class equally often; a translating one translates
        held-out source images of ``datamodule``, the whole unpaired data, in ``direction``)."""
        images, labels = draw_share(model, self.num_samples, seed, datamodule=datamodule or self.datamodule,
                                    direction=self.direction)
        feats, logits = extract(self.extractor, images, logits=hasattr(self.extractor, "logits"))
        return self.from_features(feats, logits, labels)


def metric_suites(model, datamodule, num_samples: int, build) -> list[SampleMetrics]:
    """One ``SampleMetrics`` per direction a model's samples are scored in: one for most families;
    for a translating model one per direction, against the target domain, with as many samples as
    the source domain has held-out images (at most ``num_samples``: each is translated once), named by
    ``num_samples`` (the names do not depend on the data's size; ``count_note`` says the count used).
    ``build(target datamodule, num_samples, direction)`` makes each."""
    from genzoo.sampling import directions, domains, source_count

    suites = []
    for d in directions(model):
        if d is None:
            suites.append(build(datamodule, num_samples, None))
        else:
            n = min(num_samples, source_count(model, datamodule, d))
            suites.append(build(datamodule.domain(domains(d)[1]), n, d))
            suites[-1].name_count = num_samples
    return suites


def toy2d_metrics(samples: torch.Tensor, distribution, prefix: str = "toy2d",
                  labels: torch.Tensor | None = None) -> dict[str, float]:
    """Mode metrics of the Unrolled GAN / VEEGAN papers, plus the exact mean log-density of the samples.

    A sample is high quality if it lies within 3 standard deviations of a mode's centre; a mode is
    covered if it holds at least a tenth of its fair share (N / K) of high-quality samples.
    ``labels`` (the modes asked of a conditional model): the share of samples that are high
    quality *and* at the mode asked for (``conditional_accuracy``).
    """
    x = samples.double().cpu()
    out = {f"{prefix}/log_density": float(distribution.log_prob(x).mean())}
    centers = distribution.centers
    if centers is not None:
        d = torch.cdist(x, centers.double())
        dist, mode = d.min(1)
        hq = dist <= 3 * distribution.std
        counts = torch.bincount(mode[hq], minlength=len(centers)).double()
        covered = counts >= 0.1 * len(x) / len(centers)
        out[f"{prefix}/modes_covered"] = float(covered.sum())
        out[f"{prefix}/high_quality"] = float(hq.double().mean())
        if labels is not None:
            out[f"{prefix}/conditional_accuracy"] = float((hq & (mode == labels.cpu())).double().mean())
        p = counts / counts.sum().clamp_min(1)
        # KL(uniform over modes || sample mode histogram), smoothed: 0 when every mode gets its share
        out[f"{prefix}/mode_kl"] = float((torch.log(torch.tensor(1.0 / len(centers))) -
                                          torch.log(p.clamp_min(1e-6))).mean())
    return out


#: extractors that need no feature network: the data itself says what a good sample is
DATA_EXTRACTORS = ("toy2d", "ngram")


def check_data_metrics(name: str, datamodule) -> None:
    """A clear error when a data extractor does not fit the data (before training starts)."""
    if name == "toy2d" and not hasattr(datamodule, "distribution"):
        raise ConfigError("metrics=toy2d needs data=toy2d; use metrics=classifier or metrics=inception.")
    if name == "ngram" and getattr(datamodule, "modality", None) != "text":
        raise ConfigError("metrics=ngram compares character n-grams and needs data=text; use metrics=classifier or "
                          "metrics=inception for images, metrics=toy2d for 2-D data.")


def data_metrics(name: str, samples: torch.Tensor, datamodule, n: int, split: str = "train",
                 num_real: int | None = None, labels: torch.Tensor | None = None) -> dict[str, float]:
    """The metrics of a data extractor (``DATA_EXTRACTORS``) on ``n`` samples, with the sample count in
    their names: ``toy2d`` (modes of the known density) or ``ngram`` (n-gram JS divergences of the
    decoded text against the real sequences of ``split``, at most ``num_real`` of them)."""
    if name == "toy2d":
        return toy2d_metrics(samples, datamodule.distribution, prefix=f"toy2d/{count_label(n)}", labels=labels)
    if name == "ngram":
        from genzoo.metrics.text import text_metrics

        return text_metrics(datamodule.decode(samples), datamodule.ngram_reference(split, num_real),
                            prefix=f"ngram/{count_label(n)}")
    raise ConfigError(f"Unknown data metrics {name!r}; choose one of {', '.join(DATA_EXTRACTORS)}.")
