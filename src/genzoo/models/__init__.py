"""LightningModules, one file per training scheme."""

from genzoo.models.base import GenerativeModule
from genzoo.models.gan import GAN
from genzoo.models.wgan import FGAN, WGAN, WGANGP

__all__ = ["FGAN", "GAN", "WGAN", "WGANGP", "GenerativeModule"]
