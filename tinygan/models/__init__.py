"""Ready-made models built from tinygan.nn: the MNIST DCGAN.

    from tinygan.models import Generator, Discriminator, weights_init
    G = Generator(nz=100, ngf=64).apply(weights_init)
"""
from .dcgan import UPSAMPLE_MODES, Discriminator, Generator, weights_init

__all__ = ["Generator", "Discriminator", "weights_init", "UPSAMPLE_MODES"]
