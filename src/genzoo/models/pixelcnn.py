"""The autoregressive family: PixelCNN and Gated PixelCNN (seed claims C4, C20, C22).

p(x) = prod_i p(x_i | x_<i) over pixels in raster order, each a categorical over ``levels`` values
(2 for binarised images, 256 for 8-bit grey). Training maximises the exact log-likelihood (the
categorical cross-entropy summed over pixels), which is minimising KL(p_data || p_model) (C4). One
optimiser, one optimiser step per model step.

Sampling draws each pixel from its predicted distribution, never the argmax (C20; ``sample_mode``
``argmax`` exists to show why): pixel by pixel, by the inverse CDF of uniforms drawn up front
(``draw_noise``), so a fixed grid is the same picture every time. ``temperature`` divides the
logits. Completion (C22) fills in the hidden lower part of held-out images the same way.

Held out (through the spine's held-out path): ``nll`` in nats per image (exact, not a bound) and
``bpd``, bits per dimension.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from genzoo.errors import ConfigError
from genzoo.models.base import SingleOptimizerModule, at_least_float32

SAMPLE_MODES = ("sample", "argmax")


class PixelCNN(SingleOptimizerModule):
    net_keys = ("network",)
    held_out_metric_names = ("nll", "bpd")

    def __init__(
        self,
        network: Callable[..., nn.Module],
        data_shape: Sequence[int],
        optimizer: Callable[..., torch.optim.Optimizer],
        levels: int = 256,
        temperature: float = 1.0,
        sample_mode: str = "sample",
        completion_fractions: Sequence[float] = (0.5, 0.75),
        completions_per_image: int = 3,
        num_classes: int | None = None,  # passed to every family; PixelCNN is unconditional
        name: str = "pixelcnn",
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        nonfinite: str = "stop",
    ) -> None:
        super().__init__()
        self.set_nonfinite(nonfinite)
        if levels < 2:
            raise ConfigError(f"model.levels={levels} must be >= 2 (2: binarised images, 256: 8-bit grey).")
        if sample_mode not in SAMPLE_MODES:
            raise ConfigError(f"model.sample_mode={sample_mode!r}: choose sample (draw each pixel from its "
                              "distribution) or argmax (the most likely value: one image only, C20).")
        if not temperature > 0:
            raise ConfigError(f"model.temperature={temperature} must be > 0.")
        bad = [f for f in completion_fractions if not 0 < f < 1]
        if bad:
            raise ConfigError(f"model.completion_fractions={list(completion_fractions)}: each hidden share must be in (0, 1).")
        self.name, self.data_shape = name, tuple(data_shape)
        self.network = network(shape=self.data_shape, levels=levels)
        self.levels, self.temperature, self.sample_mode = levels, temperature, sample_mode
        self.completion_fractions = tuple(completion_fractions)
        self.completions_per_image = completions_per_image
        self._optimizer, self._scheduler = optimizer, scheduler

    @property
    def picture_names(self) -> tuple[str, ...]:
        return tuple(f"completion_{round(100 * f)}" for f in self.completion_fractions)

    # --- values <-> levels ---------------------------------------------------------------------------
    def to_levels(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> level indices 0..levels-1 (the nearest level)."""
        return torch.round((x.float().clamp(-1, 1) + 1) / 2 * (self.levels - 1)).long()

    def to_values(self, idx: torch.Tensor) -> torch.Tensor:
        return idx.float() / (self.levels - 1) * 2 - 1

    # --- the likelihood --------------------------------------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, levels, C, H, W) logits of every pixel given the pixels before it."""
        return at_least_float32(self.network(self.to_values(self.to_levels(x)).to(x.dtype)))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) per image, in nats."""
        ce = F.cross_entropy(self.logits(x), self.to_levels(x), reduction="none")
        return -ce.flatten(1).sum(1)

    def held_out_metrics(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        nll = -self.log_prob(batch[0])
        return {"nll": nll, "bpd": nll / (math.prod(self.data_shape) * math.log(2))}

    # --- sampling (the contract) ---------------------------------------------------------------------
    def draw_noise(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One uniform per pixel: the pixel is the level where the CDF first exceeds it (inverse CDF)."""
        dev = generator.device if generator is not None else self.device
        return {"u": torch.rand(n, *self.data_shape, generator=generator, device=dev)}

    def sample_given(self, noise: dict[str, torch.Tensor], y: torch.Tensor | None = None,
                     source: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        u = noise["u"]
        canvas = torch.full(u.shape, -1.0, dtype=next(self.network.parameters()).dtype, device=u.device)
        return self.complete(canvas, u, start_row=0)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, u: torch.Tensor, start_row: int) -> torch.Tensor:
        """Fill pixels from row ``start_row`` on, one at a time in raster order (rows above are kept):
        the naive sampler, one pass of the network per pixel."""
        x = self.to_values(self.to_levels(x)).to(x.dtype)
        _, c, h, w = x.shape
        for i in range(start_row, h):
            for j in range(w):
                logits = self.logits(x)[:, :, :, i, j]  # (N, levels, C)
                for ch in range(c):
                    x[:, ch, i, j] = self.to_values(self.pick(logits[:, :, ch], u[:, ch, i, j])).to(x.dtype)
        return x

    def pick(self, logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """A level per row of ``logits`` (N, levels): inverse CDF at ``u`` at this temperature, or argmax."""
        if self.sample_mode == "argmax":
            return logits.argmax(1)
        cdf = torch.softmax(logits.double() / self.temperature, 1).cumsum(1)
        return torch.searchsorted(cdf, u.double().unsqueeze(1)).squeeze(1).clamp(max=self.levels - 1)

    @torch.no_grad()
    def pictures(self, batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> dict[str, tuple[torch.Tensor, int]]:
        """C22: for each hidden share f, rows of [the input with its lower f hidden (grey), completions,
        the original] for up to 8 held-out images."""
        x = batch[0][:8]
        n, k = len(x), self.completions_per_image
        out = {}
        for f, name in zip(self.completion_fractions, self.picture_names):
            start = self.data_shape[1] - max(1, round(f * self.data_shape[1]))
            shown = x.clone()
            shown[:, :, start:] = 0.0
            u = torch.rand(n * k, *self.data_shape, generator=generator).to(x.device)
            filled = self.complete(x.repeat_interleave(k, 0), u, start).view(n, k, *self.data_shape)
            out[name] = (torch.cat([shown.unsqueeze(1), filled, x.unsqueeze(1)], 1).flatten(0, 1), k + 2)
        return out

    # --- training -------------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx: int) -> None:
        saved = self.buffer_snapshot(self.network)
        loss = -self.log_prob(batch[0]).mean()
        self.take_step(loss, saved)
        d = math.prod(self.data_shape)
        self.log_step({"train/nll": loss.detach(), "train/bpd": loss.detach() / (d * math.log(2))})
