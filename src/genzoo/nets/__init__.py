"""Architectures. Networks know nothing about losses: they map noise to data and data to scores."""

from genzoo.nets.conditional import (
    CONDITIONINGS,
    ConcatDiscriminator,
    ConditionalGenerator,
    ProjectionDiscriminator,
    conditional_nets,
)
from genzoo.nets.cyclegan import CycleGenerator, PatchDiscriminator
from genzoo.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_geometry
from genzoo.nets.mlp import MLPDiscriminator, MLPGenerator
from genzoo.nets.pixelcnn import GatedPixelCNN, MaskedConv2d, MaskedPixelCNN, pixel_net
from genzoo.nets.pixelrnn import PixelRNN, pixel_rnn
from genzoo.nets.resnet import ResNetDiscriminator, ResNetGenerator
from genzoo.nets.resnet1d import ResNet1DDiscriminator, ResNet1DGenerator

__all__ = [
    "CONDITIONINGS",
    "ConcatDiscriminator",
    "ConditionalGenerator",
    "ProjectionDiscriminator",
    "conditional_nets",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "MLPDiscriminator",
    "MLPGenerator",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "ResNet1DDiscriminator",
    "ResNet1DGenerator",
    "GatedPixelCNN",
    "MaskedConv2d",
    "MaskedPixelCNN",
    "pixel_net",
    "PixelRNN",
    "pixel_rnn",
    "dcgan_geometry",
    "CycleGenerator",
    "PatchDiscriminator",
]
