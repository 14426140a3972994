"""Fused kernels for the piecewise-linear activations: one pass per direction.

NumPy needs a temporary mask and a second pass for each backward (grad * (out > 0)),
and np.where branches per element; these kernels read each input once, write each
output once, and run in parallel.  The `reference_*` functions are the NumPy versions.

    leaky_relu_forward:   y  = x       if x > 0 else slope * x
    leaky_relu_backward:  dx = g       if x > 0 else slope * g

Slope 0 is ReLU, which follows torch's relu rather than the formula at the edges: relu(-inf)
is 0 (not -inf * 0 = NaN), relu(x) for x < 0 is +0.0 (not -0.0), and a NaN input gives a NaN
output and passes its gradient through (torch's threshold_backward: 0 where x <= 0, else g).
`leaky` and `leaky_grad` hold these rules once, for these kernels and batch norm's.
"""
from __future__ import annotations

import numba
import numpy as np

from . import kernel, layout


def reference_leaky_relu_forward(x, slope):
    if slope == 0:  # relu: 0 where x <= 0 (-inf included), NaN stays NaN
        return np.where(x <= 0, x.dtype.type(0), x)
    return np.where(x > 0, x, x * x.dtype.type(slope))


def reference_leaky_relu_backward(grad, x, slope):
    if slope == 0:
        return np.where(x <= 0, grad.dtype.type(0), grad)
    return np.where(x > 0, grad, grad * grad.dtype.type(slope))


@numba.njit(inline="always")
def leaky(y, slope, zero):
    """leaky_relu(y) for one number; slope 0 is torch's relu (see the module's docstring)."""
    if slope == 0:
        return zero if y <= 0 else y
    return y if y > 0 else y * slope


@numba.njit(inline="always")
def leaky_grad(g, y, slope, zero):
    """g times leaky_relu's derivative at y (the activation's input); slope 0 is torch's relu."""
    if slope == 0:
        return zero if y <= 0 else g
    return g if y > 0 else g * slope


# One read and one write per element: a single thread keeps up with memory until ~2**21
# elements, and waking a second costs more (kernels/__init__.py).
MEMORY_BOUND = 1 << 21


@kernel(parallel_from=MEMORY_BOUND)
def _leaky_relu_forward_kernel(x, out, slope, zero):
    for i in numba.prange(x.size):
        out[i] = leaky(x[i], slope, zero)


@kernel(parallel_from=MEMORY_BOUND)
def _leaky_relu_backward_kernel(grad, x, grad_x, slope, zero):
    for i in numba.prange(grad.size):
        grad_x[i] = leaky_grad(grad[i], x[i], slope, zero)


def leaky_relu_forward(x, slope):
    """x if x > 0 else slope * x, elementwise (slope 0: torch's relu), in x's dtype and memory order
    (kernels/layout.py)."""
    x = layout.dense(np.asarray(x))
    out = layout.empty_like(x)
    _leaky_relu_forward_kernel(layout.flat(x), layout.flat(out), x.dtype.type(slope), x.dtype.type(0))
    return out


def leaky_relu_backward(grad, x, slope):
    """The gradient through leaky_relu at input x, in x's memory order."""
    x = layout.dense(np.asarray(x))
    grad = layout.like(np.asarray(grad), x)  # the kernel walks both in the same order
    grad_x = layout.empty_like(x)
    _leaky_relu_backward_kernel(layout.flat(grad), layout.flat(x), layout.flat(grad_x), grad.dtype.type(slope),
                                grad.dtype.type(0))
    return grad_x
