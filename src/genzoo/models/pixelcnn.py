"""The autoregressive family: PixelCNN and Gated PixelCNN (seed claims C4, C20, C22).

p(x) = prod_i p(x_i | x_<i) over pixels in raster order, each a categorical over ``levels`` values
(2 for binarised images, 256 for 8-bit grey). Training maximises the exact log-likelihood (the
categorical cross-entropy summed over pixels), which is minimising KL(p_data || p_model) (C4). One
optimiser, one optimiser step per model step.

Sampling draws each pixel from its predicted distribution, never the argmax (C20; ``sample_mode``
``argmax`` exists to show why): pixel by pixel, by the inverse CDF of uniforms drawn up front
(``draw_noise``), so a fixed grid is the same picture every time. ``temperature`` divides the
logits. Completion (C22) fills in the hidden lower part of held-out images the same way.
``channel_order=ordered``: a colour pixel's values one after another, R -> G -> B (the paper's masks by
channel), each drawn from a fresh net pass given the ones before it.

Held out (through the spine's held-out path): ``nll`` in nats per image (exact, not a bound) and
``bpd``, bits per dimension.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from genzoo.config_rules import POSITIVE, Key, binary_pixels, integer
from genzoo.errors import ConfigError
from genzoo.models.base import SingleOptimizerModule, at_least_float32

SAMPLE_MODES = ("sample", "argmax")
SAMPLERS = ("auto", "cached", "naive")
OUTPUTS = ("categorical", "gaussian")
CHANNEL_ORDERS = ("joint", "ordered")


class PixelCNN(SingleOptimizerModule):
    # channel_order: checkpoints from before the key predicted a pixel's channels jointly
    config_keys = (Key("levels", integer(2), resume="refused"), Key("output", resume="refused"),
                   Key("channel_order", resume="refused", absent="joint"), Key("temperature", POSITIVE),
                   Key("completions_per_image", integer(1)))
    sampling_keys = (Key("temperature", POSITIVE), Key("sample_mode"), Key("sampler"))  # checked by __init__ too
    config_checks = (binary_pixels("levels", 2, "data.binarize=static (the PixelRNN paper's MNIST protocol) or dynamic, "
                                   "or use model.levels=256"),)
    net_keys = ("network",)
    #: ``build_model`` passes the data's palette (``data.palette_size``) to a family that declares this
    takes_palette = True

    def __init__(
        self,
        network: Callable[..., nn.Module],
        data_shape: Sequence[int],
        optimizer: Callable[..., torch.optim.Optimizer],
        levels: int = 256,
        output: str = "categorical",
        temperature: float = 1.0,
        sample_mode: str = "sample",
        completion_fractions: Sequence[float] = (0.5, 0.75),
        completions_per_image: int = 3,
        sampler: str = "auto",
        channel_order: str = "joint",
        palette: torch.Tensor | None = None,
        num_classes: int | None = None,  # passed to every family; PixelCNN is unconditional
        name: str = "pixelcnn",
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        nonfinite: str = "stop",
    ) -> None:
        super().__init__()
        self.set_nonfinite(nonfinite)
        if output not in OUTPUTS:
            raise ConfigError(f"model.output={output!r}: choose categorical (a distribution over discrete values: the "
                              "PixelRNN paper's) or gaussian (regress each value: a Gaussian around a predicted mean).")
        if output == "categorical" and levels < 2:
            raise ConfigError(f"model.levels={levels} must be >= 2 (2: binarised images, 256: 8-bit grey).")
        if sample_mode not in SAMPLE_MODES:
            raise ConfigError(f"model.sample_mode={sample_mode!r}: choose sample (draw each pixel from its "
                              "distribution) or argmax (the most likely value: one image only, C20).")
        if not temperature > 0:
            raise ConfigError(f"model.temperature={temperature} must be > 0.")
        bad = [f for f in completion_fractions if not 0 < f < 1]
        if bad:
            raise ConfigError(f"model.completion_fractions={list(completion_fractions)}: each hidden share must be in (0, 1).")
        if palette is not None and output == "gaussian":
            raise ConfigError("model.output=gaussian regresses colours; data.palette_size turns them into palette "
                              "indices. Use one or the other (data.palette_size=null for the regression).")
        self.name, self.data_shape = name, tuple(data_shape)
        self.output = output
        if palette is not None:  # one categorical over the palette's colours per pixel
            palette = torch.as_tensor(palette, dtype=torch.float32)
            if palette.ndim != 2 or palette.shape[1] != self.data_shape[0]:
                raise ConfigError(f"The palette has shape {tuple(palette.shape)}; the images have {self.data_shape[0]} "
                                  "channels.")
            levels = len(palette)
        self.register_buffer("palette", palette)
        self.levels = 1 if output == "gaussian" else levels
        out_channels = 1 if palette is not None else self.data_shape[0]
        if channel_order not in CHANNEL_ORDERS:
            raise ConfigError(f"model.channel_order={channel_order!r}: choose joint (a pixel's channels predicted "
                              "together from the earlier pixels) or ordered (R -> G -> B within a pixel, the paper's).")
        if channel_order == "ordered" and palette is not None:
            raise ConfigError("model.channel_order=ordered predicts a pixel's channels one after another; with "
                              "data.palette_size the model predicts one colour index per pixel. Use one or the other.")
        #: the values of a pixel are drawn one after another (each a net pass), R -> G -> B
        self.ordered = channel_order == "ordered" and out_channels > 1
        self.channel_order = channel_order
        self.network = self.build_network(network, self.levels, out_channels)
        if output == "gaussian":  # one learned log-sigma per channel: the Gaussian's width (MSE when fixed)
            self.log_sigma = nn.Parameter(torch.full((self.data_shape[0],), math.log(0.1)))
        if sampler not in SAMPLERS:
            raise ConfigError(f"model.sampler={sampler!r}: choose cached (carry the net's state, compute only what "
                              "each new pixel changes), naive (the whole net once per pixel) or auto (cached where "
                              "the net has it).")
        has_cache = hasattr(self.network, "incremental") and not self.ordered
        if sampler == "cached" and self.ordered:
            raise ConfigError("model.sampler=cached draws a pixel's channels together; model.channel_order=ordered "
                              "needs a net pass per channel: set model.sampler=naive or auto.")
        if sampler == "cached" and not has_cache:
            raise ConfigError(f"model.sampler=cached: this net ({type(self.network).__name__}) has no cached sampler; "
                              "set model.sampler=naive or auto.")
        self.sampler = ("cached" if has_cache else "naive") if sampler == "auto" else sampler
        self.temperature, self.sample_mode = temperature, sample_mode
        self.completion_fractions = tuple(completion_fractions)
        self.completions_per_image = completions_per_image
        self._optimizer, self._scheduler = optimizer, scheduler

    def build_network(self, network: Callable[..., nn.Module], levels: int, out_channels: int) -> nn.Module:
        return network(shape=self.data_shape, levels=levels, out_channels=out_channels,
                       **({"ordered": True} if self.ordered else {}))

    @property
    def held_out_metric_names(self) -> tuple[str, ...]:
        return ("nll_gaussian", "mse") if self.output == "gaussian" else ("nll", "bpd")

    @property
    def picture_names(self) -> tuple[str, ...]:
        return tuple(f"completion_{round(100 * f)}" for f in self.completion_fractions)

    # --- data <-> discrete values -----------------------------------------------------------------
    def to_levels(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] -> the discrete values the model predicts (N, out_channels, H, W): the
        nearest of ``levels`` evenly spaced values per channel, or the nearest palette colour's index."""
        if self.palette is not None:
            d = ((x.float().unsqueeze(1) - self.palette[None, :, :, None, None]) ** 2).sum(2)  # (N, K, H, W)
            return d.argmin(1, keepdim=True)
        return torch.round((x.float().clamp(-1, 1) + 1) / 2 * (self.levels - 1)).long()

    def to_values(self, idx: torch.Tensor) -> torch.Tensor:
        """Discrete values -> images in [-1, 1] (palette indices -> their colours)."""
        if self.palette is not None:
            return self.palette[idx[:, 0]].movedim(-1, 1)
        return idx.float() / (self.levels - 1) * 2 - 1

    def quantise(self, x: torch.Tensor) -> torch.Tensor:
        """What the net reads: the image snapped to the values the model predicts (raw for gaussian)."""
        if self.output == "gaussian":
            return x
        return self.to_values(self.to_levels(x)).to(x.dtype)

    # --- the likelihood --------------------------------------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, levels, out_channels, H, W) logits of every value given the pixels before it (gaussian:
        levels is 1, the mean)."""
        return at_least_float32(self.network(self.quantise(x)))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) per image, in nats: exact for the categorical output; for the gaussian one a density
        over [-1, 1]-scaled values (not comparable with a discrete likelihood)."""
        if self.output == "gaussian":
            return -self.gaussian_terms(x)[0]
        ce = F.cross_entropy(self.logits(x), self.to_levels(x), reduction="none")
        return -ce.flatten(1).sum(1)

    def gaussian_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(negative log density, squared error) per image of the gaussian output."""
        err2 = (self.logits(x)[:, 0] - x.float()) ** 2
        log_sigma = self.log_sigma.float()[None, :, None, None]
        nll = 0.5 * err2 * torch.exp(-2 * log_sigma) + log_sigma + 0.5 * math.log(2 * math.pi)
        return nll.flatten(1).sum(1), err2.flatten(1).sum(1)

    def held_out_metrics(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        if self.output == "gaussian":
            nll, err2 = self.gaussian_terms(batch[0])
            return {"nll_gaussian": nll, "mse": err2 / math.prod(self.data_shape)}
        nll = -self.log_prob(batch[0])
        return {"nll": nll, "bpd": nll / (math.prod(self.data_shape) * math.log(2))}

    # --- sampling (the contract) ---------------------------------------------------------------------
    def draw_noise(self, n: int, rng: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One uniform per value: the value is the level where the CDF first exceeds it (inverse CDF;
        for the gaussian output, the mean plus sigma times the normal quantile of it)."""
        dev = rng.device if rng is not None else self.device
        return {"u": torch.rand(n, *self.data_shape, generator=rng, device=dev)}

    def sample_given(self, noise: dict[str, torch.Tensor], y: torch.Tensor | None = None,
                     source: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        u = noise["u"]
        canvas = torch.full(u.shape, -1.0, dtype=next(self.network.parameters()).dtype, device=u.device)
        return self.complete(canvas, u, start_row=0)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, u: torch.Tensor, start_row: int) -> torch.Tensor:
        """Fill pixels from row ``start_row`` on, one at a time in raster order (rows above are kept)."""
        x = self.quantise(x).clone()
        if self.sampler == "cached":
            cache = self.network.incremental(x)
            x, logits_at = cache.canvas, cache.at
        else:
            logits_at = lambda i, j: self.network(x)[:, :, :, i, j]  # noqa: E731  the whole net once per pixel
        _, _, h, w = x.shape
        for i in range(h):
            for j in range(w):
                if self.sampler == "naive" and i < start_row:
                    continue  # the naive sampler keeps no state: nothing to run for the visible rows
                if i < start_row:
                    logits_at(i, j)  # the cached sampler's state moves on over the visible rows
                elif self.ordered:  # R, then G given R, then B given both: a net pass per value
                    for c in range(x.shape[1]):
                        x[:, c, i, j] = self.draw_pixel(at_least_float32(logits_at(i, j)), u[:, :, i, j])[:, c].to(x.dtype)
                else:
                    x[:, :, i, j] = self.draw_pixel(at_least_float32(logits_at(i, j)), u[:, :, i, j]).to(x.dtype)
        return x.clone()

    def draw_pixel(self, logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """One pixel's values (N, C) in [-1, 1] from its logits (N, levels, out_channels) and uniforms
        (N, C)."""
        if self.output == "gaussian":
            mean = logits[:, 0]
            if self.sample_mode == "argmax":
                return mean.clamp(-1, 1)
            z = math.sqrt(2) * torch.erfinv(u.double().clamp(1e-12, 1 - 1e-12) * 2 - 1)
            sigma = self.log_sigma.double().exp() * self.temperature
            return (mean.double() + sigma * z).clamp(-1, 1)
        idx = torch.stack([self.pick(logits[:, :, c], u[:, c]) for c in range(logits.shape[2])], 1)
        return self.to_values(idx[:, :, None, None])[:, :, 0, 0]

    def pick(self, logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """A level per row of ``logits`` (N, levels): inverse CDF at ``u`` at this temperature, or argmax."""
        if self.sample_mode == "argmax":
            return logits.argmax(1)
        cdf = torch.softmax(logits.double() / self.temperature, 1).cumsum(1)
        return torch.searchsorted(cdf, u.double().unsqueeze(1)).squeeze(1).clamp(max=self.levels - 1)

    @torch.no_grad()
    def pictures(self, batch: tuple[torch.Tensor, ...], rng: torch.Generator) -> dict[str, tuple[torch.Tensor, int]]:
        """C22: for each hidden share f, rows of [the input with its lower f hidden (grey), completions,
        the original] for up to 8 held-out images."""
        x = batch[0][:8]
        n, k = len(x), self.completions_per_image
        out = {}
        for f, name in zip(self.completion_fractions, self.picture_names):
            start = self.data_shape[1] - max(1, round(f * self.data_shape[1]))
            shown = x.clone()
            shown[:, :, start:] = 0.0
            u = torch.rand(n * k, *self.data_shape, generator=rng).to(x.device)
            filled = self.complete(x.repeat_interleave(k, 0), u, start).view(n, k, *self.data_shape)
            out[name] = (torch.cat([shown.unsqueeze(1), filled, x.unsqueeze(1)], 1).flatten(0, 1), k + 2)
        return out

    # --- training -------------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx: int) -> None:
        out = self.minimise(lambda: self.training_losses(batch[0]))
        self.log_step({f"train/{k}": v.detach() for k, v in out.items() if k != "loss"})

    def training_losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``loss``, the mean negative log-likelihood of the batch (nats per image), and what is logged with it."""
        d = math.prod(self.data_shape)
        if self.output == "gaussian":
            nll, err2 = self.gaussian_terms(x)
            loss = nll.mean()
            return {"loss": loss, "nll_gaussian": loss, "mse": err2.detach().mean() / d}
        loss = -self.log_prob(x).mean()
        return {"loss": loss, "nll": loss, "bpd": loss.detach() / (d * math.log(2))}


class PixelRNN(PixelCNN):
    """PixelRNN: ``variant`` row_lstm or diagonal_bilstm (``genzoo.nets.pixelrnn``); everything else
    is PixelCNN's (the likelihood, sampling, completion, held-out metrics)."""

    config_keys = (Key("variant", resume="refused"),)

    def __init__(self, *args, variant: str = "row_lstm", name: str = "pixelrnn", **kwargs) -> None:
        self.variant = variant
        super().__init__(*args, name=name, **kwargs)

    def build_network(self, network: Callable[..., nn.Module], levels: int, out_channels: int) -> nn.Module:
        return network(shape=self.data_shape, levels=levels, out_channels=out_channels, variant=self.variant,
                       **({"ordered": True} if self.ordered else {}))

    def run_name(self) -> str:
        return f"{self.name}_{self.variant}"
