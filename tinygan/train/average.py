"""`WeightAverage`: an exponential moving average of a model's weights, kept in a second copy of it.

A GAN's generator never settles: each step answers the discriminator of that moment, so
its weights keep circling around a good solution rather than arriving at one.  Averaging
the weights over the last few hundred steps cancels much of that circling (Yazici et al.
2019, "The Unusual Effectiveness of Averaging in GAN Training"); sampling from the average
costs one multiply-add per weight per step and no extra gradient.

    average_t = d * average_{t-1} + (1 - d) * weights_t,   d = min(decay, (1 + t) / (10 + t))

The smaller d of the first steps (as in TensorFlow's ExponentialMovingAverage with
`num_updates`) keeps the average from remembering the random initial weights for the
first ~1/(1 - decay) steps.  Buffers are averaged the same way (BatchNorm's running mean
and variance: the average generator samples in evaluation mode, with statistics that
match averaged weights better than the last step's); integer buffers (a batch count)
are copied.
"""
from __future__ import annotations

import numpy as np

from ..kernels.optim import lerp_
from ..nn import Module

WARMUP = 10  # d_t = (1 + t) / (WARMUP + t) until that exceeds the decay


class WeightAverage:
    """`average`, a copy of `model` (same architecture) that follows `model`'s weights with `decay`.

    The copy is in evaluation mode and needs no gradients; `update(step)` after each
    optimizer step of `model` moves it.
    """

    def __init__(self, model: Module, average: Module, decay: float):
        self.model, self.average, self.decay = model, average, decay
        average.load_state_dict(model.state_dict())
        average.eval().requires_grad_(False)

    def update(self, step: int) -> None:
        """Move the average toward the model's weights after optimizer step number `step` (0-based)."""
        d = min(self.decay, (1 + step) / (WARMUP + step))
        # average <- d * average + (1 - d) * value, written as average += (1 - d)(value - average),
        # in one fused pass per array (kernels/optim.py)
        for mine, theirs in zip(self.average.parameters(), self.model.parameters()):
            lerp_(mine.data, theirs.data, 1.0 - d)
        for mine, theirs in zip(self.average.buffers(), self.model.buffers()):
            if np.issubdtype(mine.dtype, np.floating):
                lerp_(mine, theirs, 1.0 - d)
            else:
                mine[...] = theirs


__all__ = ["WeightAverage"]
