"""Activation functions: relu, leaky_relu, sigmoid, tanh.

Each is applied elementwise, so each backward is the upstream gradient times the
derivative at that element.  Sigmoid and tanh are written to stay finite and
warning-free for any input, |x| = 1000 included.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..kernels.activation import leaky_relu_backward, leaky_relu_forward
from ..checks import check_float, number


class ReLU(Function):
    """y = max(0, x).    dL/dx = g where x > 0, else 0 (the subgradient at 0 is 0, as torch).

    ReLU is leaky_relu with slope 0; both run as one-pass kernels (kernels/activation.py).
    """

    @staticmethod
    def forward(ctx, x):
        check_float("relu", "input", x)
        ctx.save_for_backward(x)
        return leaky_relu_forward(x, 0.0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return (leaky_relu_backward(grad, x, 0.0),)


class LeakyReLU(Function):
    """y = x if x > 0 else a*x   (a = negative_slope).    dL/dx = g if x > 0 else a*g."""

    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        check_float("leaky_relu", "input", x)
        negative_slope = number("leaky_relu", "negative_slope", negative_slope, low=-np.inf)
        ctx.save_for_backward(x)
        ctx.slope = negative_slope
        return leaky_relu_forward(x, negative_slope)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return (leaky_relu_backward(grad, x, ctx.slope),)


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x) without overflow: for x < 0 use the equal form e^x / (1 + e^x).

    Both forms are computed from e = e^-|x| <= 1, which can never overflow.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Function):
    """y = 1 / (1 + e^-x).    dL/dx = g * y * (1 - y)."""

    @staticmethod
    def forward(ctx, x):
        check_float("sigmoid", "input", x)
        out = stable_sigmoid(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return (grad * out * (1 - out),)


class Tanh(Function):
    """y = tanh(x) = (e^x - e^-x) / (e^x + e^-x).    dL/dx = g * (1 - y^2)."""

    @staticmethod
    def forward(ctx, x):
        check_float("tanh", "input", x)
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return (grad * (1 - out * out),)


def relu(input):
    return ReLU.apply(input)


def leaky_relu(input, negative_slope: float = 0.01):
    return LeakyReLU.apply(input, negative_slope=negative_slope)


def sigmoid(input):
    return Sigmoid.apply(input)


def tanh(input):
    return Tanh.apply(input)
