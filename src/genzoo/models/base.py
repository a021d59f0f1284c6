"""What every genzoo family shares: the contract callbacks and CLIs use (``GenerativeModule``), its
declarations, the sampling API, held-out metrics and pictures. Mixed in from their own modules: the guarded
optimiser step, the end of a model step and the non-finite guard (``genzoo.models.guard``), exact
resume (``genzoo.models.resume_state``) and the speed options (``genzoo.models.speed``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl
import torch

from genzoo.config_rules import NON_NEGATIVE, POSITIVE, Check, Key, declared
from genzoo.errors import ConfigError
from genzoo.models.guard import GuardedSteps
from genzoo.models.resume_state import ExactResume, counted_steps  # noqa: F401  (genzoo.models.base.counted_steps)
from genzoo.models.speed import SpeedOptions
from genzoo.optim import build_optimizer

if TYPE_CHECKING:
    from genzoo.models.ema import EMA


def check_loss(model: str, loss: str, compatible: Sequence[str] | None, hint: str = "") -> None:
    """Refuse a ``loss=`` that ``model=`` does not train with (its ``model.compatible_losses``), naming those it does."""
    if compatible is not None and loss not in compatible:
        raise ConfigError(f"model={model} does not train with loss={loss}. Losses that fit model={model}: "
                          f"{', '.join(compatible)} (for example `model={model} loss={compatible[0]}`)." + hint)


class GenerativeModule(GuardedSteps, ExactResume, SpeedOptions, pl.LightningModule):
    """Base of every family, and the one contract callbacks and CLIs use to talk to a family.

    A family declares (class attributes, or set in ``__init__``):

    - ``data_shape``: the shape of one sample (C, H, W images; (2,) toy points);
    - ``condition``: what a sample is conditioned on: ``"none"``, ``"label"`` (a class index in
      ``range(num_classes)``) or ``"image"`` (a source image of the data's shape: translation);
    - ``directions``: an image-conditional family's translation directions (``"AtoB"``: source
      images of the data's domain A, samples in domain B; the data then has ``domain("A")`` etc.);
    - ``latent_key``: the key of ``draw_noise``'s output that is a Gaussian latent worth
      interpolating (``"z"`` for GAN and VAE), or None (PixelRNN, CycleGAN);
    - ``held_out_metric_names``: the names ``held_out_metrics`` returns (none for GANs);
    - ``name``: the ``model=`` name, used in run names and messages;
    - ``net_keys`` and ``uses_loss``: which parts of the config ``build_model`` hands it (every
      family also gets ``data_shape`` and ``num_classes``).

    and implements:

    - ``draw_noise(n, rng)``: the random inputs of ``n`` samples, drawn only from
      ``rng`` (a private ``torch.Generator``: the same seed gives the same grid);
    - ``sample_given(noise, y, source, ema)``: samples from those inputs (with the averaged weights
      where the family keeps them and ``ema`` is true); an image-conditional family's takes
      ``direction`` too;
    - optionally ``held_out_metrics(batch)`` (per-example values, averaged by the spine over the
      held-out split) and ``pictures(batch, rng)`` (reconstructions, completions, ...; their
      names in ``picture_names``);
    - optionally ``weight_average()``: its weight average (an ``EMA``), which sampling uses by default.

    Its ``training_step`` takes each optimiser step with ``optimize`` (the one guarded step,
    ``genzoo.models.guard``) and ends each model step with ``model_step_done``.

    ``model_step`` counts *model steps*: generator steps for the adversarial families, optimiser
    steps of the model for the others. It is the unit of run length (``trainer.max_steps``), of
    the logging x-axis and of every callback's cadence. Lightning's ``global_step`` counts every
    optimiser step (a GAN takes k critic steps + 1 generator step per model step).
    """

    #: the ``model.*`` keys every family takes (``genzoo.config_rules``; a family declares its own next to its
    #: code): the optimisers' hyperparameters, the speed options (the same maths) and the family's name
    config_keys: tuple[Key, ...] = (
        Key("*.lr", POSITIVE), Key("*.weight_decay", NON_NEGATIVE), Key("name", resume="refused"),
        Key("compatible_losses", resume="silent"), Key("compile", resume="silent"),
        Key("channels_last", resume="silent"))
    #: rules across keys (``Check``) the family's config must keep
    config_checks: tuple[Check, ...] = ()
    #: the options ``eval.py`` may set for one evaluation (``held_out.<name>=...``; ``set_evaluation_option``)
    evaluation_keys: tuple[Key, ...] = ()
    #: the ``model.*`` options that change only how samples are drawn, never what the weights mean (PixelCNN's
    #: temperature): sample.py takes them for its samples (``model.<name>=...``) and refuses every other key
    sampling_keys: tuple[Key, ...] = ()

    #: Strategy train.py picks for several devices. Alternating updates leave one network's
    #: parameters without gradients in each backward, which plain DDP refuses.
    ddp_strategy = "ddp"
    name = "model"
    data_shape: tuple[int, ...] = ()
    condition = "none"
    num_classes: int | None = None
    latent_key: str | None = None
    #: the size of the standard Gaussian latent ``latent_key`` names (``draw_noise``'s default)
    z_dim = 0
    directions: tuple[str, ...] = ()
    held_out_metric_names: tuple[str, ...] = ()
    picture_names: tuple[str, ...] = ()
    #: what ``build_model`` passes besides ``data_shape`` and ``num_classes``: the keys of the
    #: ``net=`` config this family takes, and whether it takes a ``loss=``
    net_keys: tuple[str, ...] = ()
    uses_loss = False
    #: whether ``build_model`` passes ``palette`` (the data's (K, C) colours, ``data.palette_size``): a
    #: family that takes it models palette indices; the others see the quantised images as they are
    takes_palette = False
    #: the ``model.<key>`` config of each optimiser, in ``configure_optimizers`` order (resume rules)
    optimizer_keys: tuple[str, ...] = ()
    #: the kinds of data the family trains on (``GenDataModule.data_kind``); the spine refuses other data first
    data_kinds: tuple[str, ...] = ("images",)
    #: the bound weight clipping holds the critic's weights to (WGAN), or None
    clip_value: float | None = None

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.model_step = 0
        self.last_metrics: dict[str, torch.Tensor] = {}
        #: optimiser hyperparameters a resumed run changed (index -> {name: value}); see genzoo.resume
        self.resume_overrides: dict[int, dict[str, Any]] = {}
        #: what a non-finite loss does: "stop" the run (checked without a host sync on logging steps
        #: and before every checkpoint) or "skip_step" (checked at once: one sync per optimiser step)
        self.nonfinite = "stop"
        self.skipped_steps = 0
        self._first_nonfinite: dict[str, torch.Tensor] = {}
        #: set when SIGTERM/SIGINT stopped the run (``genzoo.callbacks.Preemption``)
        self.interrupted: str | None = None
        #: ``model.compile`` (a torch.compile backend, None: eager) and ``model.channels_last``; see ``speed_options``
        self.compile_backend: str | None = None
        self.channels_last = False

    # --- what callers may ask -----------------------------------------------------------------
    @property
    def has_average(self) -> bool:
        """Whether the family keeps a weight average (EMA) that sampling uses by default (``ema=True``);
        the sample metrics then score the trained weights too, under names ending in ``/raw``."""
        return self.weight_average() is not None

    def weight_average(self) -> EMA | None:
        """The family's weight average (an ``EMA`` of some of its nets, keyed by their attribute names), or
        None. Sampling uses it by default, ``model_step_done`` updates it, ``nets()`` leaves it out."""
        return None

    @property
    def conditional(self) -> bool:
        """Class-conditional (``sample(y=...)`` generates class y)."""
        return self.condition == "label"

    def critic_net(self) -> torch.nn.Module | None:
        """The one network that scores samples of the data (a GAN's discriminator, called ``critic(x)`` or
        ``critic_net()(x, y)`` for a class-conditional family), for the critic diagnostics; None where a family has
        none, or several that score different data (CycleGAN's two domains)."""
        return None

    def run_name(self) -> str:
        """The model part of a run's name (the adversarial family adds its loss)."""
        return self.name

    def scheduled_optimizers(self) -> tuple[str, ...]:
        """The ``optimizer_keys`` whose learning rate a scheduler owns (a resume may not change their ``lr``)."""
        return ()

    def evaluation_options(self) -> dict[str, Any]:
        """The declared evaluation options (``evaluation_keys``) and their values now, by the names eval.py
        records them under."""
        return {k.recorded_as or k.name: getattr(self, k.name) for k in declared(type(self), "evaluation_keys").values()}

    def set_evaluation_option(self, name: str, value: Any) -> None:
        """Set one evaluation option (``python src/eval.py held_out.<name>=<value>``); an option the family does
        not declare, or a value its rule refuses, is one ConfigError line."""
        keys = declared(type(self), "evaluation_keys")
        if name not in keys:
            raise ConfigError(f"held_out.{name}={value}: model={self.name} has no evaluation option {name} (its "
                              f"options: {', '.join(f'held_out.{k}' for k in keys) or 'none'}); drop the override.")
        if problem := keys[name].problem(value, f"held_out.{name}"):
            raise ConfigError(problem + ".")
        setattr(self, name, value)

    # --- run length --------------------------------------------------------------------------
    def lightning_steps(self, model_steps: int) -> int:
        """Lightning optimiser steps (``global_step``) taken by ``model_steps`` model steps."""
        return model_steps

    def lightning_steps_left(self, counters: dict[str, int], model_steps: int) -> int:
        """Lightning optimiser steps still to take from a checkpoint's ``counters`` to ``model_steps``
        model steps, under this run's schedule (which a resumed run may have changed)."""
        return max(0, model_steps - counted_steps(counters))

    # --- sampling ---------------------------------------------------------------------------------
    def draw_noise(self, n: int, rng: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """By default a standard Gaussian latent of ``z_dim`` dimensions under ``latent_key`` (GAN, VAE)."""
        if self.latent_key is None:
            raise NotImplementedError(f"{type(self).__name__} has no Gaussian latent: it implements draw_noise")
        dev = rng.device if rng is not None else self.device
        return {self.latent_key: torch.randn(n, self.z_dim, generator=rng, device=dev)}

    def sample_given(self, noise: dict[str, torch.Tensor], y: torch.Tensor | None = None,
                     source: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int | None = None, *, noise: dict[str, torch.Tensor] | None = None,
               y: torch.Tensor | None = None, source: torch.Tensor | None = None,
               rng: torch.Generator | None = None, ema: bool = True,
               direction: str | None = None) -> torch.Tensor:
        """``n`` samples (or one per given label, source image or noise row).

        Label-conditional families draw uniform classes when ``y`` is None; image-conditional ones
        need ``source`` (translated in ``direction``, one of ``directions``; the first by default).
        Random inputs come from ``noise`` if given, else from ``rng`` (the global RNG when None).
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
            noise = self.draw_noise(n, rng)
        dev = self.device
        noise = {k: v.to(dev) for k, v in noise.items()}
        if self.condition == "label":
            y = (torch.randint(self.num_classes, (n,), generator=rng, device=rng.device if rng
                               is not None else dev) if y is None else torch.as_tensor(y))
            y = y.to(dev)
        if source is not None:
            source = source.to(dev)
            if not self.directions:  # a translator of one kind of image
                return self.sample_given(noise, source=source, ema=ema)
            return self.sample_given(noise, source=source, ema=ema, direction=direction or self.directions[0])
        return self.sample_given(noise, y=y, source=source, ema=ema)

    # --- held-out metrics and pictures ------------------------------------------------------------
    def held_out_metrics(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        """Per-example values (shape (B,)) of ``held_out_metric_names`` on a held-out batch; the spine
        averages them over the held-out split (``HeldOutMetrics`` callback, ``eval.py``). A metric
        that applies to some examples only returns values for those (shape (k,), k <= B)."""
        return {}

    def pictures(self, batch: tuple[torch.Tensor, ...], rng: torch.Generator) -> dict[str, tuple[torch.Tensor, int]]:
        """Pictures beyond samples, made from a fixed held-out batch: name -> (images in [-1, 1], images
        per row). Saved and logged with the sample grids (none for GANs)."""
        return {}

    # --- the networks (the speed options' targets, and the default of a guarded step's buffers) ------------
    def nets(self) -> list[torch.nn.Module]:
        """The family's networks: its direct submodules that hold parameters, but its weight average."""
        average = self.weight_average()
        return [m for m in self.children() if m is not average and next(m.parameters(), None) is not None]

    # --- the start of training: resumed hyperparameters, multi-process noise ---------------------------
    def on_train_start(self) -> None:
        if self.resume_overrides:
            self.apply_resume_overrides()
        # Every rank starts from the same seed (or restored state); give each its own noise stream,
        # or all ranks would draw identical z and the global fake batch would repeat itself.
        if self.trainer.world_size > 1:
            draw = int(torch.randint(0, 2**62, (1,)).item())
            torch.manual_seed(draw + self.trainer.global_rank)


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 network outputs (autocast) -> float32 for likelihoods and bounds; float64 stays float64."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


class SingleOptimizerModule(GenerativeModule):
    """A family trained with one optimiser (and optionally one scheduler) over all its parameters,
    one optimiser step per model step: the likelihood families (VAE, PixelCNN). A subclass sets
    ``self._optimizer`` and ``self._scheduler`` (the config's partials) and calls ``minimise``."""

    optimizer_keys = ("optimizer",)
    _optimizer: Any
    _scheduler: Any = None

    def scheduled_optimizers(self) -> tuple[str, ...]:
        return self.optimizer_keys if self._scheduler is not None else ()

    def configure_optimizers(self):
        opt = build_optimizer(self._optimizer, self.parameters())
        return ([opt], [self._scheduler(opt)]) if self._scheduler is not None else opt

    def minimise(self, losses: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """One model step: one guarded optimiser step on ``losses()["loss"]`` (``optimize``), then
        ``model_step_done``. Returns ``losses()``'s dict."""
        out = self.optimize(self.optimizers(), losses, key="loss", network="model")
        self.model_step_done()
        return out
