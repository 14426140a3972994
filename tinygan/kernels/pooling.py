"""Max, average and adaptive average pooling, and max unpooling: NumPy references and Numba kernels.

A kh x kw window slides over each (H, W) plane of an (N, C, H, W) input, padded by
(ph, pw) on every side, moving (sh, sw) pixels at a time.  Output pixel (oh, ow) sees
input rows  oh*sh - ph ... oh*sh - ph + kh - 1  and the matching columns:

    max pool:  y[oh, ow] = max of the window           (padding counts as -inf)
    avg pool:  y[oh, ow] = sum of the window / d       (padding counts as 0)

Max pooling may also spread its kh x kw taps (dh, dw) pixels apart (dilation), so that
the window reaches over dh*(kh - 1) + 1 rows; average pooling has no dilation (nor in torch).

where d is `divisor_override` when given, else the number of window pixels inside the
padded input (count_include_pad=True: kh*kw, less only where a ceil_mode window hangs
over the far edge) or inside the real input (count_include_pad=False).  With
ceil_mode=True the output counts the windows that *start* inside the input or its left
padding (pool_output_size), so the last one may hang over the right padding; that part
is not there at all (neither a pixel nor padding).  The backward passes send gradients the
other way:

    max:  all of g[oh, ow] goes to the pixel that won the max, remembered in forward as
          `argmax`, its flat index h*W + w within the plane (torch's indices, too);
    avg:  every pixel of the window receives g[oh, ow] / d.

When windows overlap (stride < kernel) a pixel is read by several outputs, and its
gradient is the *sum* of what they send back -- the chain rule for a value used many times.

Max unpooling is max pooling's backward run as a forward: each value goes to the
position its index names (values sharing an index add up), and its backward is a gather,
g[index].  Adaptive average pooling picks its windows from the output size instead
(adaptive_windows) and, being separable, is two small matrix products.

The ops (ops/pool.py) allow padding of at most half the kernel, as torch does, and refuse
dilations that leave a window with no real pixel, so every window holds at least one: the
kernels clamp each window to the input (or skip the taps outside it) instead of building a
padded copy.  Everything here trusts its arguments; the
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

from . import kernel


def pool_output_length(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool = False,
                       dilation: int = 1) -> int:
    """How many windows fit along one axis: torch's rule.

    A window reaches over d (k - 1) + 1 pixels (its k taps d apart).  floor((size + 2p - reach)
    / s) + 1 windows fit inside the padded input.  ceil_mode rounds up instead, admitting a
    last window that hangs over the far edge -- unless that window would start in the right
    padding or beyond: every window must start inside the input or its left padding.
    """
    room = size + 2 * padding - (dilation * (kernel - 1) + 1)  # how far the window can slide
    if not ceil_mode:
        return room // stride + 1
    count = -(-room // stride) + 1  # ceil(room / stride) + 1
    if (count - 1) * stride >= size + padding:  # last window starts at (count-1)*s - p >= size
        count -= 1
    return count


def pool_output_size(input_size, kernel, stride, padding, ceil_mode=False, dilation=(1, 1)) -> tuple[int, int]:
    """(OH, OW): pool_output_length on each axis."""
    return tuple(pool_output_length(n, k, s, p, ceil_mode, d)
                 for n, k, s, p, d in zip(input_size, kernel, stride, padding, dilation))


def first_empty_window(size: int, out: int, kernel: int, stride: int, padding: int, dilation: int):
    """The first window along one axis whose taps all fall in the padding (or beyond), or None.

    Without dilation every window holds a pixel (padding <= kernel / 2); with taps d apart,
    a window can straddle the whole input, and its maximum would be -inf.
    """
    taps = np.arange(out)[:, None] * stride - padding + np.arange(kernel)[None, :] * dilation
    empty = np.flatnonzero(~((taps >= 0) & (taps < size)).any(axis=1))
    return int(empty[0]) if empty.size else None


def _windows(x, kernel, stride, padding, out_size, fill, overhang_fill=None, dilation=(1, 1)):
    """An (N, C, OH, OW, kh, kw) view of the windows of x padded with `fill`, taps `dilation` apart.

    ceil_mode's last window may reach past the padded input; that overhang is filled with
    `overhang_fill` (default: `fill`).
    """
    (ph, pw), (sh, sw), (oh, ow), (dh, dw) = padding, stride, out_size, dilation
    reach = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
    overhang = [max(0, (o - 1) * s + r - n) for o, s, r, n in zip(out_size, stride, reach, padded.shape[2:])]
    padded = np.pad(padded, ((0, 0), (0, 0), (0, overhang[0]), (0, overhang[1])),
                    constant_values=fill if overhang_fill is None else overhang_fill)
    spans = sliding_window_view(padded, reach, axis=(2, 3))  # each window's full reach...
    return spans[:, :, ::sh, ::sw, ::dh, ::dw][:, :, :oh, :ow]  # ...and its taps


# ---------------------------------------------------------------------- NumPy reference
def reference_max_pool2d_forward(x, kernel, stride, padding, ceil_mode=False, dilation=(1, 1)):
    """(y, argmax): each window's maximum and where it came from (first maximum on ties)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    out_size = pool_output_size(x.shape[2:], kernel, stride, padding, ceil_mode, dilation)
    windows = _windows(x, kernel, stride, padding, out_size, -np.inf, dilation=dilation)
    n, c, oh, ow = windows.shape[:4]
    flat = windows.reshape(n, c, oh, ow, kh * kw)
    # np.argmax returns the first maximum, in row-major window order: torch's tie rule.
    winner = flat.argmax(axis=-1)
    y = np.take_along_axis(flat, winner[..., None], axis=-1)[..., 0]
    rows = np.arange(oh)[:, None] * sh - ph + (winner // kw) * dh  # tap -> input row
    cols = np.arange(ow)[None, :] * sw - pw + (winner % kw) * dw
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


def _reference_divisors(input_size, out_size, kernel, stride, padding, count_include_pad, divisor_override):
    """(OH, OW) divisors, by counting: the window sums of a mask that is 1 where a pixel counts."""
    if divisor_override is not None:
        return np.full(out_size, float(divisor_override))
    ones = np.ones((1, 1) + tuple(input_size))
    # Padding counts with count_include_pad; ceil_mode's overhang never does.
    mask = _windows(ones, kernel, stride, padding, out_size, fill=float(count_include_pad), overhang_fill=0.0)
    return mask.sum(axis=(-2, -1))[0, 0]


def reference_avg_pool2d_forward(x, kernel, stride, padding, ceil_mode=False, count_include_pad=True,
                                 divisor_override=None):
    """y = window sum / divisor, with zero padding."""
    out_size = pool_output_size(x.shape[2:], kernel, stride, padding, ceil_mode)
    sums = _windows(x, kernel, stride, padding, out_size, 0).sum(axis=(-2, -1))
    divisor = _reference_divisors(x.shape[2:], out_size, kernel, stride, padding, count_include_pad,
                                  divisor_override)
    return (sums / divisor).astype(x.dtype)


def reference_avg_pool2d_backward(grad_output, input_size, kernel, stride, padding, count_include_pad=True,
                                  divisor_override=None):
    """dL/dx: each window pixel receives g / divisor; one strided slice-add per kernel tap."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    n, c, oh, ow = grad_output.shape
    height, width = input_size
    divisor = _reference_divisors(input_size, (oh, ow), kernel, stride, padding, count_include_pad,
                                  divisor_override)
    share = (grad_output / divisor).astype(grad_output.dtype)
    # Room for the padding and for ceil_mode's overhang, both cut off at the end.
    padded = np.zeros((n, c, max(height + 2 * ph, sh * (oh - 1) + kh), max(width + 2 * pw, sw * (ow - 1) + kw)),
                      dtype=grad_output.dtype)
    for i in range(kh):  # tap (i, j) of every window, all windows at once
        for j in range(kw):
            padded[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += share
    return padded[:, :, ph:ph + height, pw:pw + width]


def adaptive_windows(size: int, out: int):
    """(starts, ends) of adaptive pooling's windows along one axis, torch's rule:

        start_i = floor(i * size / out),    end_i = ceil((i + 1) * size / out)

    so the windows cover the axis from 0 to size, overlapping by a pixel where out does not
    divide size (5 -> 3: [0, 2), [1, 4), [3, 5)).
    """
    i = np.arange(out)
    return (i * size) // out, ((i + 1) * size + out - 1) // out


def adaptive_average_matrix(size: int, out: int, dtype=np.float64) -> np.ndarray:
    """The (out, size) matrix A with A[i, j] = 1 / len_i for j in window i: A @ v averages v's windows."""
    starts, ends = adaptive_windows(size, out)
    columns = np.arange(size)
    inside = (columns >= starts[:, None]) & (columns < ends[:, None])
    return (inside / (ends - starts)[:, None]).astype(dtype)


def reference_adaptive_avg_pool2d_forward(x, output_size):
    """y[..., i, j] = mean of x[..., rows of window i, columns of window j], one window at a time."""
    (out_h, out_w), (height, width) = output_size, x.shape[2:]
    (row_starts, row_ends), (col_starts, col_ends) = adaptive_windows(height, out_h), adaptive_windows(width, out_w)
    y = np.empty(x.shape[:2] + (out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            y[:, :, i, j] = x[:, :, row_starts[i]:row_ends[i], col_starts[j]:col_ends[j]].mean(axis=(2, 3))
    return y


# ---------------------------------------------------------------------- Numba kernels
@numba.njit(cache=True, inline="always")
def _window_span(out_index, stride, padding, kernel, size):
    """[begin, end) of the input rows (or columns) that window `out_index` covers, padding cut off."""
    start = out_index * stride - padding
    return max(start, 0), min(start + kernel, size)


@kernel
def _max_pool2d_forward_kernel(x, y, argmax, kh, kw, sh, sw, ph, pw, dh, dw):
    planes, height, width = x.shape
    _, out_h, out_w = y.shape
    for p in numba.prange(planes):
        for oh in range(out_h):
            for ow in range(out_w):
                best = -np.inf  # what the padding holds: it never wins
                best_index = -1
                for i in range(kh):  # the taps, dilation apart; those in the padding are skipped
                    h = oh * sh - ph + i * dh
                    if h < 0 or h >= height:
                        continue
                    for j in range(kw):
                        w = ow * sw - pw + j * dw
                        if w < 0 or w >= width:
                            continue
                        value = x[p, h, w]
                        # Strictly greater keeps the first maximum on ties (as torch); a NaN
                        # wins, so a NaN in the input shows in the output; the first real pixel
                        # stands in until something beats it (a window of -inf names it).
                        if best_index < 0 or value > best or np.isnan(value):
                            best = value
                            best_index = h * width + w
                y[p, oh, ow] = best
                argmax[p, oh, ow] = best_index


@kernel
def _max_pool2d_backward_kernel(grad_output, argmax, grad_input):
    planes, out_h, out_w = grad_output.shape
    width = grad_input.shape[2]
    for p in numba.prange(planes):
        for oh in range(out_h):
            for ow in range(out_w):
                index = argmax[p, oh, ow]
                grad_input[p, index // width, index % width] += grad_output[p, oh, ow]


@kernel
def _avg_pool2d_forward_kernel(x, y, divisor, kh, kw, sh, sw, ph, pw):
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
                y[p, oh, ow] = total / divisor[oh, ow]


@kernel
def _avg_pool2d_backward_kernel(grad_output, grad_input, divisor, kh, kw, sh, sw, ph, pw):
    planes, out_h, out_w = grad_output.shape
    height, width = grad_input.shape[1:]
    for p in numba.prange(planes):
        for oh in range(out_h):
            h_begin, h_end = _window_span(oh, sh, ph, kh, height)
            for ow in range(out_w):
                w_begin, w_end = _window_span(ow, sw, pw, kw, width)
                share = grad_output[p, oh, ow] / divisor[oh, ow]
                for h in range(h_begin, h_end):
                    for w in range(w_begin, w_end):
                        grad_input[p, h, w] += share


def _planes(array):
    """(N, C, H, W) -> a contiguous (N*C, H, W) array: the unit the kernels parallelise over."""
    return np.ascontiguousarray(array).reshape((-1,) + array.shape[2:])


def _window_lengths(size, out, kernel, stride, padding, count_include_pad):
    """Per window along one axis, how many of its pixels count for the average."""
    starts = np.arange(out) * stride - padding
    if count_include_pad:  # the window cut to the padded input: ceil_mode's overhang is not padding
        return np.minimum(starts + kernel, size + padding) - starts
    return np.minimum(starts + kernel, size) - np.maximum(starts, 0)  # cut to the real input


def avg_pool2d_divisors(input_size, out_size, kernel, stride, padding, count_include_pad=True,
                        divisor_override=None) -> np.ndarray:
    """(OH, OW) float64 divisors of average pooling: divisor_override, or the counted pixels.

    A window's counted pixels form a rectangle, so the count is a product of one length per
    axis (the reference gets the same numbers by summing a mask instead).
    """
    if divisor_override is not None:
        return np.full(out_size, float(divisor_override))
    rows, cols = (_window_lengths(n, o, k, s, p, count_include_pad)
                  for n, o, k, s, p in zip(input_size, out_size, kernel, stride, padding))
    return np.outer(rows, cols).astype(np.float64)


def max_pool2d_forward(x, kernel, stride, padding, ceil_mode=False, dilation=(1, 1)):
    """(y, argmax) for an (N, C, H, W) x, in x's dtype (Numba kernel)."""
    n, c = x.shape[:2]
    out_size = pool_output_size(x.shape[2:], kernel, stride, padding, ceil_mode, dilation)
    y = np.empty((n * c,) + out_size, dtype=x.dtype)
    argmax = np.empty((n * c,) + out_size, dtype=np.int64)
    _max_pool2d_forward_kernel(_planes(x), y, argmax, *kernel, *stride, *padding, *dilation)
    return y.reshape((n, c) + out_size), argmax.reshape((n, c) + out_size)


def max_pool2d_backward(grad_output, argmax, input_size):
    """dL/dx of shape (N, C) + input_size, in grad_output's dtype (Numba kernel): each
    g[n, c, i, j] added to position argmax[n, c, i, j] of its (H, W) plane."""
    n, c = grad_output.shape[:2]
    grad_input = np.zeros((n * c,) + tuple(input_size), dtype=grad_output.dtype)
    _max_pool2d_backward_kernel(_planes(grad_output), _planes(argmax), grad_input)
    return grad_input.reshape((n, c) + tuple(input_size))


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """y for an (N, C, H, W) x, in x's dtype (Numba kernel)."""
    n, c = x.shape[:2]
    out_size = pool_output_size(x.shape[2:], kernel, stride, padding, ceil_mode)
    divisor = avg_pool2d_divisors(x.shape[2:], out_size, kernel, stride, padding, count_include_pad,
                                  divisor_override)
    y = np.empty((n * c,) + out_size, dtype=x.dtype)
    _avg_pool2d_forward_kernel(_planes(x), y, divisor, *kernel, *stride, *padding)
    return y.reshape((n, c) + out_size)


def avg_pool2d_backward(grad_output, input_size, kernel, stride, padding, count_include_pad=True,
                        divisor_override=None):
    """dL/dx of shape (N, C) + input_size, in grad_output's dtype (Numba kernel).

    No ceil_mode argument: grad_output's shape already says how many windows there were.
    """
    n, c = grad_output.shape[:2]
    divisor = avg_pool2d_divisors(input_size, grad_output.shape[2:], kernel, stride, padding, count_include_pad,
                                  divisor_override)
    grad_input = np.zeros((n * c,) + tuple(input_size), dtype=grad_output.dtype)
    _avg_pool2d_backward_kernel(_planes(grad_output), grad_input, divisor, *kernel, *stride, *padding)
    return grad_input.reshape((n, c) + tuple(input_size))


# ---------------------------------------------------------------------- max unpooling
def max_unpool2d_forward(x, indices, output_size):
    """Each x[n, c, i, j] put at flat position indices[n, c, i, j] of a zero (N, C) + output_size
    plane; values that share a position add up.  Max pooling's backward is exactly this
    scatter, so the same kernel serves both."""
    return max_pool2d_backward(x, indices, output_size)


def max_unpool2d_backward(grad_output, indices):
    """dL/dx[n, c, i, j] = g[n, c] at flat position indices[n, c, i, j]: a gather (vectorised
    NumPy; there is no loop to compile)."""
    n, c = grad_output.shape[:2]
    flat = _planes(grad_output).reshape(n, c, -1)
    return np.take_along_axis(flat, indices.reshape(n, c, -1), axis=2).reshape(indices.shape)


# ---------------------------------------------------------------------- adaptive average pooling
def adaptive_avg_pool2d_forward(x, output_size):
    """y = A_h x A_w^T for each (H, W) plane, A the adaptive_average_matrix of each axis.

    Averaging window rows, then window columns, is the window mean because the windows are
    rectangles; two small matrix products (BLAS) leave no loop for Numba to speed up.
    """
    rows = adaptive_average_matrix(x.shape[2], output_size[0], x.dtype)
    cols = adaptive_average_matrix(x.shape[3], output_size[1], x.dtype)
    return rows @ x @ cols.T


def adaptive_avg_pool2d_backward(grad_output, input_size):
    """dL/dx = A_h^T g A_w: every pixel of window (i, j) receives g[i, j] / (its window's area)."""
    out_h, out_w = grad_output.shape[2:]
    rows = adaptive_average_matrix(input_size[0], out_h, grad_output.dtype)
    cols = adaptive_average_matrix(input_size[1], out_w, grad_output.dtype)
    return rows.T @ grad_output @ cols
