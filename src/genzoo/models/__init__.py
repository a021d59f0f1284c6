"""LightningModules, one file per training scheme."""

from genzoo.models.base import GenerativeModule
from genzoo.models.gan import GAN

__all__ = ["GAN", "GenerativeModule"]
