"""LightningModules, one file per training scheme."""

from genzoo.models.base import GenerativeModule
from genzoo.models.gan import GAN
from genzoo.models.wgan import WGAN, WGANGP

__all__ = ["GAN", "WGAN", "WGANGP", "GenerativeModule"]
