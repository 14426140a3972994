"""Adam's update, and the weight average's, each as one fused pass over the weights.

Adam: each weight, gradient and moment read once and written once.

The NumPy version (`reference_adam_update`, the same arithmetic as `optim.Adam` writes out
with its derivation) makes about a dozen passes over each parameter -- scale m, add the
scaled gradient, scale v, square, scale, add, square root, divide, ... -- each a sweep
over megabytes that do not stay in cache.  Per element the work is a handful of
multiply-adds and one square root, so the kernel's single pass is limited by reading
four arrays and writing three.

    m     = beta1 m + (1 - beta1) g
    v     = beta2 v + (1 - beta2) g^2
    theta = theta - step_size * m / (sqrt(v) / sqrt_bias2 + eps)

with step_size = lr / (1 - beta1^t) and sqrt_bias2 = sqrt(1 - beta2^t) computed once per
step by the caller.  The kernel works in float64 per element and rounds once on the
store, so it may differ from the float32 NumPy sweeps in the last bit.

The weight average (train/average.py) moves a copy of G toward G after every step:

    average = average + weight * (value - average)      (torch's `lerp_`)

NumPy needs two temporaries and three sweeps for it; the kernel reads each array once
and does the same float operations in the same order, so its results are bit-identical.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from . import kernel


def reference_adam_update(param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size, sqrt_bias2, eps):
    """The update in NumPy, in place on param, exp_avg and exp_avg_sq."""
    exp_avg *= beta1
    exp_avg += (1 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    param -= step_size * exp_avg / (np.sqrt(exp_avg_sq) / sqrt_bias2 + eps)


@kernel
def _adam_kernel(param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size, sqrt_bias2, eps):
    for i in numba.prange(param.size):
        g = grad[i]
        m = beta1 * exp_avg[i] + (1.0 - beta1) * g
        v = beta2 * exp_avg_sq[i] + (1.0 - beta2) * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] -= step_size * m / (math.sqrt(v) / sqrt_bias2 + eps)


def adam_update(param, grad, exp_avg, exp_avg_sq, beta1, beta2, step_size, sqrt_bias2, eps) -> None:
    """`reference_adam_update`, fused (Numba); param, exp_avg and exp_avg_sq must be contiguous (they are
    updated in place through flat views), grad is made so if it is not."""
    grad = np.ascontiguousarray(grad, dtype=param.dtype)
    _adam_kernel(param.reshape(-1), grad.reshape(-1), exp_avg.reshape(-1), exp_avg_sq.reshape(-1),
                 float(beta1), float(beta2), float(step_size), float(sqrt_bias2), float(eps))


def reference_lerp_(average, value, weight) -> None:
    """average += weight * (value - average), in place, in average's dtype."""
    average += average.dtype.type(weight) * (value - average)


@kernel
def _lerp_kernel(average, value, weight):
    for i in numba.prange(average.size):
        average[i] += weight * (value[i] - average[i])


def lerp_(average, value, weight) -> None:
    """`reference_lerp_`, fused (Numba) where average is contiguous (the kernel updates a flat view)."""
    if not average.flags.c_contiguous:
        return reference_lerp_(average, value, weight)
    value = np.ascontiguousarray(value, dtype=average.dtype)
    _lerp_kernel(average.reshape(-1), value.reshape(-1), average.dtype.type(weight))


__all__ = ["adam_update", "lerp_", "reference_adam_update", "reference_lerp_"]
