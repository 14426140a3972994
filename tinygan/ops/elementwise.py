"""Elementwise arithmetic: add, sub, mul, div, neg, pow, exp, log, sqrt, abs, clip, cast.

Binary ops broadcast like NumPy.  Their backward computes the gradient at the
broadcast shape and then sums it back down to each input's own shape with
`unbroadcast` -- the one place that knows how broadcasting is undone.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from .common import broadcast_shape, unbroadcast


class Add(Function):
    """z = a + b.    dL/da = unbroadcast(g),  dL/db = unbroadcast(g)."""

    @staticmethod
    def forward(ctx, a, b):
        broadcast_shape("add", np.shape(a), np.shape(b))
        ctx.shapes = (np.shape(a), np.shape(b))
        return np.add(a, b)

    @staticmethod
    def backward(ctx, grad):
        shape_a, shape_b = ctx.shapes
        return unbroadcast(grad, shape_a), unbroadcast(grad, shape_b)


class Sub(Function):
    """z = a - b.    dL/da = unbroadcast(g),  dL/db = -unbroadcast(g)."""

    @staticmethod
    def forward(ctx, a, b):
        broadcast_shape("sub", np.shape(a), np.shape(b))
        ctx.shapes = (np.shape(a), np.shape(b))
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, grad):
        shape_a, shape_b = ctx.shapes
        return unbroadcast(grad, shape_a), -unbroadcast(grad, shape_b)


class Mul(Function):
    """z = a * b.    dL/da = unbroadcast(g * b),  dL/db = unbroadcast(g * a)."""

    @staticmethod
    def forward(ctx, a, b):
        broadcast_shape("mul", np.shape(a), np.shape(b))
        ctx.save_for_backward(a, b)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_a = unbroadcast(grad * b, np.shape(a)) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(grad * a, np.shape(b)) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Div(Function):
    """z = a / b.    dL/da = unbroadcast(g / b),  dL/db = unbroadcast(-g * a / b^2)."""

    @staticmethod
    def forward(ctx, a, b):
        broadcast_shape("div", np.shape(a), np.shape(b))
        ctx.save_for_backward(a, b)
        return np.divide(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        grad_over_b = grad / b
        grad_a = unbroadcast(grad_over_b, np.shape(a)) if ctx.needs_input_grad[0] else None
        grad_b = unbroadcast(-grad_over_b * a / b, np.shape(b)) if ctx.needs_input_grad[1] else None
        return grad_a, grad_b


class Neg(Function):
    """z = -a.    dL/da = -g."""

    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, grad):
        return (-grad,)


class Pow(Function):
    """z = a ** b.    dL/da = g * b * a^(b-1),  dL/db = g * a^b * log(a)  (a > 0 where b needs a grad)."""

    @staticmethod
    def forward(ctx, a, b):
        broadcast_shape("pow", np.shape(a), np.shape(b))
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(grad * b * np.power(a, b - 1), np.shape(a))
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(grad * out * np.log(a), np.shape(b))
        return grad_a, grad_b


class Exp(Function):
    """z = exp(a).    dL/da = g * z."""

    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return (grad * out,)


class Log(Function):
    """z = log(a).    dL/da = g / a."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return (grad / a,)


class Sqrt(Function):
    """z = sqrt(a).    dL/da = g / (2 z)."""

    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return (grad / (2 * out),)


class Abs(Function):
    """z = |a|.    dL/da = g * sign(a)   (0 at a = 0, as torch)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return (grad * np.sign(a),)


class Clip(Function):
    """z = min(max(a, low), high).    dL/da = g where low <= a <= high, else 0 (as torch.clamp)."""

    @staticmethod
    def forward(ctx, a, low=None, high=None):
        ctx.save_for_backward(a)
        ctx.bounds = (low, high)
        return np.clip(a, low, high)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        low, high = ctx.bounds
        inside = np.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        return (grad * inside,)


class Cast(Function):
    """z = a converted to `dtype`.    dL/da = g converted back to a's dtype."""

    @staticmethod
    def forward(ctx, a, dtype=np.float32):
        ctx.input_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return (grad.astype(ctx.input_dtype),)
