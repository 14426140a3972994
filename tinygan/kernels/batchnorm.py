"""Batch-norm kernels: per-channel statistics, normalisation, and the backward, each fused.

The input is viewed as (N, C, L) with L = H*W (or 1 for (N, C) inputs); every channel c
reduces over its m = N*L values.  NumPy needs several full passes and temporaries for
each of these steps; the kernels make one or two passes per channel, in parallel over
channels, accumulating the sums in float64 so float32 statistics stay accurate.

    channel_mean_var:     mean_c, biased var_c                               (one read of x)
    normalize:            y = leaky((x - mean_c) * inv_std_c * scale_c + shift_c, slope)
                                                                             (one read, one write)
    batch_norm_backward:  g' = g * leaky'(y, slope), then sum g', sum g' * xhat and dL/dx
                                                                             (two reads of g and x, one write)

with leaky(y, slope) = y if y > 0 else slope * y (kernels/activation.py: slope 0 is torch's
relu at the edges).  slope = 1 is no activation at all (plain batch norm), slope = 0 a ReLU,
0.2 the DCGAN's LeakyReLU: a batch norm followed by an activation saves the activation's
own pass over memory, each way (ops/norm.py, `batch_norm_activation`).

Of the arrays as large as the input, only x is kept for the backward (with the
per-channel mean, inv_std, scale and shift): xhat = (x - mean) * inv_std is recomputed
there, in the same arithmetic as the forward, which costs a few multiply-adds per element
against a whole array written and read back.  (torch keeps x too.)

The `reference_*` functions are the same computations in plain NumPy.
"""
from __future__ import annotations

import numba
import numpy as np

from . import kernel, layout
from .activation import leaky, leaky_grad, reference_leaky_relu_backward, reference_leaky_relu_forward

NO_ACTIVATION = 1.0  # the slope that makes leaky(y, slope) = y


# ---------------------------------------------------------------------- NumPy reference
def _per_channel(v, x3):
    return np.asarray(v, dtype=x3.dtype)[None, :, None]


def reference_channel_mean_var(x):
    x3 = layout.planes(x)
    mean = x3.mean(axis=(0, 2))
    centred = x3 - mean[None, :, None]
    return mean, (centred * centred).mean(axis=(0, 2))


def reference_normalize(x, mean, inv_std, scale, shift, slope=NO_ACTIVATION):
    x3 = layout.planes(x)
    y = (x3 - _per_channel(mean, x3)) * (_per_channel(inv_std, x3) * _per_channel(scale, x3)) + _per_channel(shift, x3)
    return reference_leaky_relu_forward(y, slope).reshape(x.shape)


def reference_batch_norm_backward(grad, x, mean, inv_std, scale, shift, training, slope=NO_ACTIVATION):
    g3, x3 = layout.planes(grad), layout.planes(x)
    xhat = (x3 - _per_channel(mean, x3)) * _per_channel(inv_std, x3)
    y = (x3 - _per_channel(mean, x3)) * (_per_channel(inv_std, x3) * _per_channel(scale, x3)) + _per_channel(shift, x3)
    g3 = reference_leaky_relu_backward(g3, y, slope)  # through the activation first
    sum_grad = g3.sum(axis=(0, 2))
    sum_grad_xhat = (g3 * xhat).sum(axis=(0, 2))
    if training:
        count = g3.shape[0] * g3.shape[2]
        grad_x = g3 - sum_grad[None, :, None] / count - xhat * (sum_grad_xhat / count)[None, :, None]
    else:
        grad_x = g3
    return (grad_x * _per_channel(scale, x3) * _per_channel(inv_std, x3)).reshape(grad.shape), sum_grad, sum_grad_xhat


# ---------------------------------------------------------------------- Numba kernels
# Each array comes as the rows of a C-contiguous matrix and its steps: run n of channel c is
# row n * steps[0] + c * steps[1], for n < runs (kernels/layout.py: a plane per run in the
# batch- and channel-major orders, the whole channel as one run batch-last).
@kernel(reassociate=True)  # long sums: see kernels/__init__.py
def _channel_mean_var_kernel(x, x_steps, runs, mean, var):
    channels, length = mean.shape[0], x.shape[1]
    count = runs * length
    for c in numba.prange(channels):
        # One pass, summing d = x - K and d^2 for K one of the channel's own values.  The
        # textbook one-pass E[x^2] - E[x]^2 cancels catastrophically when the mean is large
        # against the spread; around a value of the data the sums stay of the spread's size
        # (the "shifted data" algorithm), so one read of x does what two passes did.
        shifted = np.float64(x[c * x_steps[1], 0])
        total, squares = 0.0, 0.0
        for n in range(runs):
            row = x[n * x_steps[0] + c * x_steps[1]]
            for i in range(length):
                d = row[i] - shifted
                total += d
                squares += d * d
        offset = total / count
        mean[c] = shifted + offset
        var[c] = max(squares / count - offset * offset, 0.0)  # never below 0 by rounding


@kernel
def _normalize_kernel(x, x_steps, runs, mean, inv_std, scale, shift, slope, zero, out, out_steps):
    channels, length = mean.shape[0], x.shape[1]
    for c in numba.prange(channels):
        mu, b = mean[c], shift[c]
        factor = inv_std[c] * scale[c]
        for n in range(runs):
            source = x[n * x_steps[0] + c * x_steps[1]]
            target = out[n * out_steps[0] + c * out_steps[1]]
            for i in range(length):
                y = (source[i] - mu) * factor + b  # the same expression as the backward's
                target[i] = leaky(y, slope, zero)


@kernel(reassociate=True)
def _backward_kernel(g, g_steps, x, x_steps, runs, mean, inv_std, scale, shift, training, slope, zero,
                     grad_x, grad_x_steps, sum_grad, sum_grad_xhat):
    channels, length = mean.shape[0], x.shape[1]
    count = runs * length
    for c in numba.prange(channels):
        mu, s, b = mean[c], inv_std[c], shift[c]
        # The activation's derivative needs the sign of the forward's y, so y is recomputed by
        # the very expression the forward used: one product and one sum.  Written as
        # (x - mu) * s * a + b instead, reassociate=True would let the compiler regroup the
        # products, and a y within rounding of 0 could change sign between the two kernels.
        factor = s * scale[c]
        total, total_xhat = 0.0, 0.0
        for n in range(runs):
            g_row, x_row = g[n * g_steps[0] + c * g_steps[1]], x[n * x_steps[0] + c * x_steps[1]]
            for i in range(length):
                centred = x_row[i] - mu
                gi = leaky_grad(g_row[i], centred * factor + b, slope, zero)
                total += gi
                total_xhat += gi * (centred * s)
        sum_grad[c] = total
        sum_grad_xhat[c] = total_xhat
        mean_grad = total / count if training else 0.0
        mean_grad_xhat = total_xhat / count if training else 0.0
        for n in range(runs):
            g_row, x_row = g[n * g_steps[0] + c * g_steps[1]], x[n * x_steps[0] + c * x_steps[1]]
            target = grad_x[n * grad_x_steps[0] + c * grad_x_steps[1]]
            for i in range(length):
                centred = x_row[i] - mu
                gi = leaky_grad(g_row[i], centred * factor + b, slope, zero)
                if training:
                    target[i] = factor * (gi - mean_grad - centred * s * mean_grad_xhat)
                else:  # mean and var are constants: no terms through them (and no inf * 0 at an infinite x)
                    target[i] = factor * gi


def _channel_values(v, dtype):
    return np.ascontiguousarray(v, dtype=dtype)


def channel_mean_var(x):
    """Per-channel mean and biased variance of (N, C[, H, W]) x, in x's dtype."""
    channels = x.shape[1]
    mean, var = np.empty(channels, dtype=np.float64), np.empty(channels, dtype=np.float64)
    rows, steps, runs = layout.plane_rows(layout.dense(x))
    _channel_mean_var_kernel(rows, steps, runs, mean, var)
    return mean.astype(x.dtype), var.astype(x.dtype)


def normalize(x, mean, inv_std, scale, shift, slope=NO_ACTIVATION):
    """y = leaky((x - mean) * inv_std * scale + shift, slope), per channel (slope 1: no activation).

    x may be in any of the memory orders of kernels/layout.py; y is written in x's order,
    channel by channel as the kernel computes it (batch-last after a convolution: the order
    the next convolution multiplies in).
    """
    x = layout.dense(x)
    out = layout.empty_like(x)
    per_channel = [_channel_values(v, x.dtype) for v in (mean, inv_std, scale, shift)]
    rows, steps, runs = layout.plane_rows(x)
    out_rows, out_steps, _ = layout.plane_rows(out)
    _normalize_kernel(rows, steps, runs, *per_channel, x.dtype.type(slope), x.dtype.type(0), out_rows, out_steps)
    return out


def batch_norm_backward(grad, x, mean, inv_std, scale, shift, training, slope=NO_ACTIVATION):
    """(dL/dx, sum of g', sum of g' * xhat) per channel, g' the gradient at the activation's input;
    see ops/norm.py for the derivation.  dL/dx comes in x's memory order."""
    grad, x = layout.dense(grad), layout.dense(x)
    if layout.is_batch_last(grad) != layout.is_batch_last(x):  # the kernel walks both in runs of one length
        grad = layout.like(grad, x)
    grad_x = layout.empty_like(x)
    channels = grad.shape[1]
    sum_grad, sum_grad_xhat = np.empty(channels, dtype=np.float64), np.empty(channels, dtype=np.float64)
    per_channel = [_channel_values(v, grad.dtype) for v in (mean, inv_std, scale, shift)]
    (g_rows, g_steps, runs), (x_rows, x_steps, _), (out_rows, out_steps, _) = (
        layout.plane_rows(a) for a in (grad, x, grad_x))
    _backward_kernel(g_rows, g_steps, x_rows, x_steps, runs, *per_channel, training, grad.dtype.type(slope),
                     grad.dtype.type(0), out_rows, out_steps, sum_grad, sum_grad_xhat)
    return grad_x, sum_grad.astype(grad.dtype), sum_grad_xhat.astype(grad.dtype)
