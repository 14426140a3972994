"""Reductions: sum, mean, max over some axes (all by default), with `keepdims`.

Each backward has the same first step: give the reduced gradient back the axes the
forward removed (`_restore_axes`), so it broadcasts against the input again.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function


def normalize_axes(op: str, axis, ndim: int) -> tuple:
    """`axis` (None, an int or a sequence of ints, negatives allowed) as a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    normalized = []
    for a in axes:
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions")
        normalized.append(int(a) % max(ndim, 1))
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(normalized))


def _restore_axes(grad: np.ndarray, axes: tuple, keepdims: bool) -> np.ndarray:
    return grad if keepdims else np.expand_dims(grad, axes)


class Sum(Function):
    """z = sum of a over `axes`.    dL/da = g broadcast back over the summed axes."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.axes = normalize_axes("sum", axis, a.ndim)
        ctx.keepdims, ctx.shape = keepdims, a.shape
        return np.asarray(a.sum(axis=ctx.axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, grad):
        return (np.broadcast_to(_restore_axes(grad, ctx.axes, ctx.keepdims), ctx.shape),)


class Mean(Function):
    """z = mean of a over `axes` (n elements each).    dL/da = g / n broadcast back."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.axes = normalize_axes("mean", axis, a.ndim)
        ctx.keepdims, ctx.shape = keepdims, a.shape
        ctx.count = int(np.prod([a.shape[i] for i in ctx.axes]))
        return np.asarray(a.mean(axis=ctx.axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx, grad):
        grad = _restore_axes(grad, ctx.axes, ctx.keepdims) / ctx.count
        return (np.broadcast_to(grad, ctx.shape),)


class Max(Function):
    """z = max of a over `axes`.

    dL/da = g at the positions that attain the maximum, 0 elsewhere; when several
    elements tie they share g equally (as torch.amax), so the gradient still sums to g.
    """

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        if a.size == 0:
            raise ValueError(f"max: cannot reduce an empty tensor of shape {a.shape}")
        axes = normalize_axes("max", axis, a.ndim)
        out = np.asarray(a.max(axis=axes, keepdims=True))
        ctx.save_for_backward(a, out)
        ctx.axes, ctx.keepdims = axes, keepdims
        return out if keepdims else np.asarray(np.squeeze(out, axis=axes))

    @staticmethod
    def backward(ctx, grad):
        a, out = ctx.saved_tensors
        winners = (a == out).astype(a.dtype)
        winners /= winners.sum(axis=ctx.axes, keepdims=True)
        return (winners * _restore_axes(grad, ctx.axes, ctx.keepdims),)
