"""Ops that move numbers without changing them: reshape, permute, index, cat, stack.

Their backward moves the gradient back the same way: reshape it back, apply the
inverse permutation, scatter it into the indexed positions, or split it up.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..checks import dim as checked_dim


class Reshape(Function):
    """z = a viewed with a new shape of the same size.    dL/da = g reshaped to a's shape."""

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {a.shape} "
                             f"({a.size} elements) into shape {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, grad):
        return (grad.reshape(ctx.shape),)


class Permute(Function):
    """z = a with its axes reordered: z.shape[i] = a.shape[axes[i]].    dL/da = g permuted by the inverse."""

    @staticmethod
    def forward(ctx, a, axes):
        axes = tuple(int(x) % max(a.ndim, 1) for x in axes)
        if sorted(axes) != list(range(a.ndim)):
            raise ValueError(f"permute: axes must be a permutation of 0..{a.ndim - 1}, got {axes}")
        ctx.inverse = tuple(np.argsort(axes))
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, grad):
        return (grad.transpose(ctx.inverse),)


def _plain_key(key):
    """True when `key` holds only ints and slices, so each element is picked at most once."""
    key = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice)) for k in key)


class Index(Function):
    """z = a[key] (ints, slices, None, Ellipsis, integer or boolean arrays).

    dL/da = zeros of a's shape with g added at the indexed positions; `np.add.at`
    makes repeated indices (a[[0, 0]]) receive both contributions.
    """

    @staticmethod
    def forward(ctx, a, key):
        ctx.key, ctx.shape, ctx.dtype = key, a.shape, a.dtype
        try:
            return np.asarray(a[key])
        except IndexError as error:
            raise IndexError(f"index: {error} (tensor shape {a.shape})") from None

    @staticmethod
    def backward(ctx, grad):
        grad_a = np.zeros(ctx.shape, dtype=grad.dtype)
        if _plain_key(ctx.key):
            grad_a[ctx.key] = grad
        else:
            np.add.at(grad_a, ctx.key, grad)
        return (grad_a,)


def _check_same_shapes(op, arrays, skip_axis=None):
    shapes = [tuple(s for i, s in enumerate(a.shape) if i != skip_axis) for a in arrays]
    if len(set(shapes)) > 1 or len({a.ndim for a in arrays}) > 1:
        what = "except along the joined axis" if skip_axis is not None else ""
        raise ValueError(f"{op}: all tensors must have the same shape {what}, got "
                         + ", ".join(str(a.shape) for a in arrays))


class Cat(Function):
    """z = the inputs joined along an existing axis.    dL/d(input i) = the slice of g it fills."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("cat: expected a non-empty sequence of tensors")
        if arrays[0].ndim == 0:
            raise ValueError("cat: zero-dimensional tensors cannot be joined along an axis; use stack")
        axis = checked_dim("cat", "dim", axis, arrays[0].ndim)
        _check_same_shapes("cat", arrays, skip_axis=axis)
        ctx.axis = axis
        ctx.split_points = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.split(grad, ctx.split_points, axis=ctx.axis))


class Stack(Function):
    """z = the inputs stacked along a new axis.    dL/d(input i) = g taken at index i of that axis."""

    @staticmethod
    def forward(ctx, *arrays, axis=0):
        if not arrays:
            raise ValueError("stack: expected a non-empty sequence of tensors")
        _check_same_shapes("stack", arrays)
        ctx.axis = checked_dim("stack", "dim", axis, arrays[0].ndim + 1)
        return np.stack(arrays, axis=ctx.axis)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.axis, 0))
