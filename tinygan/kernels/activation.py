"""Fused kernels for the piecewise-linear activations: one pass per direction.

NumPy needs a temporary mask and a second pass for each backward (grad * (out > 0)),
and np.where branches per element; these kernels read each input once, write each
output once, and run in parallel.  The `reference_*` functions are the NumPy versions.

    leaky_relu_forward:   y  = x       if x > 0 else slope * x     (slope = 0 is ReLU)
    leaky_relu_backward:  dx = g       if x > 0 else slope * g
"""
from __future__ import annotations

import numba
import numpy as np

from . import kernel, layout


def reference_leaky_relu_forward(x, slope):
    return np.where(x > 0, x, x * x.dtype.type(slope))


def reference_leaky_relu_backward(grad, x, slope):
    return np.where(x > 0, grad, grad * grad.dtype.type(slope))


# One read and one write per element: a single thread keeps up with memory until ~2**21
# elements, and waking a second costs more (kernels/__init__.py).
MEMORY_BOUND = 1 << 21


@kernel(parallel_from=MEMORY_BOUND)
def _leaky_relu_forward_kernel(x, out, slope):
    for i in numba.prange(x.size):
        value = x[i]
        out[i] = value if value > 0 else value * slope


@kernel(parallel_from=MEMORY_BOUND)
def _leaky_relu_backward_kernel(grad, x, grad_x, slope):
    for i in numba.prange(grad.size):
        grad_x[i] = grad[i] if x[i] > 0 else grad[i] * slope


def leaky_relu_forward(x, slope):
    """max(x, 0) + slope * min(x, 0), elementwise, in x's dtype and memory order (kernels/layout.py)."""
    x = layout.dense(np.asarray(x))
    out = layout.empty_like(x)
    _leaky_relu_forward_kernel(layout.flat(x), layout.flat(out), x.dtype.type(slope))
    return out


def leaky_relu_backward(grad, x, slope):
    """The gradient through leaky_relu at input x, in x's memory order."""
    x = layout.dense(np.asarray(x))
    grad = layout.like(np.asarray(grad), x)  # the kernel walks both in the same order
    grad_x = layout.empty_like(x)
    _leaky_relu_backward_kernel(layout.flat(grad), layout.flat(x), layout.flat(grad_x), grad.dtype.type(slope))
    return grad_x
