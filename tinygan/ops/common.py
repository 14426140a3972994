"""Shape helpers every op family shares: broadcasting and its backward, unbroadcast.

The argument checks (pairs, ranks, dtypes) live one level up, in tinygan/checks.py, because
nn, optim, data and the command line use them too.
"""
from __future__ import annotations

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum `grad` down to `shape`: the backward of NumPy broadcasting.

    Broadcasting copies an input along the axes it lacks (leading axes) or has with
    length 1; each copy received its own gradient, so the input's gradient is their sum.
    """
    if grad.shape == tuple(shape):
        return grad
    extra_leading_axes = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra_leading_axes))) if extra_leading_axes else grad
    stretched_axes = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    if stretched_axes:
        grad = grad.sum(axis=stretched_axes, keepdims=True)
    return grad


def broadcast_shape(op: str, *shapes) -> tuple:
    """The broadcast shape of `shapes`, or a ValueError that names the op and both shapes."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        given = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{op}: shapes {given} cannot be broadcast together "
                         "(each axis must match or be 1, counting from the right)") from None
