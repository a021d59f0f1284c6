"""LightningModules, one file per training scheme."""

from genzoo.models.base import GenerativeModule
from genzoo.models.cyclegan import CycleGAN
from genzoo.models.gan import CGAN, FGAN, GAN
from genzoo.models.pixelcnn import PixelCNN, PixelRNN
from genzoo.models.vae import CVAE, VAE
from genzoo.models.wgan import WGAN, WGANGP

__all__ = ["CycleGAN", "CGAN", "CVAE", "FGAN", "GAN", "PixelCNN", "PixelRNN", "VAE", "WGAN", "WGANGP", "GenerativeModule"]
