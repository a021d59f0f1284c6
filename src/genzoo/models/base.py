"""What every genzoo family shares: step counters, exact-resume state, the sampling API."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from genzoo import lightning_compat
from genzoo.config_rules import NON_NEGATIVE, POSITIVE, Check, Key, declared
from genzoo.errors import ConfigError


def _numpy_state_to_safe(state: tuple) -> dict[str, Any]:
    """NumPy's RNG state in types that ``torch.load(weights_only=True)`` accepts."""
    name, keys, pos, has_gauss, cached = state
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached": float(cached)}


def _numpy_state_from_safe(state: dict[str, Any]) -> tuple:
    return (state["name"], state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"], state["cached"])


def _inputs_channels_last(module: torch.nn.Module, args: tuple) -> tuple:
    """Forward pre-hook of ``model.channels_last``: 4-D inputs (image batches) in channels_last layout
    (a no-op for those already in it); a module-level function, so a spawned DDP process can pickle it."""
    return tuple(a.contiguous(memory_format=torch.channels_last) if torch.is_tensor(a) and a.ndim == 4 else a
                 for a in args)


def counted_steps(counters: dict[str, int]) -> int:
    """The model step of a checkpoint's counters (``g_step`` in checkpoints before the rename)."""
    return int(counters.get("model_step", counters.get("g_step", 0)))


class GenerativeModule(pl.LightningModule):
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

    - ``draw_noise(n, generator)``: the random inputs of ``n`` samples, drawn only from
      ``generator`` (a private ``torch.Generator``: the same seed gives the same grid);
    - ``sample_given(noise, y, source, ema)``: samples from those inputs (with the averaged weights
      where the family keeps them and ``ema`` is true); an image-conditional family's takes
      ``direction`` too;
    - optionally ``held_out_metrics(batch)`` (per-example values, averaged by the spine over the
      held-out split) and ``pictures(batch, generator)`` (reconstructions, completions, ...; their
      names in ``picture_names``).

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

    #: Strategy train.py picks for several devices. Alternating updates leave one network's
    #: parameters without gradients in each backward, which plain DDP refuses.
    ddp_strategy = "ddp"
    name = "model"
    data_shape: tuple[int, ...] = ()
    condition = "none"
    num_classes: int | None = None
    latent_key: str | None = None
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
        return getattr(self, "ema", None) is not None

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

    def scheduled_optimizers(self) -> tuple[str, ...]:
        """The ``optimizer_keys`` whose learning rate a scheduler owns (a resume may not change their ``lr``)."""
        return ()

    # --- run length --------------------------------------------------------------------------
    def lightning_steps(self, model_steps: int) -> int:
        """Lightning optimiser steps (``global_step``) taken by ``model_steps`` model steps."""
        return model_steps

    def lightning_steps_left(self, counters: dict[str, int], model_steps: int) -> int:
        """Lightning optimiser steps still to take from a checkpoint's ``counters`` to ``model_steps``
        model steps, under this run's schedule (which a resumed run may have changed)."""
        return max(0, model_steps - counted_steps(counters))

    # --- sampling ---------------------------------------------------------------------------------
    def draw_noise(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def sample_given(self, noise: dict[str, torch.Tensor], y: torch.Tensor | None = None,
                     source: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int | None = None, *, noise: dict[str, torch.Tensor] | None = None,
               y: torch.Tensor | None = None, source: torch.Tensor | None = None,
               generator: torch.Generator | None = None, ema: bool = True,
               direction: str | None = None) -> torch.Tensor:
        """``n`` samples (or one per given label, source image or noise row).

        Label-conditional families draw uniform classes when ``y`` is None; image-conditional ones
        need ``source`` (translated in ``direction``, one of ``directions``; the first by default).
        Random inputs come from ``noise`` if given, else from ``generator`` (the global RNG when None).
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
        due = lightning_compat.logs_due(trainer)
        if due or last:
            self.raise_if_diverged()
            if self.skipped_steps:
                metrics = {**metrics, "nonfinite/skipped_steps": torch.tensor(float(self.skipped_steps))}
        if due:
            self.log_dict(metrics, prog_bar=prog_bar, on_step=True, on_epoch=False)
            self.log("model_step", float(self.model_step), on_step=True, on_epoch=False)
        elif last:  # Lightning writes self.log only on its logging steps: the last step goes in directly
            from genzoo.callbacks.metrics import log_metrics_now

            if trainer.is_global_zero:
                log_metrics_now(trainer, {k: float(v) for k, v in metrics.items()}, self.model_step)

    # --- speed options (model.compile, model.channels_last) ---------------------------------------------
    def nets(self) -> list[torch.nn.Module]:
        """The family's networks: its direct submodules that hold parameters, but a weight average (EMA)."""
        from genzoo.models.ema import EMA

        return [m for m in self.children() if not isinstance(m, EMA) and next(m.parameters(), None) is not None]

    def speed_options(self, compile: bool | str = False, channels_last: bool = False) -> None:
        """``channels_last``: every 4-D weight, and every image batch a net is given, in the channels_last
        layout (faster convolutions on tensor cores; the same maths). ``compile``: torch.compile each of
        ``nets()`` in place (``nn.Module.compile``: state dict keys unchanged, so checkpoints load either
        way) when fitting starts; true means the default backend (inductor), a string names another."""
        if compile is True:
            compile = "inductor"
        if compile not in (False, None):
            from torch._dynamo import list_backends

            backends = list_backends(exclude_tags=())
            if not isinstance(compile, str) or compile not in backends:
                raise ConfigError(f"model.compile={compile!r}: choose false, true (inductor) or a torch.compile backend: "
                                  f"{', '.join(backends)}.")
        if not isinstance(channels_last, bool):
            raise ConfigError(f"model.channels_last={channels_last!r}: choose true or false.")
        self.compile_backend = compile or None
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)  # 4-D weights only; the EMA's copies too
            for net in self.nets():
                net.register_forward_pre_hook(_inputs_channels_last)

    def on_fit_start(self) -> None:
        # compiled here, not when built: a spawned DDP process pickles the module, and compiled code does not pickle
        if self.compile_backend is not None:
            import torch._dynamo.config as dynamo_config

            nets = self.nets()
            # every nn.Module.compile shares one code object (Module._call_impl) and so one recompile limit (8):
            # past it, further variants (another net, eval mode, no_grad, a new batch size) would run eager
            dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 8 * len(nets))
            for net in nets:
                if getattr(net, "_compiled_call_impl", None) is None:
                    net.compile(backend=self.compile_backend)

    # --- non-finite guard ---------------------------------------------------------------------------
    def set_nonfinite(self, mode: str) -> None:
        if mode not in ("stop", "skip_step"):
            raise ConfigError(f"model.nonfinite={mode!r}: choose stop (end the run with a message) or skip_step "
                              "(skip optimiser steps whose loss is not finite).")
        self.nonfinite = mode

    def buffer_snapshot(self, *nets: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """In ``skip_step`` mode, copies of the nets' buffers (BatchNorm statistics) taken before a
        forward pass, so a skipped step leaves no trace; None (free) otherwise."""
        if self.nonfinite != "skip_step":
            return None
        return [(b, b.detach().clone()) for net in nets for b in net.buffers()]

    def _any_rank(self, flag: torch.Tensor) -> torch.Tensor:
        """``flag`` summed over ranks (every rank calls this at the same point: the ranks agree)."""
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1:
            return trainer.strategy.reduce(flag, reduce_op="sum")
        return flag

    def finite_or_skip(self, network: str, name: str, loss: torch.Tensor,
                       snapshot: list[tuple[torch.Tensor, torch.Tensor]] | None = None) -> bool:
        """Call before each optimiser step. ``stop``: record, on the device, the first model step where
        ``loss`` is not finite (the run stops at the next check) and go on; ``skip_step``: False (skip
        this step) when ``loss`` is not finite on any rank (the ranks decide together, so DDP's
        gradient all-reduce stays matched), restoring the buffers of ``snapshot``."""
        bad = (~torch.isfinite(loss.detach()).all()).float()
        if self.nonfinite == "skip_step":
            if not bool(self._any_rank(bad.reshape(1)) > 0):
                return True
            for buf, saved in snapshot or []:
                buf.copy_(saved)
            self.skipped_steps += 1
            return False
        key = f"{name} (the {network}'s loss)"
        first = self._first_nonfinite.get(key)
        if first is None:
            first = torch.full((), -1, dtype=torch.long, device=loss.device)
        self._first_nonfinite[key] = torch.where((bad > 0) & (first < 0), torch.full_like(first, self.model_step), first)
        return True

    def raise_if_diverged(self, state_dict: dict[str, Any] | None = None) -> None:
        """Stop with a clear message if a watched loss became non-finite on any rank, or a weight of
        ``state_dict`` is not finite (one host sync; every rank calls it at the same points, so all
        stop together)."""
        keys = sorted(self._first_nonfinite)
        if keys:  # the earliest step on any rank (-1: never), per watched loss
            steps = torch.stack([self._first_nonfinite[k] for k in keys]).float()
            big = torch.where(steps < 0, torch.full_like(steps, float("inf")), steps)
            if self._trainer is not None and self._trainer.world_size > 1:
                big = self._trainer.strategy.reduce(big, reduce_op="min")
            for key, step in zip(keys, big.tolist()):
                if step != float("inf"):
                    from genzoo.checkpoints import NonFiniteError

                    raise NonFiniteError(
                        f"Training diverged: {key} became non-finite at model step {int(step)}, so the run stopped and "
                        "wrote no checkpoint of the diverged weights. Lower the learning rate, or set "
                        "model.nonfinite=skip_step to skip such steps.")
        if state_dict is not None:
            from genzoo.checkpoints import NonFiniteError, first_nonfinite

            bad = first_nonfinite(state_dict)
            if bad is not None:
                raise NonFiniteError(
                    f"Training diverged: the weight {bad} is not finite at model step {self.model_step}, so no "
                    "checkpoint of it was written (the checkpoints on disk are the last good ones). Lower the "
                    "learning rate, or set model.nonfinite=skip_step to skip steps whose loss is not finite.")

    # --- multi-process noise --------------------------------------------------------------------
    def on_train_start(self) -> None:
        # A resumed run's changed optimiser hyperparameters replace the restored ones (said at start).
        if self.resume_overrides:
            opts = self.optimizers()
            opts = opts if isinstance(opts, list) else [opts]
            for i, hyper in self.resume_overrides.items():
                for group in opts[i].param_groups:
                    group.update({k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()})
        # Every rank starts from the same seed (or restored state); give each its own noise stream,
        # or all ranks would draw identical z and the global fake batch would repeat itself.
        if self.trainer.world_size > 1:
            draw = int(torch.randint(0, 2**62, (1,)).item())
            torch.manual_seed(draw + self.trainer.global_rank)

    # --- exact resume ---------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        return {"model_step": self.model_step}

    @staticmethod
    def model_step_of(state: dict[str, Any]) -> int:
        """The model step a checkpoint's genzoo state was saved at."""
        return counted_steps(state["counters"])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.raise_if_diverged(checkpoint.get("state_dict"))  # never a checkpoint of diverged weights
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

    def restore_counters(self, checkpoint: dict[str, Any]) -> None:
        for k, v in checkpoint["genzoo"]["counters"].items():
            setattr(self, {"g_step": "model_step"}.get(k, k), v)  # g_step: checkpoints before the rename

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("genzoo")
        if state is None:
            return
        self.restore_counters(checkpoint)
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():  # as many GPUs as both machines have
            for i, s in enumerate(rng["cuda"][: torch.cuda.device_count()]):
                torch.cuda.set_rng_state(s, i)
        np.random.set_state(_numpy_state_from_safe(rng["numpy"]))
        random.setstate(rng["python"])


def at_least_float32(t: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 network outputs (autocast) -> float32 for likelihoods and bounds; float64 stays float64."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


class SingleOptimizerModule(GenerativeModule):
    """A family trained with one optimiser (and optionally one scheduler) over all its parameters,
    one optimiser step per model step: the likelihood families (VAE, PixelCNN). A subclass sets
    ``self._optimizer`` and ``self._scheduler`` (the config's partials) and calls ``take_step``."""

    optimizer_keys = ("optimizer",)
    _optimizer: Any
    _scheduler: Any = None

    def scheduled_optimizers(self) -> tuple[str, ...]:
        return self.optimizer_keys if self._scheduler is not None else ()

    def configure_optimizers(self):
        opt = self._optimizer(self.parameters())
        return ([opt], [self._scheduler(opt)]) if self._scheduler is not None else opt

    def take_step(self, loss: torch.Tensor, snapshot: list[tuple[torch.Tensor, torch.Tensor]] | None) -> None:
        """Minimise ``loss`` by one optimiser step (skipped or stopped per ``model.nonfinite``; ``snapshot``
        from ``buffer_snapshot`` before the forward pass), count the model step, advance the scheduler."""
        opt = self.optimizers()
        opt.zero_grad(set_to_none=True)
        if self.finite_or_skip("model", "loss", loss, snapshot):
            self.manual_backward(loss)
        opt.step()  # a skipped step has no gradients: it changes nothing, and Lightning still counts it
        self.model_step += 1
        sch = self.lr_schedulers()
        if sch is not None:
            sch.step()
