"""Exact reference fits for seed claims whose densities are known in closed form.

``fit_gaussian_kl`` fits genzoo's Gaussian generator (``MLPGenerator`` with ``depth=0``: x = A z + b,
the model of ``net.generator.depth=0``) to a toy2d target by minimising a KL divergence exactly,
without a critic: forward KL(P || Q) by maximum likelihood on data samples, reverse KL(Q || P) by
reparameterised samples of Q scored with the target's exact log-density. It shows what each
divergence prefers (seed claim C5) independently of how well an adversarial critic estimates it.
"""

from __future__ import annotations

import torch

from genzoo.errors import ConfigError
from genzoo.nets import MLPGenerator

DIRECTIONS = ("forward", "reverse")


def gaussian_density(rng: MLPGenerator) -> torch.distributions.MultivariateNormal:
    """The exact density of x = A z + b, z ~ N(0, I): N(b, A A^T) (plus 1e-6 I for a full-rank A A^T)."""
    (linear,) = [m for m in rng.net if isinstance(m, torch.nn.Linear)]
    a, b = linear.weight, linear.bias
    cov = a @ a.T + 1e-6 * torch.eye(len(b), dtype=a.dtype)
    return torch.distributions.MultivariateNormal(b, covariance_matrix=cov)


def fit_gaussian_kl(distribution, direction: str, steps: int = 2000, lr: float = 5e-3, batch_size: int = 256,
                    seed: int = 0, num_data: int = 20000) -> MLPGenerator:
    """A Gaussian generator fitted to ``distribution`` (a ``Toy2DDistribution``) by Adam on the exact
    forward or reverse KL. Model family and initialisation scheme are those of a ``model=fgan`` run
    with ``net.generator.depth=0 model.z_dim=2``; both directions start from the same weights."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"Unknown KL direction {direction!r}; choose forward or reverse.")
    torch.manual_seed(seed)
    gen = MLPGenerator(shape=(2,), z_dim=2, depth=0)
    data, _ = distribution.sample(num_data, rng=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(gen.parameters(), lr=lr)
    for _ in range(steps):
        q = gaussian_density(gen)
        if direction == "forward":  # KL(P || Q) = -E_P[log q] + const
            x = data[torch.randint(len(data), (batch_size,))]
            loss = -q.log_prob(x).mean()
        else:  # KL(Q || P) = E_Q[log q - log p], pathwise through x = A z + b
            x = gen(torch.randn(batch_size, 2))
            loss = (q.log_prob(x) - distribution.log_prob(x).to(x.dtype)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return gen
