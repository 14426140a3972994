"""Helpers every op family shares: argument normalisation, shape checks, unbroadcast.

They live in one place so that every op reports bad input the same way: the message
names the op, the argument, what was expected and what was given (docs/design.md, "Where to add an op").
"""
from __future__ import annotations

import numbers

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


def _pair(op: str, name: str, value, minimum: int = 0) -> tuple[int, int]:
    """Normalise an int or (h, w) pair argument to a tuple of two ints >= minimum."""
    pair = (value, value) if isinstance(value, numbers.Integral) else tuple(value) if isinstance(value, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in pair):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints (h, w), got {value!r}")
    if min(pair) < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{op}: {name} must be {bound}, got {value!r}")
    return int(pair[0]), int(pair[1])


def check_rank(op: str, name: str, array: np.ndarray, ranks, meaning: str) -> None:
    """Raise a ValueError unless `array.ndim` is one of `ranks` (meaning, e.g., '(N, C, H, W)')."""
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if array.ndim not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"{op}: {name} must be {expected} {meaning}, got shape {array.shape}")


def check_float(op: str, name: str, array: np.ndarray) -> None:
    """Raise a TypeError unless `array` holds floating-point numbers."""
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got dtype {array.dtype}")
