"""CycleGAN (Zhu, Park, Isola and Efros 2017; seed claim C19): translation between two image domains
with no paired examples.

Two generators, G_AB: A -> B and G_BA: B -> A, and two critics, D_A (real A images vs G_BA's) and
D_B. One model step is the reference's ``optimize_parameters``:

1. the four generator passes, once: fake_B = G_AB(a), rec_A = G_BA(fake_B), fake_A = G_BA(b),
   rec_B = G_AB(fake_A);
2. one step of one optimiser over both generators on
   L_G = adv(D_B(fake_B)) + adv(D_A(fake_A))                               (fool both critics)
       + lambda_a |rec_A - a|_1 + lambda_b |rec_B - b|_1                   (cycle consistency)
       + lambda_identity (lambda_b |G_AB(b) - b|_1 + lambda_a |G_BA(a) - a|_1)   (identity);
3. one step of one optimiser over both critics on 1/2 [d(D_B(b), D_B(pool_B(fake_B)))] + 1/2 [the
   same for A], reusing step 1's fakes (detached), each drawn through an image pool of past fakes
   (Shrivastava et al. 2017): with the pool full, each fake is swapped with probability 1/2 for a
   stored one, which it replaces.

The adversarial loss is any of genzoo's that needs no penalty: least squares (``loss=lsgan``, the
reference's) or the non-saturating / minimax GAN losses. Learning rates stay constant for
``lr_constant_epochs`` epochs, then fall linearly to zero over ``lr_decay_epochs`` (an epoch is
max(|A|, |B|) images). Each rank of a DDP run keeps its own pools (as each process would in the
reference); checkpoints hold every rank's pools, so a resumed run continues exactly. ``ema_decay``
keeps an average of both generators (off by default, as in the reference), used for translations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn as nn

from genzoo.config_rules import Key
from genzoo.errors import ConfigError
from genzoo.losses import AdversarialLoss
from genzoo.models.base import GenerativeModule, at_least_float32, check_loss, counted_steps
from genzoo.models.ema import EMA
from genzoo.models.image_pool import ImagePool
from genzoo.optim import build_optimizer

DIRECTIONS = ("AtoB", "BtoA")


def lr_factor(epoch: int, constant_epochs: int, decay_epochs: int) -> float:
    """The reference's ``linear`` policy: 1 for the first ``constant_epochs`` epochs (0-based ``epoch``),
    then 1 - k / (decay_epochs + 1) in the k-th epoch after them, reaching 1 / (decay_epochs + 1) in the
    last and 0 after it."""
    return max(0.0, 1.0 - max(0, epoch - constant_epochs + 1) / float(decay_epochs + 1))


class CycleGAN(GenerativeModule):
    # pool_size: the checkpoint holds the pools (its range is ImagePool's to check)
    config_keys = (Key("pool_size", resume="refused"), EMA.config_key)
    ddp_strategy = "ddp_find_unused_parameters_true"  # each optimiser step leaves the other pair without gradients
    condition = "image"
    directions = DIRECTIONS
    net_keys = ("generator", "discriminator")
    uses_loss = True
    optimizer_keys = ("optimizer_g", "optimizer_d")
    data_kinds = ("unpaired_images",)
    held_out_metric_names = ("cycle_l1/AtoB", "cycle_l1/BtoA")
    picture_names = ("translation_AtoB", "translation_BtoA")

    def __init__(
        self,
        generator: Callable[..., nn.Module],
        discriminator: Callable[..., nn.Module],
        loss: AdversarialLoss,
        data_shape: Sequence[int],
        optimizer_g: Callable[..., torch.optim.Optimizer],
        optimizer_d: Callable[..., torch.optim.Optimizer],
        lambda_a: float = 10.0,
        lambda_b: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        lr_constant_epochs: int | None = 100,
        lr_decay_epochs: int = 100,
        compatible_losses: Sequence[str] | None = None,
        num_classes: int | None = None,
        name: str = "cyclegan",
        ema_decay: float | None = None,
        nonfinite: str = "stop",
    ) -> None:
        super().__init__()
        self.set_nonfinite(nonfinite)
        check_loss(name, loss.name, compatible_losses)
        if len(data_shape) != 3:
            raise ConfigError(f"model={name} translates images (C, H, W); the data has shape {tuple(data_shape)}. Use "
                              "unpaired image data: data=unpaired_digits, or data=unpaired data.root=DIR.")
        for key, value in (("lambda_a", lambda_a), ("lambda_b", lambda_b), ("lambda_identity", lambda_identity)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"model.{key}={value!r} must be a number >= 0 (0 switches the term off).")
        if lr_constant_epochs is not None and (lr_constant_epochs < 0 or lr_decay_epochs < 0):
            raise ConfigError("model.lr_constant_epochs and model.lr_decay_epochs must be >= 0 "
                              "(lr_constant_epochs=null: a constant learning rate throughout).")
        self.name = name
        self.data_shape = tuple(data_shape)
        self.loss = loss
        self.g_ab, self.g_ba = generator(shape=self.data_shape), generator(shape=self.data_shape)
        self.d_a, self.d_b = discriminator(shape=self.data_shape), discriminator(shape=self.data_shape)
        self.lambda_a, self.lambda_b, self.lambda_identity = float(lambda_a), float(lambda_b), float(lambda_identity)
        self.pool_a, self.pool_b = ImagePool(pool_size), ImagePool(pool_size)
        self.lr_constant_epochs, self.lr_decay_epochs = lr_constant_epochs, lr_decay_epochs
        self._optimizer_g, self._optimizer_d = optimizer_g, optimizer_d
        self.steps_per_epoch = 1  # set from the training loader when training starts
        # an average of both generators' weights (off in the reference); translations use it when present
        self.ema = EMA({"g_ab": self.g_ab, "g_ba": self.g_ba}, ema_decay) if ema_decay is not None else None

    # --- what the spine asks ------------------------------------------------------------------------
    def run_name(self) -> str:
        return f"{self.name}-{self.loss.name}"

    def scheduled_optimizers(self) -> tuple[str, ...]:
        # none: the linear decay (a LambdaLR) scales a base rate, and a resumed run's new rate becomes that base
        # (``apply_resume_overrides``), as the reference's --continue_train with a new --lr does
        return ()

    def weight_average(self) -> EMA | None:
        return self.ema

    def lightning_steps(self, model_steps: int) -> int:
        return -1 if model_steps < 0 else 2 * model_steps  # a generator and a critic step per model step

    def lightning_steps_left(self, counters: dict[str, int], model_steps: int) -> int:
        return 2 * max(0, model_steps - counted_steps(counters))

    def translator(self, direction: str, ema: bool = True) -> nn.Module:
        """The generator of ``direction`` (its weight average where the model keeps one and ``ema``)."""
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction={direction!r}: model={self.name} translates AtoB and BtoA.")
        key = "g_ab" if direction == "AtoB" else "g_ba"
        return self.ema[key] if ema and self.ema is not None else getattr(self, key)

    def draw_noise(self, n: int, rng: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {}  # a translation is a function of its source image

    def sample_given(self, noise: dict[str, torch.Tensor], y: torch.Tensor | None = None,
                     source: torch.Tensor | None = None, ema: bool = True, direction: str = "AtoB") -> torch.Tensor:
        return self.translator(direction, ema)(source)

    def held_out_metrics(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        """Cycle-reconstruction error per direction: mean |G_BA(G_AB(a)) - a| per held-out A image (AtoB),
        and the same for B; ``batch`` is ``(images, domain)`` (0: A, 1: B) from the unpaired data."""
        if len(batch) < 2:
            raise ConfigError(f"model={self.name} needs unpaired data (data=unpaired_digits, data=unpaired).")
        x, dom = batch[0], batch[1]
        out = {}
        for d, direction in enumerate(DIRECTIONS):
            src = x[dom == d]
            there = self.translator(direction)(src)
            back = self.translator(DIRECTIONS[1 - d])(there)
            out[f"cycle_l1/{direction}"] = (at_least_float32(back) - src.float()).abs().flatten(1).mean(1)
        return out

    @torch.no_grad()
    def pictures(self, batch: tuple[torch.Tensor, ...], rng: torch.Generator,
                 ema: bool = True) -> dict[str, tuple[torch.Tensor, int]]:
        """Per direction, three rows of held-out images: sources, their translations, and the
        translations translated back (the cycle), up to 8 per row (``ema=False``: by the trained weights)."""
        if len(batch) < 2:
            return {}
        out = {}
        for source, direction in zip(batch[:2], DIRECTIONS):
            src = source[:8]
            there = self.translator(direction, ema)(src)
            back = self.translator(DIRECTIONS[1 - DIRECTIONS.index(direction)], ema)(there)
            out[f"translation_{direction}"] = (torch.cat([src.float(), there.float(), back.float()]), len(src))
        return out

    # --- training --------------------------------------------------------------------------------------
    def configure_optimizers(self):
        g_params = [*self.g_ab.parameters(), *self.g_ba.parameters()]
        d_params = [*self.d_a.parameters(), *self.d_b.parameters()]
        opts = [build_optimizer(self._optimizer_g, g_params), build_optimizer(self._optimizer_d, d_params)]
        if self.lr_constant_epochs is None:
            return opts
        schedule = [torch.optim.lr_scheduler.LambdaLR(opt, self._lr_lambda) for opt in opts]
        return opts, schedule

    def _lr_lambda(self, model_step: int) -> float:
        return lr_factor(model_step // max(1, self.steps_per_epoch), self.lr_constant_epochs, self.lr_decay_epochs)

    def on_train_start(self) -> None:
        # an epoch in model steps: this rank's batches of max(|A|, |B|) pairs (the schedule counts epochs); set
        # first, since a resumed run's new learning rate starts at its schedule's factor now (apply_resume_overrides)
        self.steps_per_epoch = max(1, int(self.trainer.num_training_batches))
        super().on_train_start()

    def adversarial(self, critic: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return self.loss.g_loss(at_least_float32(critic(images)))

    def critic_loss(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return 0.5 * self.loss.d_loss(at_least_float32(critic(real)), at_least_float32(critic(fake)))

    def training_step(self, batch, batch_idx: int) -> None:
        if len(batch) != 2:
            raise ConfigError(f"model={self.name} trains on unpaired batches (a, b): use data=unpaired_digits or "
                              "data=unpaired data.root=DIR.")
        a, b = batch
        opt_g, opt_d = self.optimizers()
        # steps 1-2: the four generator passes, one step of both generators on L_G
        g = self.optimize(opt_g, lambda: self.generator_losses(a, b), key="loss/g", network="generators")
        fake_a, fake_b = g.pop("fake_a"), g.pop("fake_b")
        # step 3: one step of both critics on step 1's fakes, drawn through the pools
        d = self.optimize(opt_d, lambda: self.critic_losses(a, b, fake_a, fake_b), key="loss/d", network="critics",
                          nets=(self.d_a, self.d_b))
        self.model_step_done()
        self.log_step({k: v.detach() for k, v in {**g, **d}.items()})

    def generator_losses(self, a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_G (``loss/g``) and its terms, from the four generator passes; and the fakes (detached, under
        ``fake_a`` and ``fake_b``), which the critics' step reuses."""
        l1 = nn.functional.l1_loss
        fake_b = self.g_ab(a)
        rec_a = self.g_ba(fake_b)
        fake_a = self.g_ba(b)
        rec_b = self.g_ab(fake_a)
        g = {"loss/g_ab": self.adversarial(self.d_b, fake_b), "loss/g_ba": self.adversarial(self.d_a, fake_a),
             "loss/cycle_a": self.lambda_a * l1(at_least_float32(rec_a), a.float()),
             "loss/cycle_b": self.lambda_b * l1(at_least_float32(rec_b), b.float())}
        if self.lambda_identity > 0:
            g["loss/identity_a"] = self.lambda_identity * self.lambda_a * l1(at_least_float32(self.g_ba(a)), a.float())
            g["loss/identity_b"] = self.lambda_identity * self.lambda_b * l1(at_least_float32(self.g_ab(b)), b.float())
        g["loss/g"] = sum(g.values())
        return {**g, "fake_a": fake_a.detach(), "fake_b": fake_b.detach()}

    def critic_losses(self, a: torch.Tensor, b: torch.Tensor, fake_a: torch.Tensor,
                      fake_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """The critics' loss (``loss/d``): each on its domain's real images and the fakes drawn through its pool."""
        d = {"loss/d_a": self.critic_loss(self.d_a, a, self.pool_a.query(fake_a)),
             "loss/d_b": self.critic_loss(self.d_b, b, self.pool_b.query(fake_b))}
        d["loss/d"] = d["loss/d_a"] + d["loss/d_b"]
        return d

    # --- exact resume: the pools ------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        pools = [self.pool_a.state(), self.pool_b.state()]
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1 and self.pool_a.size > 0:
            pools = [self._gathered(p) for p in pools]  # every rank's pool (every rank calls this together)
        else:
            pools = [{"count": p["count"], "images": None if p["images"] is None else p["images"][None]} for p in pools]
        checkpoint["genzoo"]["pools"] = {"A": pools[0], "B": pools[1]}

    def _gathered(self, state: dict[str, Any]) -> dict[str, Any]:
        images = state["images"]
        if images is None:
            images = torch.zeros(self.pool_a.size, *self.data_shape)
        return {"count": state["count"], "images": self.all_gather(images.to(self.device)).cpu()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        pools = (checkpoint.get("genzoo") or {}).get("pools")
        if not pools:
            return
        trainer = self._trainer
        rank = trainer.global_rank if trainer is not None else 0
        for key, pool in (("A", self.pool_a), ("B", self.pool_b)):
            state = pools[key]
            images = state["images"]
            if images is not None:  # (ranks, size, C, H, W): this rank's pool (rank 0's when the run has more ranks)
                images = images[rank] if rank < images.shape[0] else images[0]
            pool.restore({"count": state["count"], "images": images}, self.device)

