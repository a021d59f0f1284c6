"""LightningDataModules. Batches are (x,) or (x, y) with x float in [-1, 1]."""

from genzoo.data.base import GenDataModule, ResumableLoader, ResumableSampler, TensorImages
from genzoo.data.embedded import ColourMNIST5k, Digits, MNIST5k
from genzoo.data.files import CelebA, ImageFolder, load_image
from genzoo.data.text import Text
from genzoo.data.toy2d import TOY2D, Toy2D, Toy2DDistribution
from genzoo.data.unpaired import DomainFolder, Unpaired, UnpairedDigits, UnpairedDomains
from genzoo.data.vision import CIFAR10, MNIST, FashionMNIST

__all__ = [
    "CIFAR10", "MNIST", "TOY2D", "CelebA", "Digits", "FashionMNIST", "GenDataModule", "ImageFolder",
    "MNIST5k", "ColourMNIST5k", "ResumableLoader", "ResumableSampler", "TensorImages", "Text", "Toy2D", "Toy2DDistribution",
    "load_image", "DomainFolder", "Unpaired", "UnpairedDigits", "UnpairedDomains",
]
