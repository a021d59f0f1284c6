"""The adversarial family (Goodfellow et al. 2014): one module, configured per ``model=`` config.

A generator G maps z ~ N(0, I) (and a class y, when conditional) to samples; a critic D scores
samples. ``loss=`` sets the game: D minimises L_D = d_loss(D(x), D(G(z))) on real x and fakes, G
minimises L_G = g_loss(D(G(z))) (minimax or non-saturating, least squares, Wasserstein, an
f-divergence's variational bound).

The alternating update (Goodfellow et al. 2014, Algorithm 1; WGAN-GP, Algorithm 1): every
``training_step`` is one critic step, theta_D -= opt_D(grad L_D), on that step's real batch and
fresh z, so each critic step sees a fresh real batch; after ``critic_steps(model_step)`` of them,
the same ``training_step`` also takes one generator step, theta_G -= opt_G(grad L_G), on fresh z.
What differs between GAN, WGAN, WGAN-GP, f-GAN and CGAN (loss, penalty, schedule, optimisers,
conditioning) is configuration or a small override.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from genzoo.config_rules import Key, integer
from genzoo.errors import ConfigError
from genzoo.losses import AdversarialLoss
from genzoo.models.base import GenerativeModule, check_loss, counted_steps
from genzoo.models.ema import EMA
from genzoo.nets.conditional import conditional_nets
from genzoo.optim import build_optimizer

#: the averaged generator's BatchNorm statistics come from this many batches of this size (2,048 latents)
STANDING_BATCHES, STANDING_BATCH, STANDING_SEED = 16, 128, 20190212


class GAN(GenerativeModule):
    """The adversarial family. ``conditioning`` (``concat`` | ``projection``; null: unconditional)
    makes any of its models class-conditional: G(z, y), D(x, y), labels ``y`` from the batch."""

    config_keys = (Key("z_dim", integer(1), resume="refused"), Key("conditioning", resume="refused"),
                   Key("label_embed_dim", integer(1), resume="refused"), Key("n_critic", integer(1)),
                   Key("g_batch_size", integer(1), null=True), EMA.config_key)

    ddp_strategy = "ddp_find_unused_parameters_true"
    latent_key = "z"
    net_keys = ("generator", "discriminator")
    uses_loss = True
    optimizer_keys = ("optimizer_g", "optimizer_d")
    data_kinds = ("images", "points", "text")
    #: appended to the incompatible-loss error (CGAN points Wasserstein users to conditional WGAN-GP)
    loss_hint = ""

    def __init__(
        self,
        generator: Callable[..., nn.Module],
        discriminator: Callable[..., nn.Module],
        loss: AdversarialLoss,
        data_shape: Sequence[int],
        optimizer_g: Callable[..., torch.optim.Optimizer],
        optimizer_d: Callable[..., torch.optim.Optimizer],
        z_dim: int = 64,
        n_critic: int = 1,
        g_batch_size: int | None = None,
        compatible_losses: Sequence[str] | None = None,
        num_classes: int | None = None,
        conditioning: str | None = None,
        label_embed_dim: int = 32,
        name: str = "gan",
        scheduler_g: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        scheduler_d: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        ema_decay: float | None = None,
        nonfinite: str = "stop",
    ) -> None:
        super().__init__()
        self.set_nonfinite(nonfinite)
        check_loss(name, loss.name, compatible_losses, self.loss_hint)
        if n_critic < 1:
            raise ConfigError(f"model.n_critic must be >= 1, got {n_critic}.")
        if conditioning is None:
            self.generator = generator(shape=tuple(data_shape), z_dim=z_dim)
            self.discriminator = discriminator(shape=tuple(data_shape))
        else:
            self.generator, self.discriminator = conditional_nets(
                generator, discriminator, data_shape, z_dim, num_classes, conditioning, label_embed_dim)
        self.conditioning = conditioning
        self.condition = "none" if conditioning is None else "label"
        self.num_classes = num_classes
        self.loss = loss
        self.data_shape = tuple(data_shape)
        self.z_dim = z_dim
        self.n_critic = n_critic
        self.g_batch_size = g_batch_size
        self._optimizer_g, self._optimizer_d = optimizer_g, optimizer_d
        self._scheduler_g, self._scheduler_d = scheduler_g, scheduler_d
        self.name = name
        self.d_since_g = 0  # critic steps taken since the last generator step
        # EMA of the generator only (not the critic); sampling and evaluation use it when present.
        self.ema = (EMA({"generator": self.generator}, ema_decay, standing_statistics=True)
                    if ema_decay is not None else None)

    # --- schedule -----------------------------------------------------------------------------
    def critic_steps(self, model_step: int) -> int:
        """Critic steps before generator step number ``model_step`` (0-based)."""
        return self.n_critic

    def lightning_steps(self, model_steps: int) -> int:
        if model_steps < 0:
            return -1
        return sum(self.critic_steps(g) + 1 for g in range(model_steps))

    def lightning_steps_left(self, counters: dict[str, int], model_steps: int) -> int:
        start = counted_steps(counters)
        return max(0, sum(self.critic_steps(g) + 1 for g in range(start, model_steps)) - int(counters.get("d_since_g", 0)))

    def counters(self) -> dict[str, int]:
        return {"model_step": self.model_step, "d_since_g": self.d_since_g}

    def run_name(self) -> str:
        return f"{self.name}-{self.loss.name}"

    def scheduled_optimizers(self) -> tuple[str, ...]:
        return tuple(k for k, s in zip(self.optimizer_keys, (self._scheduler_g, self._scheduler_d)) if s is not None)

    # --- networks with or without labels ------------------------------------------------------------
    def generate(self, z: torch.Tensor, y: torch.Tensor | None = None, generator: nn.Module | None = None) -> torch.Tensor:
        g = self.generator if generator is None else generator
        return g(z) if y is None else g(z, y)

    def critic(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.discriminator(x) if y is None else self.discriminator(x, y)

    def labels(self, n: int, like: torch.Tensor | None = None) -> torch.Tensor | None:
        """Class labels for ``n`` generated samples (None when unconditional): drawn from ``like``, a
        real batch's labels (so fakes follow the data's class frequencies), else uniformly."""
        if not self.conditional:
            return None
        if like is not None:
            return like[torch.randint(len(like), (n,), device=like.device)]
        return torch.randint(self.num_classes, (n,), device=self.device)

    # --- sampling (the family contract) -----------------------------------------------------------
    def latents(self, n: int) -> torch.Tensor:
        """z for ``n`` samples from the global generator (training's draws)."""
        return self.draw_noise(n)["z"]

    def weight_average(self) -> EMA | None:
        return self.ema

    def sample_given(self, noise: dict[str, torch.Tensor], y: torch.Tensor | None = None,
                     source: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        """G(z) (or G(z, y)), with the EMA generator when there is one (``ema=False``: the trained weights)."""
        g = self.generator
        if ema and self.ema is not None:
            g = self.ema["generator"]
            self.ema.recalibrate("generator", self._standing_pass)
        return self.generate(noise["z"], y, g)

    @torch.no_grad()
    def _standing_pass(self, net: nn.Module) -> None:
        """The batches the averaged generator's BatchNorm statistics are computed on (``EMA.recalibrate``):
        ``STANDING_BATCHES`` x ``STANDING_BATCH`` latents (every class equally often for a conditional
        G) from a private seeded generator, so the statistics depend only on the averaged weights."""
        g = torch.Generator(device=self.device).manual_seed(STANDING_SEED)
        for _ in range(STANDING_BATCHES):
            z = torch.randn(STANDING_BATCH, self.z_dim, generator=g, device=self.device)
            y = torch.arange(STANDING_BATCH, device=self.device) % self.num_classes if self.conditional else None
            self.generate(z, y, net)

    # --- training ----------------------------------------------------------------------------------
    def configure_optimizers(self):
        opts = [build_optimizer(self._optimizer_g, self.generator.parameters()),
                build_optimizer(self._optimizer_d, self.discriminator.parameters())]
        scheds = [make(opt) for make, opt in zip((self._scheduler_g, self._scheduler_d), opts) if make is not None]
        return (opts, scheds) if scheds else opts

    def after_critic_step(self) -> None:
        """Called after every critic optimiser step (WGAN clips the critic's weights here)."""

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor,
                           y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The critic's objective; returns the loss to minimise under "loss/d" plus diagnostics
        (and the loss's own estimate: the Wasserstein distance, the f-divergence bound)."""
        real_out, fake_out = self.critic(real, y), self.critic(fake, y)
        d_loss = self.loss.d_loss(real_out, fake_out)
        return {"loss/d": d_loss, "d/real": real_out.detach().mean(), "d/fake": fake_out.detach().mean(),
                **self.loss.estimates(real_out.detach(), fake_out.detach())}

    def generator_loss(self, n: int, y_real: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        y = self.labels(n, like=y_real)
        return {"loss/g": self.loss.g_loss(self.critic(self.generate(self.latents(n), y), y))}

    def training_step(self, batch, batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        real = batch[0]
        y = None
        if self.conditional:
            if len(batch) < 2:
                raise ConfigError(f"model={self.name} is conditional but the batches carry no labels y.")
            y = batch[1]
        # a critic step: this batch's reals against fresh fakes of the same classes
        metrics = self.optimize(opt_d, lambda: self.discriminator_loss(real, self.fakes(real.shape[0], y), y),
                                key="loss/d", network="discriminator")
        self.after_critic_step()
        self.d_since_g += 1
        if self.d_since_g >= self.critic_steps(self.model_step):  # then a generator step, on fresh z
            g_batch = self.g_batch_size or real.shape[0]
            metrics = {**metrics, **self.optimize(opt_g, lambda: self.generator_loss(g_batch, y), key="loss/g",
                                                  network="generator")}
            self.d_since_g = 0
            self.model_step_done()
        self.log_step({k: v.detach() for k, v in metrics.items()})

    @torch.no_grad()
    def fakes(self, n: int, y: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` generated samples (of classes ``y``) for a critic step: no gradients flow to G."""
        return self.generate(self.latents(n), y)

    def critic_net(self) -> nn.Module:
        return self.discriminator


class FGAN(GAN):
    """f-GAN (Nowozin et al. 2016): the adversarial family with an f-divergence loss, which logs the
    critic's variational estimate of D_f(P_data || P_G) as ``divergence/<name>``. Nothing in the
    update differs from GAN's; the class exists so that ``model=fgan`` names what it trains."""


class CGAN(GAN):
    """Conditional GAN (Mirza and Osindero 2014): G(z, y) and D(x, y), conditioned by label
    embedding (G) and by concatenation or projection (D, Miyato and Koyama 2018); trained with any
    loss that needs no Lipschitz constraint (GAN losses, every f-divergence). For a conditional
    WGAN-GP or WGAN use ``model=wgan_gp model.conditioning=projection``."""

    loss_hint = (" For a conditional Wasserstein GAN use `model=wgan_gp model.conditioning=projection` "
                 "(or concat), which adds the gradient penalty the Wasserstein loss needs.")

    def __init__(self, *args, conditioning: str | None = "projection", **kwargs) -> None:
        if conditioning is None:
            raise ConfigError("model=cgan is conditional by definition: set model.conditioning=projection|concat "
                              "(or use model=gan for an unconditional GAN).")
        super().__init__(*args, conditioning=conditioning, **kwargs)
