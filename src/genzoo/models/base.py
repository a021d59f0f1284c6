"""What every genzoo family shares: step counters, exact-resume state, the sampling API."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from genzoo import lightning_compat
from genzoo.errors import ConfigError


def _numpy_state_to_safe(state: tuple) -> dict[str, Any]:
    """NumPy's RNG state in types that ``torch.load(weights_only=True)`` accepts."""
    name, keys, pos, has_gauss, cached = state
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _numpy_state_from_safe(state: dict[str, Any]) -> tuple:
    return (state["name"], state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"], state["cached"])


CONDITIONS = ("none", "label", "image")


class GenerativeModule(pl.LightningModule):
    """Base of every family, and the one contract callbacks and CLIs use to talk to a family.

    A family declares (class attributes, or set in ``__init__``):

    - ``data_shape``: the shape of one sample (C, H, W images; (2,) toy points);
    - ``condition``: what a sample is conditioned on: ``"none"``, ``"label"`` (a class index in
      ``range(num_classes)``) or ``"image"`` (a source image of the data's shape: translation);
    - ``latent_key``: the key of ``draw_noise``'s output that is a Gaussian latent worth
      interpolating (``"z"`` for GAN and VAE), or None (PixelRNN, CycleGAN);
    - ``held_out_metric_names``: the names ``held_out_metrics`` returns (none for GANs);
    - ``name``: the ``model=`` name, used in run names and messages;
    - ``net_keys`` and ``uses_loss``: which parts of the config ``build_model`` hands it (every
      family also gets ``data_shape`` and ``num_classes``).

    and implements:

    - ``draw_noise(n, generator)``: the random inputs of ``n`` samples, drawn only from
      ``generator`` (a private ``torch.Generator``: the same seed gives the same grid);
    - ``sample_given(noise, y, source, ema)``: samples from those inputs (with the averaged weights
      where the family keeps them and ``ema`` is true);
    - optionally ``held_out_metrics(batch)`` (per-example values, averaged by the spine over the
      held-out split) and ``pictures(batch, generator)`` (reconstructions, completions, ...; their
      names in ``picture_names``).

    ``model_step`` counts *model steps*: generator steps for the adversarial families, optimiser
    steps of the model for the others. It is the unit of run length (``trainer.max_steps``), of
    the logging x-axis and of every callback's cadence. Lightning's ``global_step`` counts every
    optimiser step (a GAN takes k critic steps + 1 generator step per model step).
    """

    #: Strategy train.py picks for several devices. Alternating updates leave one network's
    #: parameters without gradients in each backward, which plain DDP refuses.
    ddp_strategy = "ddp"
    name = "model"
    data_shape: tuple[int, ...] = ()
    condition = "none"
    num_classes: int | None = None
    latent_key: str | None = None
    held_out_metric_names: tuple[str, ...] = ()
    picture_names: tuple[str, ...] = ()
    #: what ``build_model`` passes besides ``data_shape`` and ``num_classes``: the keys of the
    #: ``net=`` config this family takes, and whether it takes a ``loss=``
    net_keys: tuple[str, ...] = ()
    uses_loss = False

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.model_step = 0
        self.last_metrics: dict[str, torch.Tensor] = {}

    # --- what callers may ask -----------------------------------------------------------------
    @property
    def conditional(self) -> bool:
        """Class-conditional (``sample(y=...)`` generates class y)."""
        return self.condition == "label"

    def run_name(self) -> str:
        """The model part of a run's name (the adversarial family adds its loss)."""
        return self.name

    # --- run length --------------------------------------------------------------------------
    def lightning_steps(self, model_steps: int) -> int:
        """Lightning optimiser steps (``global_step``) taken by ``model_steps`` model steps."""
        return model_steps

    # --- sampling ---------------------------------------------------------------------------------
    def draw_noise(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample_given(self, noise: dict[str, torch.Tensor], y: torch.Tensor | None = None,
                     source: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int | None = None, *, noise: dict[str, torch.Tensor] | None = None,
               y: torch.Tensor | None = None, source: torch.Tensor | None = None,
               generator: torch.Generator | None = None, ema: bool = True) -> torch.Tensor:
        """``n`` samples (or one per given label, source image or noise row).

        Label-conditional families draw uniform classes when ``y`` is None; image-conditional ones
        need ``source``. Random inputs come from ``noise`` if given, else from ``generator`` (the
        global RNG when None).
        """
        if y is not None and self.condition != "label":
            raise ConfigError(f"model={self.name} is not class-conditional and cannot generate a chosen class; "
                              "train a conditional model (model=cgan, or model.conditioning=projection|concat).")
        if source is not None and self.condition != "image":
            raise ConfigError(f"model={self.name} does not translate images; it takes no source images.")
        if source is None and self.condition == "image":
            raise ConfigError(f"model={self.name} translates images: give it source images to translate.")
        if n is None:
            given = next((len(t) for t in (y, source, *(noise or {}).values()) if t is not None), None)
            if given is None:
                raise ValueError("sample() needs n, or labels, source images or noise to count from")
            n = given
        if noise is None:
            noise = self.draw_noise(n, generator)
        dev = self.device
        noise = {k: v.to(dev) for k, v in noise.items()}
        if self.condition == "label":
            y = (torch.randint(self.num_classes, (n,), generator=generator, device=generator.device if generator
                               is not None else dev) if y is None else torch.as_tensor(y))
            y = y.to(dev)
        if source is not None:
            source = source.to(dev)
        return self.sample_given(noise, y=y, source=source, ema=ema)

    # --- held-out metrics and pictures ------------------------------------------------------------
    def held_out_metrics(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        """Per-example values (shape (B,)) of ``held_out_metric_names`` on a held-out batch; the spine
        averages them over the held-out split (``HeldOutMetrics`` callback, ``eval.py``)."""
        return {}

    def pictures(self, batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> dict[str, tuple[torch.Tensor, int]]:
        """Pictures beyond samples, made from a fixed held-out batch: name -> (images in [-1, 1], images
        per row). Saved and logged with the sample grids (none for GANs)."""
        return {}

    def log_step(self, metrics: dict[str, torch.Tensor], prog_bar: bool = True) -> None:
        """Log per-step scalars, with the model step alongside (the W&B x-axis).

        ``self.log`` costs about 1 ms a call on CPU, several times a small model's step, so scalars
        go to Lightning only on the steps its loggers write (``trainer.log_every_n_steps``) and at
        the last step. ``last_metrics`` always holds the newest values (read by callbacks).
        """
        self.last_metrics = metrics
        trainer = self.trainer
        last = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        if lightning_compat.logs_due(trainer) or last:
            self.log_dict(metrics, prog_bar=prog_bar, on_step=True, on_epoch=False)
            self.log("model_step", float(self.model_step), on_step=True, on_epoch=False)

    # --- multi-process noise --------------------------------------------------------------------
    def on_train_start(self) -> None:
        # Every rank starts from the same seed (or restored state); give each its own noise stream,
        # or all ranks would draw identical z and the global fake batch would repeat itself.
        if self.trainer.world_size > 1:
            draw = int(torch.randint(0, 2**62, (1,)).item())
            torch.manual_seed(draw + self.trainer.global_rank)

    # --- exact resume ---------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        return {"model_step": self.model_step}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["genzoo"] = {
            "config": getattr(self, "run_config", None),  # the resolved run config: eval.py/sample.py rebuild from it
            "counters": self.counters(),
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "numpy": _numpy_state_to_safe(np.random.get_state()),
                "python": random.getstate(),
            },
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("genzoo")
        if state is None:
            return
        for k, v in state["counters"].items():
            setattr(self, {"g_step": "model_step"}.get(k, k), v)  # g_step: checkpoints before the rename
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        np.random.set_state(_numpy_state_from_safe(rng["numpy"]))
        random.setstate(rng["python"])
