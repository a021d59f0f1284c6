"""Drawing samples from any family through its contract (``GenerativeModule``).

One place for what the sample grids, the sample metrics, ``eval.py`` and ``sample.py`` share:
the layout of a fixed grid, the classes asked of a label-conditional model, the source images of a
translating one, drawing in chunks (and each rank's share under DDP), and latent interpolations.
Nothing here knows a family's attributes: only ``condition``, ``num_classes``, ``latent_key``,
``draw_noise`` and ``sample``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genzoo.errors import ConfigError


def balanced_labels(n: int, num_classes: int, start: int = 0) -> torch.Tensor:
    """Labels start, start+1, ... mod num_classes: every class asked for equally often."""
    return torch.arange(start, start + n) % num_classes


def domains(direction: str) -> tuple[str, str]:
    """``"AtoB"`` -> ``("A", "B")``: the source and target domain of a translation direction."""
    src, sep, tgt = direction.partition("to")
    if not (sep and src and tgt):
        raise ConfigError(f"direction={direction!r} is not a translation direction; use AtoB or BtoA.")
    return src, tgt


def directions(model, direction: str | None = None) -> list[str | None]:
    """The directions a model's samples are drawn and scored in: each of an image-conditional model's
    ``directions`` (or only ``direction``); ``[None]`` for every other family."""
    if model.condition != "image" or not model.directions:
        return [None]
    if direction is None:
        return list(model.directions)
    if direction not in model.directions:
        raise ConfigError(f"direction={direction!r}: model={model.name} translates {' and '.join(model.directions)}.")
    return [direction]


def source_images(model, datamodule, direction: str | None, n: int, start: int = 0,
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Held-out images ``start .. start + n - 1`` (in a fixed order) of ``direction``'s source domain, and
    their labels where the domain has them (what label preservation compares with)."""
    if datamodule is None:
        raise ConfigError(f"model={model.name} translates images and needs data to draw source images from.")
    dm = datamodule if direction is None else datamodule.domain(domains(direction)[0])
    labelled = dm.num_classes is not None
    pool = dm.sample_real(start + n, with_labels=labelled, split="test")
    x, y = pool if labelled else (pool, None)
    idx = torch.arange(start, start + n) % len(x)
    return x[idx], None if y is None else y[idx]


def source_count(model, datamodule, direction: str | None) -> int:
    """How many distinct held-out source images ``direction`` has (a translation of each is one sample)."""
    dm = datamodule if direction is None else datamodule.domain(domains(direction)[0])
    return len(dm.dataset("test"))


def conditions(model, n: int, datamodule=None, start: int = 0, label: int | None = None,
               direction: str | None = None) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(y, source)`` for samples ``start .. start + n - 1`` of a run of samples: every class
    equally often (or only ``label``) for a label-conditional model; held-out images of the source
    domain of ``direction`` (in a fixed order) for an image-conditional one; ``(None, None)`` otherwise."""
    if model.condition == "label":
        if label is not None:
            return torch.full((n,), int(label)), None
        return balanced_labels(n, model.num_classes, start), None
    if model.condition == "image":
        return None, source_images(model, datamodule, direction or directions(model)[0], n, start)[0]
    return None, None


def repeat_rows(noise: dict[str, torch.Tensor], times: int) -> dict[str, torch.Tensor]:
    return {k: v.repeat(times, *([1] * (v.ndim - 1))) for k, v in noise.items()}


@dataclass
class Grid:
    """The inputs of a picture of samples: noise, classes or source images, images per row."""

    noise: dict[str, torch.Tensor]
    y: torch.Tensor | None
    source: torch.Tensor | None
    nrow: int
    direction: str | None = None

    def sample(self, model, ema: bool = True) -> torch.Tensor:
        return model.sample(noise=self.noise, y=self.y, source=self.source, ema=ema, direction=self.direction)


def grid_inputs(model, num_samples: int = 64, nrow: int = 8, num_scatter: int = 1000, seed: int = 1234,
                datamodule=None) -> Grid:
    """The fixed sample grid of a run (the training callback and sample.py draw the same one).

    Unconditional: ``num_samples`` samples (``num_scatter`` for 2-D data). Label-conditional: one
    row per class, ``nrow`` per row, the same noise in every row (a column holds one noise draw
    across classes); for 2-D data ``num_scatter`` points split evenly over the classes.
    Image-conditional: ``num_samples`` held-out source images. The noise comes from a private
    generator seeded with ``seed``: the grid never disturbs the training RNG.
    """
    g = torch.Generator().manual_seed(seed)
    toy = len(model.data_shape) == 1
    if model.condition == "label":
        k = model.num_classes
        if toy:
            per = max(1, num_scatter // k)
            return Grid(model.draw_noise(per * k, g), torch.arange(k).repeat_interleave(per), None, nrow)
        return Grid(repeat_rows(model.draw_noise(nrow, g), k), torch.arange(k).repeat_interleave(nrow), None, nrow)
    n = num_scatter if toy else num_samples
    direction = directions(model)[0]
    y, source = conditions(model, n, datamodule, direction=direction)
    return Grid(model.draw_noise(n, g), y, source, nrow, direction)


def random_grid(model, n: int, rng: torch.Generator, nrow: int, label: int | None = None,
                datamodule=None, direction: str | None = None) -> Grid:
    """``n`` fresh samples for a look at the model: a label-conditional model gives one row of
    ``nrow`` per class (or ``n`` of class ``label``); an image-conditional one translates ``n``
    held-out images (of ``direction``'s source domain; its first direction by default)."""
    toy = len(model.data_shape) == 1
    if model.condition == "label" and label is None and not toy:
        y = torch.arange(model.num_classes).repeat_interleave(nrow)
        return Grid(model.draw_noise(len(y), rng), y, None, nrow)
    direction = directions(model, direction)[0]
    y, source = conditions(model, n, datamodule, label=label, direction=direction)
    return Grid(model.draw_noise(n, rng), y, source, nrow, direction)


def real_batch(datamodule, n: int, device, split: str = "test") -> tuple[torch.Tensor, ...]:
    """A fixed batch of ``n`` real examples of ``split`` (with labels where the data has them), on
    ``device``: the input of a family's pictures (held out) and of the critic diagnostics."""
    real = datamodule.sample_real(n, with_labels=datamodule.num_classes is not None, split=split)
    return tuple(t.to(device) for t in (real if isinstance(real, tuple) else (real,)))


@torch.no_grad()
def draw_samples(model, n: int, rng: torch.Generator | None = None, y: torch.Tensor | None = None,
                 source: torch.Tensor | None = None, chunk: int = 500, ema: bool = True,
                 direction: str | None = None) -> torch.Tensor:
    """``n`` samples in chunks of at most ``chunk``, gathered on the CPU as float. ``y``/``source``:
    the class or source image of each sample (from ``conditions``); ``direction``: a translating
    model's direction."""
    out = []
    for i in range(0, n, chunk):
        j = min(n, i + chunk)
        out.append(model.sample(j - i, y=None if y is None else y[i:j], source=None if source is None else source[i:j],
                                rng=rng, ema=ema, direction=direction).float().cpu())
    return torch.cat(out) if out else torch.empty(0, *model.data_shape)


@torch.no_grad()
def draw_share(model, n: int, seed: int, world: int = 1, rank: int = 0, datamodule=None,
               direction: str | None = None, ema: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """This rank's share (``ceil(n / world)``) of ``n`` samples for a metric, from a private generator
    seeded per rank (sampling never disturbs the training RNG), in eval mode; and the labels the
    samples should have: for a label-conditional model the classes asked for (every class equally
    often over all ranks), for a translating one its source images' labels (where the source domain
    has labels: label preservation). ``ema=False``: from the trained weights, not their average."""
    local = math.ceil(n / world)
    if model.condition == "image":
        direction = direction or directions(model)[0]
        source, y = source_images(model, datamodule, direction, local, start=rank * local)
        asked = None
    else:
        asked, source = conditions(model, local, datamodule, start=rank * local)
        y = asked
    g = torch.Generator().manual_seed(seed + rank)
    was_training = model.training
    model.eval()
    try:
        return draw_samples(model, local, g, asked, source, direction=direction, ema=ema), y
    finally:
        model.train(was_training)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (the path that stays where Gaussian latents have their mass)."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def interpolate_latents(a: torch.Tensor, b: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """(pairs, D) x 2 -> (pairs * steps, D): row i walks from a[i] to b[i] in ``steps`` steps."""
    pairs = a.shape[0]
    a, b = a.flatten(1).unsqueeze(1), b.flatten(1).unsqueeze(1)
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    if mode == "linear":
        z = (1 - t) * a + t * b
    elif mode == "slerp":
        z = slerp(a.expand(-1, steps, -1), b.expand(-1, steps, -1), t.expand(pairs, -1, 1))
    else:
        raise ConfigError(f"Unknown interpolation mode {mode!r}; choose slerp or linear.")
    return z.reshape(pairs * steps, -1)


def interpolation_noise(model, pairs: int, steps: int, mode: str = "slerp",
                        rng: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Noise for ``pairs`` rows of ``steps`` samples: the latent (``model.latent_key``) walks between
    two draws, every other input stays at the row's first draw. Families without a latent have no
    interpolation (ConfigError)."""
    key = model.latent_key
    if key is None:
        raise ConfigError(f"model={model.name} has no latent to interpolate.")
    a, b = model.draw_noise(pairs, rng), model.draw_noise(pairs, rng)
    noise = {k: v.repeat_interleave(steps, 0) for k, v in a.items()}
    noise[key] = interpolate_latents(a[key], b[key], steps, mode).view(pairs * steps, *a[key].shape[1:])
    return noise


def check_sampling_options(family: type, run_model: str, options: dict, unused: list[str] | None = None) -> None:
    """Refuse what sample.py would not use: a ``model.<key>=`` that is not one of the family's sampling options
    (its ``sampling_keys``, such as PixelCNN's ``model.temperature``), a value their rule refuses, or a key the
    command does not have (``unused``: added with ``+key=``). Each is one ConfigError naming what it takes."""
    from genzoo.config_rules import declared

    keys = declared(family, "sampling_keys")
    takes = (", ".join(f"model.{k}" for k in keys) or "none") + "; and ema=true|false where the run keeps a weight " \
        "average (model.ema_decay)"
    for name in unused or []:
        hint = f" Did you mean model.{name}?" if name in keys else ""
        raise ConfigError(f"{name}= is not an option of sample.py, so it would be ignored.{hint} The sampling "
                          f"options of model={run_model}: {takes}.")
    for name, value in options.items():
        if name not in keys:
            raise ConfigError(f"model.{name}={value}: model={run_model} has no sampling option {name} (what training "
                              f"fixed stays as trained). Its sampling options: {takes}.")
        if problem := keys[name].problem(value, f"model.{name}"):
            raise ConfigError(problem + ".")
