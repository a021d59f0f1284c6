"""A family's held-out metrics (ELBO, NLL, bits/dim, ...) averaged over the held-out split.

The family returns per-example values for a batch (``GenerativeModule.held_out_metrics``); this
averages them over every example of the held-out split (or its first ``max_examples``), exactly,
whatever the batch size or the number of processes: each rank sums its share, the sums and counts
are added over ranks, then divided. A metric that applies to some examples only (one translation
direction's) returns values for those, and is averaged over them. Names state the protocol: ``<name>/test`` over the whole split,
``<name>/test/<n>`` over its first n examples.

With ``standard_errors``, each mean also comes with its standard error over the examples,
``<name>/test[/<n>]/se`` = s / sqrt(n) (s the sample standard deviation of the n per-example values): how far
the average could move with another draw of as many held-out examples. For an importance-weighted bound it
includes the Monte-Carlo spread of each example's estimate (the per-example values carry it).

Bits per dimension (``bpd``, the families compute it) are a per-image NLL in nats divided by
(C x H x W) ln 2, the number of values of the image as the data holds it. A palette model
(``data.palette_size=K``) predicts one palette index per pixel, yet its bpd still divides by 3 H W, on
purpose: the data it models are the images quantised to the palette, and such an image and its map of
palette indices determine each other, so the NLL is the same number of nats for either; dividing by the
RGB image's 3 H W values puts it on the scale every model of those RGB images is reported on (bits per
sub-pixel, as the PixelCNN and PixelRNN papers report CIFAR-10). Bits per palette index would be 3 x
``bpd``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from genzoo.metrics.sample_quality import count_label


def metric_name(name: str, max_examples: int | None) -> str:
    return f"{name}/test" if max_examples is None else f"{name}/test/{count_label(max_examples)}"


@torch.no_grad()
def held_out_average(model, datamodule, batch_size: int = 256, max_examples: int | None = None, world: int = 1,
                     rank: int = 0, all_reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     standard_errors: bool = False) -> dict[str, float]:
    """``{<name>/test...: mean}`` for each of ``model.held_out_metric_names`` (empty when it has none), and
    with ``standard_errors`` ``{<name>/test.../se: standard error of that mean}`` too (module docstring).
    ``all_reduce`` sums a tensor over ranks (DDP); each rank passes its ``rank`` and the ``world``."""
    names = tuple(model.held_out_metric_names)
    if not names:
        return {}
    sums = torch.zeros(3, len(names), dtype=torch.float64, device=model.device)  # value sums; example counts; squares
    was_training = model.training
    model.eval()
    try:
        for batch in datamodule.held_out_batches(batch_size, world, rank, max_examples):
            batch = tuple(t.to(model.device) for t in batch)
            out = model.held_out_metrics(batch)
            missing = [k for k in names if k not in out]
            if missing:
                raise KeyError(f"{type(model).__name__}.held_out_metrics returned no {missing}")
            values = [out[k].detach().double() for k in names]
            sums[0] += torch.stack([v.sum() for v in values])
            sums[2] += torch.stack([v.pow(2).sum() for v in values])
            sums[1] += torch.tensor([out[k].numel() for k in names], dtype=torch.float64, device=sums.device)
    finally:
        model.train(was_training)
    if all_reduce is not None:
        sums = all_reduce(sums)
    out = {metric_name(k, max_examples): float(sums[0, i] / sums[1, i]) for i, k in enumerate(names) if sums[1, i] > 0}
    if standard_errors:
        for i, k in enumerate(names):
            if sums[1, i] > 1:
                total, n, squares = (float(v) for v in sums[:, i])
                variance = max(0.0, (squares - total * total / n) / (n - 1))
                out[f"{metric_name(k, max_examples)}/se"] = (variance / n) ** 0.5
    return out
