"""The baseline: convolution the way a typical NumPy tutorial writes it.

np.pad, then im2col through fancy indexing with precomputed index arrays, and
col2im through np.add.at (an unbuffered scatter-add).  It is correct and readable;
the benchmarks measure how much tinygan's kernels gain over it.  Benchmark code only:
tinygan itself never imports this.
"""
from __future__ import annotations

import numpy as np


def _indices(channels, height, width, kernel, stride, padding):
    out_h = (height + 2 * padding - kernel) // stride + 1
    out_w = (width + 2 * padding - kernel) // stride + 1
    rows_in_window = np.tile(np.repeat(np.arange(kernel), kernel), channels)
    rows_of_windows = stride * np.repeat(np.arange(out_h), out_w)
    cols_in_window = np.tile(np.arange(kernel), kernel * channels)
    cols_of_windows = stride * np.tile(np.arange(out_w), out_h)
    rows = rows_in_window[:, None] + rows_of_windows[None, :]
    cols = cols_in_window[:, None] + cols_of_windows[None, :]
    chans = np.repeat(np.arange(channels), kernel * kernel)[:, None]
    return chans, rows, cols, out_h, out_w


def im2col(x, kernel, stride, padding):
    n, c, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    chans, rows, cols, out_h, out_w = _indices(c, h, w, kernel, stride, padding)
    columns = padded[:, chans, rows, cols]  # (N, C*k*k, OH*OW)
    return columns.transpose(1, 2, 0).reshape(c * kernel * kernel, -1), out_h, out_w


def col2im(columns, shape, kernel, stride, padding):
    n, c, h, w = shape
    padded = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=columns.dtype)
    chans, rows, cols, out_h, out_w = _indices(c, h, w, kernel, stride, padding)
    per_image = columns.reshape(c * kernel * kernel, out_h * out_w, n).transpose(2, 0, 1)
    np.add.at(padded, (slice(None), chans, rows, cols), per_image)
    return padded[:, :, padding:padding + h, padding:padding + w] if padding else padded


def conv2d_forward_backward(x, weight, stride, padding, grad_out):
    """Forward and backward of conv2d (no bias); returns (out, grad_x, grad_w)."""
    n = x.shape[0]
    out_channels, _, kernel, _ = weight.shape
    columns, out_h, out_w = im2col(x, kernel, stride, padding)
    # The tutorial's columns are ordered (C*k*k, OH*OW*N): images vary fastest.
    out = (weight.reshape(out_channels, -1) @ columns).reshape(out_channels, out_h, out_w, n).transpose(3, 0, 1, 2)
    grad_rows = grad_out.transpose(1, 2, 3, 0).reshape(out_channels, -1)
    grad_w = (grad_rows @ columns.T).reshape(weight.shape)
    grad_x = col2im(weight.reshape(out_channels, -1).T @ grad_rows, x.shape, kernel, stride, padding)
    return out, grad_x, grad_w


def conv_transpose2d_forward_backward(x, weight, stride, padding, out_shape, grad_out):
    """Forward and backward of conv_transpose2d (no bias, no output_padding)."""
    in_channels = weight.shape[0]
    kernel = weight.shape[2]
    x_rows = x.transpose(1, 2, 3, 0).reshape(in_channels, -1)
    out = col2im(weight.reshape(in_channels, -1).T @ x_rows, out_shape, kernel, stride, padding)
    grad_columns, _, _ = im2col(grad_out, kernel, stride, padding)
    grad_x = (weight.reshape(in_channels, -1) @ grad_columns).reshape(x.shape[1], x.shape[2], x.shape[3], x.shape[0])
    grad_w = (x_rows @ grad_columns.T).reshape(weight.shape)
    return out, grad_x.transpose(3, 0, 1, 2), grad_w
