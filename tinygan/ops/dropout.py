"""Dropout: during training, zero each element with probability p and scale the rest by 1/(1-p).

This is "inverted" dropout: scaling the survivors at training time keeps E[y] = x, so
evaluation needs no rescaling and dropout is simply the identity there.
"""
from __future__ import annotations

import numbers

import numpy as np

from ..autograd import Function
from ..checks import check_float, flag
from ..random import default_generator


class Dropout(Function):
    """y = x * mask,  mask_i = keep_i / (1 - p),  keep_i ~ Bernoulli(1 - p).    dL/dx = g * mask.

    The mask is drawn from tinygan's default generator (seeded by `tinygan.manual_seed`)
    and saved, so backward zeroes exactly the elements forward zeroed.  p = 1 drops
    everything (mask = 0) instead of dividing by zero.
    """

    @staticmethod
    def forward(ctx, x, p=0.5):

        check_float("dropout", "input", x)
        if p >= 1:
            mask = np.zeros_like(x)
        else:
            keep = default_generator().random(x.shape) >= p
            mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - p))
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return (grad * mask,)


def dropout(input, p: float = 0.5, training: bool = True):
    """torch.nn.functional.dropout: inverted dropout in training, the input itself otherwise."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout: probability p must be a number between 0 and 1, got {p!r}")
    if not flag("dropout", "training", training) or p == 0:
        return input
    return Dropout.apply(input, p=float(p))
