"""The variational autoencoder (Kingma and Welling 2014) and its class-conditional form (CVAE,
Sohn et al. 2015), seed claims C23-C25.

q(z|x) = N(mu(x), diag exp(logvar(x))) from an encoder built on any critic body (MLP, DCGAN,
ResNet: their score head is replaced by a linear Gaussian head); p(x|z) from any generator net
with a linear output, read as a Bernoulli, Gaussian or discretised-logistic likelihood
(``genzoo.losses.likelihood``); p(z) = N(0, I).

Training maximises the ELBO  E_q[log p(x|z)] - beta_t KL(q(z|x) || N(0, I))  (beta_t = beta after a
linear warm-up of ``kl_warmup_steps``), with ``train_samples`` codes z = mu + exp(logvar / 2) e,
e ~ N(0, I), per example (the KL in closed form), or with ``objective=iwae`` the importance-weighted
bound of Burda et al. (2015), log 1/k sum_i p(x, z_i) / q(z_i|x), over those samples. One optimiser:
each model step is one step of it on the negated bound, averaged over the batch.

Held out (nats per data point, through the spine's held-out path): ``elbo`` = -(``recon`` + ``kl``),
and ``nll_k<k>`` = -log(1/k sum_i p(x, z_i) / q(z_i|x)), an upper bound on -log p(x) that tightens
with k (``bpd_k<k>``: the same in bits per dimension, for the discrete likelihoods). k is
``iw_samples`` (5,000, the reference protocol) outside training, ``iw_samples_train`` during it.

What the encoder sees (``encoder_input``): ``unit``, the pixels on [0, 1] ((x + 1) / 2), or ``signed``,
the data's own [-1, 1]; ``auto`` (the default): ``unit`` for ``bernoulli``, ``signed`` otherwise (why:
``genzoo.models.vae_parts``). Samples and pictures show the decoder's mean (the probabilities of a
Bernoulli decoder), the usual picture of a VAE, and what its sample metrics score.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn

from genzoo.config_rules import NON_NEGATIVE, POSITIVE, Key, binary_pixels, integer
from genzoo.errors import ConfigError
from genzoo.losses.likelihood import (
    LIKELIHOODS,
    RunningLogMeanExp,
    bernoulli_log_prob,
    gaussian_kl,
    gaussian_log_prob,
    log_mean_exp,
    log_weights,
    logistic_log_prob,
)
from genzoo.models.base import SingleOptimizerModule, at_least_float32
from genzoo.models.vae_parts import GaussianEncoder, VAEPictures, example_generators  # noqa: F401  (re-exported)
from genzoo.nets.conditional import with_label_channels

OBJECTIVES = ("elbo", "iwae")
#: what the encoder sees: pixels on [0, 1] (unit) or on the data's [-1, 1] (signed); auto: from the likelihood
ENCODER_INPUTS = ("auto", "unit", "signed")
#: rows (samples x examples) the decoder sees at once when estimating the importance-weighted bound
IW_ROWS = 8192
#: importance samples each example's generator draws at a time, whatever the batch and ``IW_ROWS``: torch's
#: CPU normal sampler consumes its stream differently for different tensor sizes, so draws of a size that
#: followed the batch (IW_ROWS // batch) gave an example other codes in another batch size (issue 32)
IW_NOISE_BLOCK = 64


class VAE(VAEPictures, SingleOptimizerModule):
    # encoder_input: checkpoints from before the key encoded the data's [-1, 1] (signed)
    config_keys = (Key("z_dim", integer(1), resume="refused"), Key("likelihood", resume="refused"),
                   Key("class_conditional", resume="refused"), Key("encoder_input", resume="refused", absent="signed"),
                   Key("gaussian_std", POSITIVE, null=True, resume="on_off_refused"), Key("beta", NON_NEGATIVE),
                   Key("kl_warmup_steps", integer(0)), Key("train_samples", integer(1)), Key("iw_samples", integer(1)),
                   Key("iw_samples_train", integer(1)))
    config_checks = (binary_pixels("likelihood", "bernoulli", "data.binarize=dynamic (the IWAE protocol) or static, or "
                                   "use model.likelihood=logistic|gaussian"),)
    evaluation_keys = (Key("iw_samples", integer(1), recorded_as="importance_samples"),)
    latent_key = "z"
    net_keys = ("encoder", "decoder")

    def __init__(
        self,
        encoder: Callable[..., nn.Module],
        decoder: Callable[..., nn.Module],
        data_shape: Sequence[int],
        optimizer: Callable[..., torch.optim.Optimizer],
        z_dim: int = 32,
        likelihood: str = "gaussian",
        gaussian_std: float | None = None,
        beta: float = 1.0,
        kl_warmup_steps: int = 0,
        objective: str = "elbo",
        train_samples: int = 1,
        iw_samples: int = 5000,
        iw_samples_train: int = 100,
        encoder_input: str = "auto",
        class_conditional: bool = False,
        num_classes: int | None = None,
        name: str = "vae",
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        nonfinite: str = "stop",
    ) -> None:
        super().__init__()
        self.set_nonfinite(nonfinite)
        if likelihood not in LIKELIHOODS:
            raise ConfigError(f"Unknown model.likelihood={likelihood!r}; choose one of {', '.join(LIKELIHOODS)} "
                              "(bernoulli: binarised images; gaussian: continuous; logistic: 8-bit images).")
        if objective not in OBJECTIVES:
            raise ConfigError(f"Unknown model.objective={objective!r}; choose elbo or iwae.")
        if objective == "iwae" and (beta != 1.0 or kl_warmup_steps):
            raise ConfigError("model.objective=iwae is the importance-weighted bound itself: it has no KL weight. "
                              "Keep model.beta=1 and model.kl_warmup_steps=0, or use model.objective=elbo.")
        if objective == "iwae" and train_samples < 2:
            raise ConfigError("model.objective=iwae with model.train_samples=1 is the plain ELBO: set "
                              "model.train_samples=k >= 2 (the IWAE paper's 5 or 50).")
        if encoder_input not in ENCODER_INPUTS:
            raise ConfigError(f"Unknown model.encoder_input={encoder_input!r}; choose auto (from the likelihood: unit for "
                              "bernoulli, signed otherwise), unit (pixels on [0, 1]) or signed (the data's [-1, 1]).")
        if len(data_shape) != 3:
            raise ConfigError(f"model={name} models images (C, H, W); the data has shape {tuple(data_shape)}. "
                              "Use an image dataset (data=digits|mnist5k|mnist|...).")
        if class_conditional and not num_classes:
            raise ConfigError(f"model={name} is class-conditional and needs labelled data; this dataset has no labels. "
                              "Use data=digits|mnist5k|mnist|fashion_mnist|cifar10, or model=vae.")
        self.name = name
        self.data_shape = tuple(data_shape)
        self.condition = "label" if class_conditional else "none"
        self.num_classes = num_classes if class_conditional else None
        c, h, w = self.data_shape
        extra = self.num_classes or 0
        self.encoder = GaussianEncoder(encoder, (c + extra, h, w), z_dim)
        out_channels = 2 * c if likelihood == "logistic" else c
        self.decoder = decoder(shape=(out_channels, h, w), z_dim=z_dim + extra, output="linear")
        self.log_std = nn.Parameter(torch.zeros(())) if likelihood == "gaussian" and gaussian_std is None else None
        self.gaussian_std = gaussian_std
        self.z_dim, self.likelihood, self.beta, self.kl_warmup_steps = z_dim, likelihood, beta, kl_warmup_steps
        self.objective, self.train_samples = objective, train_samples
        self.iw_samples, self.iw_samples_train = iw_samples, iw_samples_train
        self.encoder_input = ("unit" if likelihood == "bernoulli" else "signed") if encoder_input == "auto" else encoder_input
        self._optimizer, self._scheduler = optimizer, scheduler

    # --- what the spine asks ------------------------------------------------------------------------
    @property
    def importance_samples(self) -> int:
        """k of the held-out bound: ``iw_samples_train`` inside a training run, ``iw_samples`` otherwise."""
        return self.iw_samples_train if self._trainer is not None else self.iw_samples

    @property
    def held_out_metric_names(self) -> tuple[str, ...]:
        k = self.importance_samples
        return ("elbo", "recon", "kl", f"nll_k{k}", f"ess_k{k}") + ((f"bpd_k{k}",) if self.likelihood != "gaussian" else ())

    @property
    def picture_names(self) -> tuple[str, ...]:
        return ("reconstructions", "traversal", "interpolations") + (("style_transfer",) if self.conditional else ())

    # --- the two halves -----------------------------------------------------------------------------
    def _with_label(self, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if not self.conditional:
            return t
        if y is None:
            raise ConfigError(f"model={self.name} is conditional but the batches carry no labels y.")
        return with_label_channels(t, y, self.num_classes)

    def encoder_view(self, x: torch.Tensor) -> torch.Tensor:
        """The images as the encoder sees them (``encoder_input``): [0, 1] for ``unit``, as given for ``signed``
        (why it matters: ``genzoo.models.vae_parts``)."""
        return (x + 1) / 2 if self.encoder_input == "unit" else x

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, logvar) of q(z | x[, y]), in float32 (or float64); ``x`` in the data's [-1, 1]."""
        return self.encoder(self._with_label(self.encoder_view(x), y))

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The decoder's raw output (logits, means, or means and log-scales), in float32 (or float64)."""
        return at_least_float32(self.decoder(self._with_label(z, y)))

    def log_px(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | z) per example, from the decoder's output."""
        if self.likelihood == "bernoulli":
            return bernoulli_log_prob(out, x)
        if self.likelihood == "gaussian":
            log_std = self.log_std if self.log_std is not None else out.new_tensor(math.log(self.gaussian_std))
            return gaussian_log_prob(out, log_std.float(), x)
        mean, log_scale = out.chunk(2, dim=1)
        return logistic_log_prob(mean, log_scale, x)

    def mean_image(self, out: torch.Tensor) -> torch.Tensor:
        """The decoder distribution's mean, in [-1, 1]."""
        if self.likelihood == "bernoulli":
            return torch.sigmoid(out) * 2 - 1
        if self.likelihood == "logistic":
            out = out.chunk(2, dim=1)[0]
        return out.clamp(-1, 1)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor, k: int,
                       rng: torch.Generator | list[torch.Generator] | None = None) -> torch.Tensor:
        """k codes per example, z = exp(logvar / 2) * e + mu: (k, B, Z). ``rng``: one for the batch,
        or one per example (its draws then do not depend on the batch it is in)."""
        if isinstance(rng, (list, tuple)):
            eps = torch.stack([torch.randn((k, mu.shape[1]), generator=g, device=mu.device, dtype=mu.dtype)
                               for g in rng], 1)
        else:
            eps = torch.randn((k, *mu.shape), generator=rng, device=mu.device, dtype=mu.dtype)
        return mu + (0.5 * logvar).exp() * eps

    def _decode_samples(self, z: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """log p(x | z) for codes z (s, B, Z): (s, B)."""
        s, b = z.shape[:2]
        rep = lambda t: t.unsqueeze(0).expand(s, *t.shape).reshape(s * b, *t.shape[1:])  # noqa: E731
        out = self.decode(z.reshape(s * b, -1), None if y is None else rep(y))
        return self.log_px(out, rep(x)).view(s, b)

    def kl_weight(self) -> float:
        if self.kl_warmup_steps <= 0:
            return self.beta
        return self.beta * min(1.0, (self.model_step + 1) / self.kl_warmup_steps)

    def objective_terms(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The training objective on a batch (means over examples): ``loss`` to minimise, and the
        ELBO with its parts (single-batch estimates with ``train_samples`` codes)."""
        mu, logvar = self.encode(x, y)
        z = self.reparameterize(mu, logvar, self.train_samples)
        log_px = self._decode_samples(z, x, y)
        kl = gaussian_kl(mu, logvar).sum(1)
        recon = -log_px.mean(0)
        if self.objective == "iwae":
            loss = -log_mean_exp(log_weights(log_px, z, mu, logvar), 0)
        else:
            loss = recon + self.kl_weight() * kl
        return {"loss": loss.mean(), "elbo": -(recon + kl).mean(), "recon": recon.mean(), "kl": kl.mean()}

    @torch.no_grad()
    def bounds(self, x: torch.Tensor, y: torch.Tensor | None = None, k: int | None = None,
               rng: torch.Generator | list[torch.Generator] | None = None) -> dict[str, torch.Tensor]:
        """Per-example ``elbo``, ``recon``, ``kl``, ``nll`` (= -L_k) with k importance samples and ``ess``, the
        effective sample size of their weights, (sum w)^2 / sum w^2 (k for equal weights, 1 when one dominates).

        Codes are drawn in blocks of ``IW_NOISE_BLOCK`` samples per example and decoded in chunks of at most
        ``IW_ROWS`` rows, so k = 5,000 needs no more memory than k = 50. With one generator per example (held
        out), an example's codes, and every sum over them, are grouped by those fixed blocks only: its
        numbers do not depend on the batch it is in or on ``IW_ROWS``.
        ``recon`` averages all k samples (a low-variance ELBO); ``kl`` is closed-form."""
        k = k or self.importance_samples
        mu, logvar = self.encode(x, y)
        kl = gaussian_kl(mu, logvar).sum(1)
        acc, acc_sq, recon_sum = RunningLogMeanExp(), RunningLogMeanExp(), torch.zeros_like(kl)
        rows = max(1, IW_ROWS // len(x))
        for start in range(0, k, IW_NOISE_BLOCK):
            z = self.reparameterize(mu, logvar, min(IW_NOISE_BLOCK, k - start), rng)
            log_px = torch.cat([self._decode_samples(z[i:i + rows], x, y) for i in range(0, len(z), rows)])
            log_w = log_weights(log_px, z, mu, logvar)
            acc.add(log_w)
            acc_sq.add(2 * log_w)
            recon_sum -= log_px.sum(0)
        recon = recon_sum / k
        return {"elbo": -(recon + kl), "recon": recon, "kl": kl, "nll": -acc.value(),
                "ess": acc.effective_sample_size(acc_sq)}

    # --- held-out metrics and pictures (the contract) -----------------------------------------------
    def held_out_metrics(self, batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
        x, y = batch[0], (batch[1] if self.conditional else None)
        k = self.importance_samples
        out = self.bounds(x, y, k, example_generators(x, y))
        metrics = {"elbo": out["elbo"], "recon": out["recon"], "kl": out["kl"], f"nll_k{k}": out["nll"],
                   f"ess_k{k}": out["ess"]}
        if self.likelihood != "gaussian":
            metrics[f"bpd_k{k}"] = out["nll"] / (math.prod(self.data_shape) * math.log(2))
        return metrics

    # --- sampling (the contract) ---------------------------------------------------------------------
    def sample_given(self, noise: dict[str, torch.Tensor], y: torch.Tensor | None = None,
                     source: torch.Tensor | None = None, ema: bool = True) -> torch.Tensor:
        """The decoder's mean at prior codes z (and classes y)."""
        return self.mean_image(self.decode(noise["z"], y))

    # --- training -----------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx: int) -> None:
        x = batch[0]
        y = batch[1] if self.conditional and len(batch) > 1 else None
        kl_weight = self.kl_weight()  # this step's (model_step advances in minimise)
        out = self.minimise(lambda: self.objective_terms(x, y))
        metrics = {f"train/{k}": v.detach() for k, v in out.items()}
        if self.kl_warmup_steps:
            metrics["train/kl_weight"] = torch.tensor(kl_weight)
        self.log_step(metrics)


class CVAE(VAE):
    """The conditional VAE (C25): the class enters the encoder (as one constant map per class) and
    the decoder (one-hot, next to z); the encoder keeps the style, the class is given."""

    def __init__(self, *args, class_conditional: bool = True, name: str = "cvae", **kwargs) -> None:
        if not class_conditional:
            raise ConfigError("model=cvae is conditional by definition; use model=vae for an unconditional VAE.")
        super().__init__(*args, class_conditional=True, name=name, **kwargs)
