"""tinygan's random numbers: one NumPy generator behind randn, rand, dropout and nn.init.

It lives in its own module, below everything that draws from it, so that ops (dropout),
layers (init) and tensor factories all reach it without importing upward.
`manual_seed` replaces it, which makes a model's initialisation and a training run repeatable.
"""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed tinygan's random numbers (randn, rand, dropout masks, layer initialisation)."""
    global _generator
    _generator = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    """The generator behind randn/rand, dropout and nn.init; seeded by `manual_seed`."""
    return _generator


__all__ = ["manual_seed", "default_generator"]
