"""What a metric's name means, in words a person reads on a plot: ``metric_label(name)``.

Names state the protocol (``fid/<extractor>/<samples>/<real split>``, ``<name>/test``, ...); the label
says the quantity, its scale and its unit. KID is the unscaled squared MMD of the extractor's features
under torch-fidelity's cubic polynomial kernel (papers often quote it x 1000 for Inception features;
genzoo logs it as computed): it has no fixed range, and in the digit classifier's feature space it is
in the hundreds or thousands for poor samples.
"""

from __future__ import annotations

import re

#: the first part of a name -> its label; ``{ext}`` is the feature extractor named in the name
LABELS = {
    "fid": "FID, Frechet distance of {ext} features (lower is better)",
    "kid": "KID, squared MMD of {ext} features, unscaled (lower is better)",
    "precision": "precision: share of samples near real ones ({ext} features)",
    "recall": "recall: share of real images near samples ({ext} features)",
    "is": "IS from {ext} class probabilities (higher is better)",
    "effective_classes": "effective classes: exp(entropy) of predicted classes",
    "conditional_accuracy": "share of samples classified as the class asked for",
    "label_preservation": "share of translations keeping their source's class",
    "elbo": "ELBO, nats per image (higher is better)",
    "recon": "reconstruction term, nats per image",
    "kl": "KL(q(z|x) || p(z)), nats per image",
    "nll": "NLL, nats per image (lower is better)",
    "nll_gaussian": "Gaussian NLL, nats per image",
    "mse": "mean squared error per value",
    "bpd": "bits per dimension (lower is better)",
    "ess": "effective sample size of the k importance weights",
    "cycle_l1": "mean |x - cycle(x)|, pixel values in [-1, 1]",
    "loss": "loss",
    "d": "critic output, mean",
    "divergence": "critic's estimate of the divergence",
}

TOY2D = {"log_density": "mean true log-density of samples", "modes_covered": "modes covered",
         "high_quality": "share of samples within 3 std of a mode", "mode_kl": "KL(uniform modes || sample modes)",
         "conditional_accuracy": "share of good samples at the mode asked for"}


def metric_label(name: str) -> str:
    """A metric name -> the quantity it measures, with its scale and unit (an axis label). Unknown names
    are returned as they are."""
    parts = [p for p in name.split("/") if p]
    if not parts:
        return name
    if parts[0] in ("train", "loss") and len(parts) > 1:  # a training scalar: train/<metric>, loss/<net>
        if parts[0] == "loss":
            return f"loss of {parts[1]}"
        return metric_label(parts[1])
    if parts[0] == "toy2d" and len(parts) > 2:
        return TOY2D.get(parts[2], parts[2])
    if parts[0] == "ngram":
        return "n-gram JS divergence, bits" if parts[-1].startswith("js") else "share of distinct samples"
    base = re.sub(r"_k\d+$", "", parts[0])  # nll_k64 -> nll, with k importance samples
    label = LABELS.get(base)
    if label is None:
        return name
    ext = parts[1] if len(parts) > 1 and base in ("fid", "kid", "precision", "recall", "is") else "the extractor's"
    label = label.format(ext=ext)
    if base != parts[0]:
        label += f", k = {parts[0].rsplit('_k', 1)[1]}"
    return label + (", trained weights" if parts[-1] == "raw" else "")
