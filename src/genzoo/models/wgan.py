"""The Wasserstein GANs: small overrides of the adversarial family (``loss=wasserstein``).

The critic estimates W_1(P_data, P_G) = max over 1-Lipschitz D of E[D(x)] - E[D(G(z))]: it minimises
L_D = E[D(G(z))] - E[D(x)] (plus the penalty below), ``n_critic`` steps per generator step; the
generator minimises L_G = -E[D(G(z))]. The two differ in how D is kept (nearly) Lipschitz:

- ``WGAN`` (Arjovsky, Chintala, Bottou 2017): clip every critic weight to [-c, c] after each critic
  step; optionally the paper's schedule of 100 critic steps for the first 25 generator steps and
  every 500th (seed claims C9, C10, C11).
- ``WGANGP`` (Gulrajani et al. 2017): instead of clipping, add lambda * E[(||grad D(x_hat)|| - 1)^2] on
  points x_hat = e x + (1 - e) G(z), e ~ U[0, 1]; two-sided (that), one-sided or the seed notes'
  finite-difference form (C13-C15).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from genzoo.config_rules import NON_NEGATIVE, POSITIVE, Key
from genzoo.errors import ConfigError
from genzoo.losses import PENALTIES, gradient_penalty
from genzoo.losses.wasserstein import PenaltyPath
from genzoo.models.gan import GAN


class WGAN(GAN):
    config_keys = (Key("clip_value", POSITIVE),)

    def __init__(self, *args, clip_value: float = 0.01, paper_schedule: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if clip_value <= 0:
            raise ConfigError(f"model.clip_value must be > 0, got {clip_value}.")
        self.clip_value = clip_value
        self.paper_schedule = paper_schedule

    def critic_steps(self, model_step: int) -> int:
        if self.paper_schedule and (model_step < 25 or model_step % 500 == 0):
            return 100
        return self.n_critic

    @torch.no_grad()
    def after_critic_step(self) -> None:
        for p in self.discriminator.parameters():
            p.clamp_(-self.clip_value, self.clip_value)


class WGANGP(GAN):
    config_keys = (Key("penalty_weight", NON_NEGATIVE),)

    def __init__(self, *args, penalty: str = "two_sided", penalty_weight: float = 10.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if penalty not in PENALTIES:
            raise ConfigError(f"Unknown model.penalty={penalty!r}; choose one of {', '.join(PENALTIES)}.")
        bn = [n for n, m in self.discriminator.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if bn:
            raise ConfigError(
                f"model={self.name} penalises each sample's gradient, and BatchNorm in the critic ({bn[0]}) "
                "couples the samples of a batch, which makes that penalty invalid. Set "
                "net.discriminator.norm=layer (recommended) or net.discriminator.norm=none."
            )
        self.penalty, self.penalty_weight = penalty, penalty_weight
        self.penalty_path = PenaltyPath()  # eager critic for the penalty where model.compile's double backward fails

    def _grad_scaler(self):
        trainer = self._trainer
        return getattr(trainer.precision_plugin, "scaler", None) if trainer is not None else None

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor,
                           y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        out = super().discriminator_loss(real, fake, y)
        # conditional critics: the gradient w.r.t. x at fixed class y (x_hat keeps its pair's label)
        critic = self.discriminator if y is None else (lambda x: self.discriminator(x, y))
        scaler = self._grad_scaler()
        gp = self.penalty_path(self.discriminator, lambda **draw: gradient_penalty(critic, real, fake, self.penalty,
                                                                                 scaler=scaler, **draw))
        out["penalty"] = gp.detach()
        out["loss/d"] = out["loss/d"] + self.penalty_weight * gp
        return out
