"""Class conditioning for any generator / discriminator (seed claim C18).

The wrappers take the same partially-configured net as the unconditional model and build it with
the extra inputs the conditioning needs, so every architecture (MLP, DCGAN, ResNet) becomes
conditional without a second copy:

- ``ConditionalGenerator``: G(z, y) = G'([z, e(y)]), a learned label embedding e concatenated to
  the noise (Mirza and Osindero 2014).
- ``ConcatDiscriminator``: D(x, y) = D'([x, onehot(y)]): the one-hot label enters with the data,
  as extra constant channels for images or extra features for vectors (Mirza and Osindero 2014).
- ``ProjectionDiscriminator``: D(x, y) = psi(phi(x)) + <E(y), phi(x)>, where phi are the features
  the unconditional score psi is a linear function of (Miyato and Koyama 2018, eq. 3).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from genzoo.errors import ConfigError

CONDITIONINGS = ("concat", "projection")


def check_labels(y: torch.Tensor) -> torch.Tensor:
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ConfigError(f"Class labels must be integers, got a {y.dtype} tensor.")
    return y.long()


def with_label_channels(x: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``[x, onehot(y)]`` along dim 1: one constant map per class for images, extra features for
    vectors (how a concat-conditioned discriminator, and a CVAE's encoder and decoder, see the class)."""
    onehot = F.one_hot(check_labels(y), num_classes).to(x.dtype)
    if x.ndim > 2:
        onehot = onehot.view(*onehot.shape, *([1] * (x.ndim - 2))).expand(-1, -1, *x.shape[2:])
    return torch.cat([x, onehot], dim=1)


class ConditionalGenerator(nn.Module):
    def __init__(self, generator: Callable[..., nn.Module], shape: Sequence[int], z_dim: int, num_classes: int,
                 embed_dim: int = 32) -> None:
        super().__init__()
        self.z_dim, self.num_classes, self.embed_dim = z_dim, num_classes, embed_dim
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.net = generator(shape=tuple(shape), z_dim=z_dim + embed_dim)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        e = self.embed(check_labels(y)).to(z.dtype)
        return self.net(torch.cat([z, e], dim=1))


class ConcatDiscriminator(nn.Module):
    def __init__(self, discriminator: Callable[..., nn.Module], shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        shape = tuple(shape)
        self.net = discriminator(shape=(shape[0] + num_classes, *shape[1:]))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(with_label_channels(x, y, self.num_classes))


class ProjectionDiscriminator(nn.Module):
    def __init__(self, discriminator: Callable[..., nn.Module], shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.net = discriminator(shape=tuple(shape))
        if not (callable(getattr(self.net, "features", None)) and hasattr(self.net, "head")
                and hasattr(self.net, "feature_dim")):
            raise ConfigError(
                f"model.conditioning=projection needs a discriminator with features(x), feature_dim and a linear "
                f"head; {type(self.net).__name__} has none. Use model.conditioning=concat, or a genzoo net "
                "(net=mlp|dcgan|resnet)."
            )
        self.embed = nn.Embedding(num_classes, self.net.feature_dim)
        nn.init.xavier_uniform_(self.embed.weight)  # as in the authors' code (Glorot uniform)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.net.features(x)
        proj = (self.embed(check_labels(y)).to(h.dtype) * h).sum(dim=1)
        return self.net.head(h).squeeze(1) + proj


def conditional_nets(generator: Callable[..., nn.Module], discriminator: Callable[..., nn.Module],
                     shape: Sequence[int], z_dim: int, num_classes: int | None, conditioning: str,
                     embed_dim: int = 32) -> tuple[nn.Module, nn.Module]:
    """The (G, D) pair of a class-conditional model, from the unconditional nets' constructors."""
    if conditioning not in CONDITIONINGS:
        raise ConfigError(f"Unknown model.conditioning={conditioning!r}; choose one of {', '.join(CONDITIONINGS)} "
                          "(or null for an unconditional model).")
    if not num_classes:
        raise ConfigError(
            "A class-conditional model needs labelled data, and this dataset has no labels. Use a labelled "
            "set (data=digits|mnist5k|mnist|fashion_mnist|cifar10, or data=toy2d with data.name=ring|grid|bimodal), "
            "or set model.conditioning=null."
        )
    g = ConditionalGenerator(generator, shape, z_dim, num_classes, embed_dim)
    d_cls = ConcatDiscriminator if conditioning == "concat" else ProjectionDiscriminator
    return g, d_cls(discriminator, shape, num_classes)
