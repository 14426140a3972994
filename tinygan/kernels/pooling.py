"""Max and average pooling, forward and backward: NumPy references and Numba kernels.

A kh x kw window slides over each (H, W) plane of an (N, C, H, W) input, padded by
(ph, pw) on every side, moving (sh, sw) pixels at a time.  Output pixel (oh, ow) sees
input rows  oh*sh - ph ... oh*sh - ph + kh - 1  and the matching columns:

    max pool:  y[oh, ow] = max of the window           (padding counts as -inf)
    avg pool:  y[oh, ow] = sum of the window / d       (padding counts as 0)

where d = kh*kw (count_include_pad=True) or the number of real, unpadded pixels in the
window (count_include_pad=False).  The backward passes send gradients the other way:

    max:  all of g[oh, ow] goes to the pixel that won the max, remembered in forward as
          `argmax`, its flat index h*W + w within the plane (torch's indices, too);
    avg:  every pixel of the window receives g[oh, ow] / d.

When windows overlap (stride < kernel) a pixel is read by several outputs, and its
gradient is the *sum* of what they send back -- the chain rule for a value used many times.

The ops (ops/pool.py) allow padding of at most half the kernel, as torch does, so
every window holds at least one real pixel: the kernels clamp each window to the
input instead of building a padded copy.  Everything here trusts its arguments; the
ops validate them first.

Each computation comes twice: `reference_*`, plain vectorised NumPy to read first,
and the Numba kernel the ops call, which does the same in one pass, parallel over
the N*C planes.  Planes never share an output or a gradient pixel, so the parallel
loops need no locks.  tests/test_kernels_pool_upsample.py proves the pairs equal.
"""
from __future__ import annotations

import numba
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .im2col import output_size


def pool_output_size(input_size, kernel, stride, padding) -> tuple[int, int]:
    """(OH, OW): floor((H + 2p - k) / s) + 1 per axis -- a convolution's windows, no dilation."""
    return tuple(output_size(n, k, s, p, 1) for n, k, s, p in zip(input_size, kernel, stride, padding))


def _windows(x, kernel, stride, padding, fill):
    """An (N, C, OH, OW, kh, kw) view of the windows of x padded with `fill`."""
    (ph, pw), (sh, sw) = padding, stride
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    return sliding_window_view(padded, kernel, axis=(2, 3))[:, :, ::sh, ::sw]


# ---------------------------------------------------------------------- NumPy reference
def reference_max_pool2d_forward(x, kernel, stride, padding):
    """(y, argmax): each window's maximum and where it came from (first maximum on ties)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    windows = _windows(x, kernel, stride, padding, -np.inf)
    n, c, oh, ow = windows.shape[:4]
    flat = windows.reshape(n, c, oh, ow, kh * kw)
    # np.argmax returns the first maximum, in row-major window order: torch's tie rule.
    winner = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, winner[..., None], axis=-1)[..., 0]
    rows = np.arange(oh)[:, None] * sh - ph + winner // kw  # window offset -> input row
    cols = np.arange(ow)[None, :] * sw - pw + winner % kw
    return y, rows * x.shape[3] + cols


def reference_max_pool2d_backward(grad_output, argmax, input_size):
    """dL/dx: scatter-add each g[oh, ow] onto the pixel argmax[oh, ow] names."""
    n, c = grad_output.shape[:2]
    height, width = input_size
    grad_input = np.zeros((n * c, height * width), dtype=grad_output.dtype)
    planes = np.arange(n * c)[:, None]
    # np.add.at, unlike `+=` on fancy indices, adds every contribution of a repeated index.
    np.add.at(grad_input, (planes, argmax.reshape(n * c, -1)), grad_output.reshape(n * c, -1))
    return grad_input.reshape(n, c, height, width)


def _real_pixel_counts(input_size, kernel, stride, padding, dtype):
    """(OH, OW): how many pixels of each window lie inside the input, not in the padding."""
    ones = np.ones((1, 1) + tuple(input_size), dtype=dtype)
    return _windows(ones, kernel, stride, padding, 0).sum(axis=(-2, -1))[0, 0]


def reference_avg_pool2d_forward(x, kernel, stride, padding, count_include_pad=True):
    """y = window sum / divisor, with zero padding."""
    sums = _windows(x, kernel, stride, padding, 0).sum(axis=(-2, -1))
    divisor = kernel[0] * kernel[1] if count_include_pad else _real_pixel_counts(x.shape[2:], kernel, stride,
                                                                                  padding, x.dtype)
    return (sums / divisor).astype(x.dtype)


def reference_avg_pool2d_backward(grad_output, input_size, kernel, stride, padding, count_include_pad=True):
    """dL/dx: each window pixel receives g / divisor; one strided slice-add per kernel tap."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, oh, ow = grad_output.shape
    height, width = input_size
    divisor = kh * kw if count_include_pad else _real_pixel_counts(input_size, kernel, stride, padding,
                                                                   grad_output.dtype)
    share = (grad_output / divisor).astype(grad_output.dtype)
    padded = np.zeros((n, c, height + 2 * ph, width + 2 * pw), dtype=grad_output.dtype)
    for i in range(kh):  # tap (i, j) of every window, all windows at once
        for j in range(kw):
            padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += share
    return padded[:, :, ph:ph + height, pw:pw + width]


# ---------------------------------------------------------------------- Numba kernels
@numba.njit(cache=True, inline="always")
def _window_span(out_index, stride, padding, kernel, size):
    """[begin, end) of the input rows (or columns) that window `out_index` covers, padding cut off."""
    start = out_index * stride - padding
    return max(start, 0), min(start + kernel, size)


@numba.njit(cache=True, parallel=True)
def _max_pool2d_forward_kernel(x, y, argmax, kh, kw, sh, sw, ph, pw):
    planes, height, width = x.shape
    _, out_h, out_w = y.shape
    for p in numba.prange(planes):
        for oh in range(out_h):
            h_begin, h_end = _window_span(oh, sh, ph, kh, height)
            for ow in range(out_w):
                w_begin, w_end = _window_span(ow, sw, pw, kw, width)
                best = -np.inf  # what the padding holds: it never wins
                best_index = h_begin * width + w_begin
                for h in range(h_begin, h_end):
                    for w in range(w_begin, w_end):
                        value = x[p, h, w]
                        # Strictly greater keeps the first maximum on ties (as torch);
                        # a NaN wins, so a NaN in the input shows in the output.
                        if value > best or np.isnan(value):
                            best = value
                            best_index = h * width + w
                y[p, oh, ow] = best
                argmax[p, oh, ow] = best_index


@numba.njit(cache=True, parallel=True)
def _max_pool2d_backward_kernel(grad_output, argmax, grad_input):
    planes, out_h, out_w = grad_output.shape
    width = grad_input.shape[2]
    for p in numba.prange(planes):
        for oh in range(out_h):
            for ow in range(out_w):
                index = argmax[p, oh, ow]
                grad_input[p, index // width, index % width] += grad_output[p, oh, ow]


@numba.njit(cache=True, parallel=True)
def _avg_pool2d_forward_kernel(x, y, kh, kw, sh, sw, ph, pw, count_include_pad):
    planes, height, width = x.shape
    _, out_h, out_w = y.shape
    for p in numba.prange(planes):
        for oh in range(out_h):
            h_begin, h_end = _window_span(oh, sh, ph, kh, height)
            for ow in range(out_w):
                w_begin, w_end = _window_span(ow, sw, pw, kw, width)
                total = 0.0
                for h in range(h_begin, h_end):
                    for w in range(w_begin, w_end):
                        total += x[p, h, w]
                divisor = kh * kw if count_include_pad else (h_end - h_begin) * (w_end - w_begin)
                y[p, oh, ow] = total / divisor


@numba.njit(cache=True, parallel=True)
def _avg_pool2d_backward_kernel(grad_output, grad_input, kh, kw, sh, sw, ph, pw, count_include_pad):
    planes, out_h, out_w = grad_output.shape
    height, width = grad_input.shape[1:]
    for p in numba.prange(planes):
        for oh in range(out_h):
            h_begin, h_end = _window_span(oh, sh, ph, kh, height)
            for ow in range(out_w):
                w_begin, w_end = _window_span(ow, sw, pw, kw, width)
                divisor = kh * kw if count_include_pad else (h_end - h_begin) * (w_end - w_begin)
                share = grad_output[p, oh, ow] / divisor
                for h in range(h_begin, h_end):
                    for w in range(w_begin, w_end):
                        grad_input[p, h, w] += share


def _planes(array):
    """(N, C, H, W) -> a contiguous (N*C, H, W) array: the unit the kernels parallelise over."""
    return np.ascontiguousarray(array).reshape((-1,) + array.shape[2:])


def max_pool2d_forward(x, kernel, stride, padding):
    """(y, argmax) for an (N, C, H, W) x, in x's dtype (Numba kernel)."""
    n, c = x.shape[:2]
    out_size = pool_output_size(x.shape[2:], kernel, stride, padding)
    y = np.empty((n * c,) + out_size, dtype=x.dtype)
    argmax = np.empty((n * c,) + out_size, dtype=np.int64)
    _max_pool2d_forward_kernel(_planes(x), y, argmax, *kernel, *stride, *padding)
    return y.reshape((n, c) + out_size), argmax.reshape((n, c) + out_size)


def max_pool2d_backward(grad_output, argmax, input_size):
    """dL/dx of shape (N, C) + input_size, in grad_output's dtype (Numba kernel)."""
    n, c = grad_output.shape[:2]
    grad_input = np.zeros((n * c,) + tuple(input_size), dtype=grad_output.dtype)
    _max_pool2d_backward_kernel(_planes(grad_output), _planes(argmax), grad_input)
    return grad_input.reshape((n, c) + tuple(input_size))


def avg_pool2d_forward(x, kernel, stride, padding, count_include_pad=True):
    """y for an (N, C, H, W) x, in x's dtype (Numba kernel)."""
    n, c = x.shape[:2]
    out_size = pool_output_size(x.shape[2:], kernel, stride, padding)
    y = np.empty((n * c,) + out_size, dtype=x.dtype)
    _avg_pool2d_forward_kernel(_planes(x), y, *kernel, *stride, *padding, bool(count_include_pad))
    return y.reshape((n, c) + out_size)


def avg_pool2d_backward(grad_output, input_size, kernel, stride, padding, count_include_pad=True):
    """dL/dx of shape (N, C) + input_size, in grad_output's dtype (Numba kernel)."""
    n, c = grad_output.shape[:2]
    grad_input = np.zeros((n * c,) + tuple(input_size), dtype=grad_output.dtype)
    _avg_pool2d_backward_kernel(_planes(grad_output), grad_input, *kernel, *stride, *padding,
                                bool(count_include_pad))
    return grad_input.reshape((n, c) + tuple(input_size))
