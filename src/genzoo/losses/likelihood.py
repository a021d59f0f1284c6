"""Log-likelihoods and the variational bounds of the VAE family, as pure functions.

Everything is in nats and summed over the dimensions of one example, so a function of a batch
returns one value per example. Images arrive in genzoo's range [-1, 1].

- ``gaussian_kl(mu, logvar)``: KL(N(mu, diag exp(logvar)) || N(0, I)) in closed form,
  ``0.5 * sum(exp(logvar) - (1 + logvar) + mu^2)``. The seed notes (C23) write the VAE's penalty
  as ``sum(exp(sigma) - (1 + sigma) + m^2)``: their ``sigma`` is our ``logvar`` and their ``m`` our
  ``mu``, and the KL is half of their sum (a factor the notes drop because it only rescales the
  penalty). Their code ``c = exp(sigma) * e + m`` reads ``sigma`` as a log standard deviation, which
  disagrees with the penalty; the penalty is the KL only when ``exp(sigma)`` is the variance, so the
  code here is ``z = exp(logvar / 2) * e + mu``.
- Decoder likelihoods ``log p(x | z)`` (``LIKELIHOODS``):
  ``bernoulli`` (binary pixels: logits; data binarised to {-1, 1}),
  ``gaussian`` (a density for continuous data: mean, and a fixed or one learned standard deviation),
  ``logistic`` (the discretised logistic of PixelCNN++ (Salimans et al. 2017) with one component:
  the probability of the pixel's 8-bit value, for 256-level images; a real probability, so its
  bits per dimension compare with other discrete models).
- ``effective_sample_size``: (sum w)^2 / sum w^2 of those weights, how many codes the bound rests on.
- ``log_weights``: log w = log p(x|z) + log p(z) - log q(z|x) for samples z ~ q, whose mean is the
  ELBO and whose log-mean-exp over k samples is the importance-weighted bound of Burda et al. (2015),
  ``log p(x) >= L_k >= L_1 = ELBO``, tight as k grows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LIKELIHOODS = ("bernoulli", "gaussian", "logistic")
LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension (same shape as ``mu``); sum it over dimensions."""
    return 0.5 * (logvar.exp() - (1 + logvar) + mu.pow(2))


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def log_std_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dimension."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def _sum_per_example(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)


def bernoulli_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | logits) for binary images ``x`` in {-1, 1} (read as {0, 1})."""
    return -_sum_per_example(F.binary_cross_entropy_with_logits(logits, (x + 1) / 2, reduction="none"))


def gaussian_log_prob(mean: torch.Tensor, log_std: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(log_std)^2) summed over pixels (``log_std`` broadcasts: one shared value or
    one per pixel)."""
    log_std = log_std.expand_as(mean)
    return _sum_per_example(-0.5 * LOG_2PI - log_std - 0.5 * ((x - mean) / log_std.exp()).pow(2))


def quantise(x: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """[-1, 1] -> the centre of the nearest of ``bins`` levels (k / (bins - 1) * 2 - 1)."""
    half = (bins - 1) / 2
    return torch.round((x.clamp(-1, 1) + 1) * half) / half - 1


def logistic_log_prob(mean: torch.Tensor, log_scale: torch.Tensor, x: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """Discretised logistic: log P(the pixel's level) where level k of ``bins`` covers
    [c_k - 1/(bins-1), c_k + 1/(bins-1)] (the end levels take the tails), summed over pixels.

    The middle levels use the exact identity F(b) - F(a) = sigmoid(b) sigmoid(-a) (1 - exp(a - b)) in log
    space, stable however sharp the scale (PixelCNN++'s density fallback underestimates improbable
    levels by up to nats); the end levels take the tails: log F(upper edge), log(1 - F(lower edge))."""
    x = quantise(x, bins)
    log_scale = log_scale.clamp(min=-7.0)
    half_bin = 1.0 / (bins - 1)
    inv_s = torch.exp(-log_scale)
    centred = x - mean
    plus, minus = inv_s * (centred + half_bin), inv_s * (centred - half_bin)
    log_cdf_plus = F.logsigmoid(plus)  # log F(upper edge): the first level
    log_one_minus_cdf_min = F.logsigmoid(-minus)  # log(1 - F(lower edge)): the last level
    log_mid = log_cdf_plus + log_one_minus_cdf_min + torch.log(-torch.expm1(minus - plus))
    out = torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_mid))
    return _sum_per_example(out)


def log_weights(log_px_z: torch.Tensor, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log w = log p(x|z) + log N(z; 0, I) - log q(z|x) for samples ``z`` (..., B, Z) of q = N(mu, exp(logvar))."""
    return log_px_z + log_std_normal(z) - log_normal(z, mu, logvar)


def log_mean_exp(t: torch.Tensor, dim: int = 0) -> torch.Tensor:
    return torch.logsumexp(t, dim) - math.log(t.shape[dim])


def effective_sample_size(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Kish's effective sample size of importance weights given as logs, (sum w)^2 / sum w^2, along ``dim``:
    k for k equal weights, close to 1 when one weight dominates. A small one says the bound rests on few
    codes (q is far from the posterior) and its Monte-Carlo error is larger than k suggests."""
    return torch.exp(2 * torch.logsumexp(log_w, dim) - torch.logsumexp(2 * log_w, dim))


class RunningLogMeanExp:
    """log(1/k sum_i exp(a_i)) over chunks of samples, without holding all k at once."""

    def __init__(self) -> None:
        self.lse: torch.Tensor | None = None
        self.count = 0

    def add(self, chunk: torch.Tensor) -> None:
        """``chunk``: (s, B) log-weights of s more samples of each of B examples."""
        lse = torch.logsumexp(chunk, 0)
        self.lse = lse if self.lse is None else torch.logaddexp(self.lse, lse)
        self.count += chunk.shape[0]

    def effective_sample_size(self, squares: RunningLogMeanExp) -> torch.Tensor:
        """(sum w)^2 / sum w^2, ``squares`` having accumulated 2 log w over the same chunks."""
        return torch.exp(2 * self.lse - squares.lse)

    def value(self) -> torch.Tensor:
        return self.lse - math.log(self.count)
