"""Batch-norm kernels: per-channel statistics, normalisation, and the backward, each fused.

The input is viewed as (N, C, L) with L = H*W (or 1 for (N, C) inputs); every channel c
reduces over its m = N*L values.  NumPy needs several full passes and temporaries for
each of these steps; the kernels make one or two passes per channel, in parallel over
channels, accumulating the sums in float64 so float32 statistics stay accurate.

    channel_mean_var:     mean_c, biased var_c
    normalize:            xhat = (x - mean_c) * inv_std_c,  y = xhat * scale_c + shift_c
    batch_norm_backward:  sum g, sum g*xhat, and dL/dx (training or evaluation form)

The `reference_*` functions are the same computations in plain NumPy.
"""
from __future__ import annotations

import numba
import numpy as np

from . import kernel


def as_channels(x: np.ndarray) -> np.ndarray:
    """(N, C) or (N, C, H, W) viewed as (N, C, L)."""
    return x.reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:])))  # no -1: N may be 0


# ---------------------------------------------------------------------- NumPy reference
def reference_channel_mean_var(x):
    x3 = as_channels(x)
    mean = x3.mean(axis=(0, 2))
    centred = x3 - mean[None, :, None]
    return mean, (centred * centred).mean(axis=(0, 2))


def reference_normalize(x, mean, inv_std, scale, shift):
    x3 = as_channels(x)
    xhat = (x3 - mean[None, :, None]) * inv_std[None, :, None]
    return xhat.reshape(x.shape), (xhat * scale[None, :, None] + shift[None, :, None]).reshape(x.shape)


def reference_batch_norm_backward(grad, xhat, scale, training):
    g3, xhat3 = as_channels(grad), as_channels(xhat)
    sum_grad = g3.sum(axis=(0, 2))
    sum_grad_xhat = (g3 * xhat3).sum(axis=(0, 2))
    if training:
        count = g3.shape[0] * g3.shape[2]
        grad_x = (g3 - sum_grad[None, :, None] / count - xhat3 * (sum_grad_xhat / count)[None, :, None])
    else:
        grad_x = g3
    return (grad_x * scale[None, :, None]).reshape(grad.shape), sum_grad, sum_grad_xhat


# ---------------------------------------------------------------------- Numba kernels
@kernel(reassociate=True)  # long sums: see kernels/__init__.py
def _channel_mean_var_kernel(x3, mean, var):
    n_images, channels, length = x3.shape
    count = n_images * length
    for c in numba.prange(channels):
        total = 0.0
        for n in range(n_images):
            for i in range(length):
                total += x3[n, c, i]
        mu = total / count
        squares = 0.0  # a second pass around the mean: no cancellation, unlike E[x^2] - E[x]^2
        for n in range(n_images):
            for i in range(length):
                d = x3[n, c, i] - mu
                squares += d * d
        mean[c] = mu
        var[c] = squares / count


@kernel
def _normalize_kernel(x3, mean, inv_std, scale, shift, xhat3, out3):
    n_images, channels, length = x3.shape
    for c in numba.prange(channels):
        mu, s, a, b = mean[c], inv_std[c], scale[c], shift[c]
        for n in range(n_images):
            for i in range(length):
                h = (x3[n, c, i] - mu) * s
                xhat3[n, c, i] = h
                out3[n, c, i] = h * a + b


@kernel(reassociate=True)
def _backward_kernel(g3, xhat3, scale, training, grad_x3, sum_grad, sum_grad_xhat):
    n_images, channels, length = g3.shape
    count = n_images * length
    for c in numba.prange(channels):
        total, total_xhat = 0.0, 0.0
        for n in range(n_images):
            for i in range(length):
                total += g3[n, c, i]
                total_xhat += g3[n, c, i] * xhat3[n, c, i]
        sum_grad[c] = total
        sum_grad_xhat[c] = total_xhat
        a = scale[c]
        mean_grad = total / count if training else 0.0
        mean_grad_xhat = total_xhat / count if training else 0.0
        for n in range(n_images):
            for i in range(length):
                grad_x3[n, c, i] = a * (g3[n, c, i] - mean_grad - xhat3[n, c, i] * mean_grad_xhat)


def channel_mean_var(x):
    """Per-channel mean and biased variance of (N, C[, H, W]) x, in x's dtype."""
    channels = x.shape[1]
    mean, var = np.empty(channels, dtype=np.float64), np.empty(channels, dtype=np.float64)
    _channel_mean_var_kernel(as_channels(np.ascontiguousarray(x)), mean, var)
    return mean.astype(x.dtype), var.astype(x.dtype)


def normalize(x, mean, inv_std, scale, shift):
    """(xhat, y): xhat = (x - mean) * inv_std and y = xhat * scale + shift, per channel."""
    x = np.ascontiguousarray(x)
    xhat, out = np.empty_like(x), np.empty_like(x)
    cast = lambda v: np.ascontiguousarray(v, dtype=x.dtype)
    _normalize_kernel(as_channels(x), cast(mean), cast(inv_std), cast(scale), cast(shift),
                      as_channels(xhat), as_channels(out))
    return xhat, out


def batch_norm_backward(grad, xhat, scale, training):
    """(dL/dx, sum of g, sum of g * xhat) per channel; see ops/norm.py for the derivation."""
    grad = np.ascontiguousarray(grad)
    grad_x = np.empty_like(grad)
    channels = grad.shape[1]
    sum_grad, sum_grad_xhat = np.empty(channels, dtype=np.float64), np.empty(channels, dtype=np.float64)
    _backward_kernel(as_channels(grad), as_channels(xhat), np.ascontiguousarray(scale, dtype=grad.dtype),
                     training, as_channels(grad_x), sum_grad, sum_grad_xhat)
    return grad_x, sum_grad.astype(grad.dtype), sum_grad_xhat.astype(grad.dtype)
