"""The Wasserstein-1 objective of WGAN (Arjovsky et al. 2017) and WGAN-GP's penalties
(Gulrajani et al. 2017), on unbounded critic outputs: no sigmoid, no log (seed claim C9)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from genzoo.errors import ConfigError
from genzoo.losses.adversarial import AdversarialLoss

PENALTIES = ("two_sided", "one_sided", "finite_difference")


class Wasserstein(AdversarialLoss):
    """Critic minimises E[D(fake)] - E[D(real)] (= -W estimate); generator minimises -E[D(fake)]."""

    name = "wasserstein"

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return fake_out.mean() - real_out.mean()

    def g_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        return -fake_out.mean()

    def estimates(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"wasserstein/estimate": real_out.mean() - fake_out.mean()}  # E D(real) - E D(fake)


def _per_sample(eps: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return eps.view(-1, *([1] * (like.ndim - 1)))


def penalty_points(real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """x_hat = eps x_real + (1 - eps) x_fake, one eps per sample."""
    e = _per_sample(eps, real).to(real.dtype)
    return e * real + (1 - e) * fake


def critic_input_gradient_norm(critic: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                               scaler=None) -> torch.Tensor:
    """||grad_x D(x)|| per sample, over all non-batch dimensions, keeping the graph (create_graph).

    With a fp16 ``GradScaler`` the gradient is taken of the *scaled* output (so small gradients
    do not underflow in half precision) and unscaled afterwards: the PyTorch AMP recipe for
    gradient penalties.
    """
    x = x.detach().requires_grad_(True)
    out = critic(x).sum()
    if scaler is not None and scaler.is_enabled():
        (g,) = torch.autograd.grad(scaler.scale(out), x, create_graph=True)
        g = g / scaler.scale(torch.ones((), device=out.device))  # the scale as a device tensor (get_scale() reads it)
    else:
        (g,) = torch.autograd.grad(out, x, create_graph=True)
    return g.float().flatten(1).norm(2, dim=1)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     kind: str = "two_sided", eps: torch.Tensor | None = None,
                     eps2: torch.Tensor | None = None, scaler=None,
                     rng: torch.Generator | None = None) -> torch.Tensor:
    """Mean penalty over the batch on points x_hat between real and fake samples (seed C13, C14).

    - ``two_sided`` (WGAN-GP's choice): (||grad D(x_hat)|| - 1)^2
    - ``one_sided``: max(0, ||grad D(x_hat)|| - 1)^2
    - ``finite_difference`` (no second derivatives): two points x1, x2 on the same real-fake line,
      (|D(x1) - D(x2)| / ||x1 - x2|| - 1)^2
    ``eps``/``eps2`` ~ U[0, 1] per sample are drawn when not given (from ``rng``, else the global RNG).
    """
    if kind not in PENALTIES:
        raise ConfigError(f"Unknown gradient penalty {kind!r}; choose model.penalty from {', '.join(PENALTIES)}.")
    n = real.shape[0]
    if eps is None:
        eps = torch.rand(n, device=real.device, generator=rng)
    real, fake = real.detach(), fake.detach()
    if kind == "finite_difference":
        if eps2 is None:
            eps2 = torch.rand(n, device=real.device, generator=rng)
        x1, x2 = penalty_points(real, fake, eps), penalty_points(real, fake, eps2)
        slope = (critic(x1) - critic(x2)).float().abs() / (x1 - x2).float().flatten(1).norm(2, dim=1).clamp_min(1e-12)
        return (slope - 1).pow(2).mean()
    norm = critic_input_gradient_norm(critic, penalty_points(real, fake, eps), scaler)
    if kind == "one_sided":
        return torch.relu(norm - 1).pow(2).mean()
    return (norm - 1).pow(2).mean()


def is_compiled(module: torch.nn.Module) -> bool:
    """Whether ``module`` was compiled in place (``nn.Module.compile``, as ``model.compile`` does)."""
    return getattr(module, "_compiled_call_impl", None) is not None


#: relative tolerance of the compiled penalty's parameter gradients against eager ones (fp32)
COMPILED_PENALTY_RTOL = 1e-4


class PenaltyPath:
    """Runs WGAN-GP's penalty through a compiled critic only where that gives eager's gradients.

    The penalty's ``autograd.grad(create_graph=True)`` needs a double backward through the critic, which
    torch.compile's AOTAutograd has not supported (PyTorch 2.x raises "does not currently support double
    backward" at the critic's backward). At its first call with a compiled critic, the penalty is
    computed both ways on the call's batch and fixed interpolation points, and the gradients it gives
    the critic's parameters are compared; on an error or a difference over ``COMPILED_PENALTY_RTOL``,
    the penalty's critic runs eager from then on (``torch.compiler.set_stance("force_eager")``), said in
    one logged line. The critic's other forward passes stay compiled. Eager critics are never checked.
    """

    def __init__(self) -> None:
        #: None: not decided yet (or the critic is eager); True: the penalty runs the critic eager
        self.eager: bool | None = None
        self.reason = ""

    def __call__(self, module: torch.nn.Module, penalty: Callable[..., torch.Tensor]) -> torch.Tensor:
        """``penalty(rng=None)``: the penalty through the critic ``module`` (``gradient_penalty`` with
        its batch bound; the check passes a private ``rng`` for the interpolation points)."""
        if not is_compiled(module):
            return penalty()
        if self.eager is None:
            self.eager, self.reason = self._check(module, penalty)
            if self.eager:
                logging.getLogger("genzoo").warning(
                    "model.compile: the gradient penalty's double backward %s through the compiled critic, so the "
                    "penalty runs the critic eager (its other passes stay compiled).", self.reason)
        if self.eager:
            with torch.compiler.set_stance("force_eager"):
                return penalty()
        return penalty()

    @staticmethod
    def _check(module: torch.nn.Module, penalty: Callable[..., torch.Tensor]) -> tuple[bool, str]:
        """(run eager?, why): the penalty's parameter gradients, compiled against eager, without autocast;
        the critic's buffers are put back afterwards and the check draws nothing from the global RNG."""
        params = [p for p in module.parameters() if p.requires_grad]
        buffers = [(b, b.detach().clone()) for b in module.buffers()]
        device = params[0].device if params else torch.device("cpu")

        def grads() -> list[torch.Tensor]:
            with torch.autocast(device.type, enabled=False):
                gp = penalty(rng=torch.Generator(device=device).manual_seed(0))  # the same points both times
                out = torch.autograd.grad(gp, params, allow_unused=True)
            for b, saved in buffers:
                b.copy_(saved)
            return [torch.zeros_like(p) if o is None else o for p, o in zip(params, out)]

        with torch.compiler.set_stance("force_eager"):
            want = grads()
        try:
            got = grads()
        except Exception as e:  # noqa: BLE001 - any failure of the compiled double backward means: run eager
            return True, f"fails ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
        num = torch.sqrt(sum(((a - b).float() ** 2).sum() for a, b in zip(got, want)))
        den = torch.sqrt(sum((b.float() ** 2).sum() for b in want)).clamp_min(1e-30)
        err = float(num / den)
        if not err <= COMPILED_PENALTY_RTOL:
            return True, f"differs from eager's (relative error {err:.2g} > {COMPILED_PENALTY_RTOL:g})"
        return False, ""
