"""tinygan's random numbers: one NumPy generator behind randn, rand, dropout and nn.init.

It lives in its own module, below everything that draws from it, so that ops (dropout),
layers (init) and tensor factories all reach it without importing upward.
`manual_seed` replaces it, which makes a model's initialisation and a training run repeatable.
"""
from __future__ import annotations

import contextlib

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed tinygan's random numbers (randn, rand, dropout masks, layer initialisation)."""
    global _generator
    _generator = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    """The generator behind randn/rand, dropout and nn.init; seeded by `manual_seed`."""
    return _generator


@contextlib.contextmanager
def state_kept():
    """`with state_kept():` draw freely (build throwaway models, seed for a side job); afterwards the
    default generator is back in the state it had, as if nothing had been drawn."""
    saved = _generator.bit_generator.state
    try:
        yield
    finally:
        _generator.bit_generator.state = saved  # `_generator` may be a new object by now (manual_seed)


__all__ = ["manual_seed", "default_generator", "state_kept"]
