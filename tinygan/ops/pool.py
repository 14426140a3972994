"""Pooling with torch.nn.functional's arguments and rules: max_pool2d, avg_pool2d,
max_unpool2d and adaptive_avg_pool2d.

Shapes:  x (N, C, H, W) or (C, H, W)  ->  y (N, C, OH, OW) or (C, OH, OW), per axis
    OH = floor((H + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1,
stride defaulting to kernel_size and dilation (max pooling only) to 1,
with ceil_mode=True rounding up instead, as long as the last window starts inside the input
or its left padding (kernels/pooling.py: pool_output_length).

Like torch, padding may be at most half the kernel on each axis, and at least one window must
fit; max pooling's dilation spreads the kernel's taps apart.  Every window must hold at least
one real pixel (torch returns -inf for a dilated window that holds only padding; tinygan
refuses it).  The loops themselves live in kernels/pooling.py, beside their NumPy references.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..checks import KERNEL_DTYPES, check_array, check_float, check_rank, flag, integer, pair
from ..kernels.pooling import (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, avg_pool2d_backward,
                               avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward, max_unpool2d_backward,
                               max_unpool2d_forward, first_empty_window, pool_output_size)
from ..tensor import Tensor


def _check_input(op, x):
    check_float(op, "input", x, KERNEL_DTYPES)
    check_rank(op, "input", x, (3, 4), "(N, C, H, W) or (C, H, W)")
    if min(x.shape[-2:]) < 1:
        raise ValueError(f"{op}: input must have a non-empty (H, W), got shape {x.shape}")


def _window_arguments(op, kernel_size, stride, padding):
    """(kernel, stride, padding) as (h, w) pairs, stride defaulting to the kernel (torch's rule)."""
    kernel = pair(op, "kernel_size", kernel_size, minimum=1)
    stride = kernel if stride is None else pair(op, "stride", stride, minimum=1)
    return kernel, stride, pair(op, "padding", padding, minimum=0)


def _pool_arguments(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate a pooling call; return (kernel, stride, padding, dilation) as (h, w) pairs."""
    _check_input(op, x)
    flag(op, "ceil_mode", ceil_mode)
    kernel, stride, padding = _window_arguments(op, kernel_size, stride, padding)
    dilation = pair(op, "dilation", dilation, minimum=1)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding must be at most half of kernel_size on each axis, "
                         f"got padding={padding} with kernel_size={kernel}")
    size = x.shape[-2:]
    out_size = pool_output_size(size, kernel, stride, padding, ceil_mode, dilation)
    if min(out_size) < 1:
        padded = tuple(n + 2 * p for n, p in zip(size, padding))
        reach = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
        reach = "" if dilation == (1, 1) else f", reaching over {reach} with dilation {dilation},"
        overhang = " and the stride - 1 pixels ceil_mode lets the last window hang over" if ceil_mode else ""
        raise ValueError(f"{op}: kernel_size {kernel}{reach} is larger than the padded input {padded}{overhang} "
                         f"(input {tuple(size)} with padding {padding} on each side)")
    for axis, (n, o, k, s, p, d) in enumerate(zip(size, out_size, kernel, stride, padding, dilation)):
        empty = first_empty_window(n, o, k, s, p, d)
        if empty is not None:
            raise ValueError(f"{op}: with dilation {dilation}, window {empty} along axis {axis} holds no input "
                             f"pixel, only padding (input {tuple(size)}, kernel_size {kernel}, stride {stride}, "
                             f"padding {padding})")
    return kernel, stride, padding, dilation


def _batched(x):
    """View a (C, H, W) input as a batch of one: the kernels always see (N, C, H, W)."""
    return x[None] if x.ndim == 3 else x


def _unbatched_like(y, x):
    """y (N, C, h, w) back to x's rank: (C, h, w) when x was unbatched."""
    return y.reshape(x.shape[:-2] + y.shape[-2:])


class MaxPool2d(Function):
    """y[n, c, oh, ow] = max over the window  x_pad[n, c, oh*sh + i*dh, ow*sw + j*dw]  (0 <= i < kh, 0 <= j < kw),
    x_pad = x padded with -inf (and, with ceil_mode, the last window cut at the padded edge).

    Backward: dL/dx[n, c, h, w] = sum of g[n, c, oh, ow] over the windows whose maximum
    is at (h, w), remembered in forward (the first maximum in row-major window order
    on ties, as torch).  Shapes: x (N, C, H, W) or (C, H, W) -> y (N, C, OH, OW) or (C, OH, OW).

    `found_indices`, a list, receives those winners (flat h*W + w, torch's indices):
    apply returns the one differentiable output, and this is how return_indices gets the
    other, as batch_norm's running statistics are written into the arrays it is given.
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, found_indices=None):
        kernel, stride, padding, dilation = _pool_arguments("max_pool2d", x, kernel_size, stride, padding, dilation,
                                                            ceil_mode)
        y, argmax = max_pool2d_forward(_batched(x), kernel, stride, padding, ceil_mode, dilation)
        ctx.save_for_backward(argmax)
        ctx.input_shape = x.shape
        if found_indices is not None:
            found_indices.append(_unbatched_like(argmax, x))
        return _unbatched_like(y, x)

    @staticmethod
    def backward(ctx, grad):
        (argmax,) = ctx.saved_tensors
        grad_input = max_pool2d_backward(_batched(grad), argmax, ctx.input_shape[-2:])
        return (grad_input.reshape(ctx.input_shape),)


class AvgPool2d(Function):
    """y[n, c, oh, ow] = (sum over the window of x_pad) / d,   x_pad = x padded with 0, where d is
    divisor_override if given, else the window's pixels inside the padded input
    (count_include_pad=True: kh * kw, fewer only for a ceil_mode window hanging over the far
    edge) or inside the real input (count_include_pad=False).

    Backward: dL/dx[n, c, h, w] = sum of g[n, c, oh, ow] / d over the windows containing (h, w).
    Shapes: x (N, C, H, W) or (C, H, W) -> y (N, C, OH, OW) or (C, OH, OW).
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                divisor_override=None):
        kernel, stride, padding, _ = _pool_arguments("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
        if divisor_override is not None:
            divisor_override = integer("avg_pool2d", "divisor_override", divisor_override, minimum=1)
        ctx.geometry = (kernel, stride, padding, flag("avg_pool2d", "count_include_pad", count_include_pad),
                        divisor_override)
        ctx.input_shape = x.shape
        y = avg_pool2d_forward(_batched(x), kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return _unbatched_like(y, x)

    @staticmethod
    def backward(ctx, grad):
        grad_input = avg_pool2d_backward(_batched(grad), ctx.input_shape[-2:], *ctx.geometry)
        return (grad_input.reshape(ctx.input_shape),)


def _unpool_output_size(op, x, kernel, stride, padding, output_size):
    """torch's rule: (H_in - 1) * s - 2p + k per axis, or output_size (2 sides, or N, C, H, W)
    when it lies strictly within a stride of that -- the sizes a max pool could have come from."""
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(x.shape[-2:], stride, padding, kernel))
    if output_size is None:
        size = default
    else:
        given = tuple(output_size) if isinstance(output_size, (tuple, list)) else None
        if given is None or len(given) not in (2, 4):
            raise TypeError(f"{op}: output_size must be None or a sequence of 2 ints (H, W) or 4 (N, C, H, W), "
                            f"got {output_size!r}")
        size = pair(op, "output_size", list(given[-2:]), minimum=0)
        for axis, (side, middle, s) in enumerate(zip(size, default, stride)):
            if not middle - s < side < middle + s:
                raise ValueError(f"{op}: output_size {output_size!r} is inconsistent with the pooling: side {axis} "
                                 f"must be between {middle - s} and {middle + s} (exclusive), got {side}")
    if min(size) < 1:
        raise ValueError(f"{op}: the output would be empty, size {size} (input {tuple(x.shape[-2:])}, "
                         f"kernel_size {kernel}, stride {stride}, padding {padding})")
    return size


class MaxUnpool2d(Function):
    """y = zeros of (N, C) + output_size;  y[n, c].flat[indices[n, c, i, j]] += x[n, c, i, j]:
    each pooled value goes back where max_pool2d(..., return_indices=True) found it.

    Backward: dL/dx[n, c, i, j] = g[n, c].flat[indices[n, c, i, j]] (a gather); indices get
    no gradient.  Pooling windows that overlap can name one position twice: the values then
    add up (torch keeps one of them, unspecified which), which keeps the backward exact.
    Shapes: x and indices (N, C, H, W) or (C, H, W) -> y (N, C, OH, OW) or (C, OH, OW).
    """

    @staticmethod
    def forward(ctx, x, indices, kernel_size, stride=None, padding=0, output_size=None):
        op = "max_unpool2d"
        _check_input(op, x)
        check_array(op, "indices", indices)
        if indices.dtype != np.int64:
            raise TypeError(f"{op}: indices must be an int64 tensor (as max_pool2d(..., return_indices=True) "
                            f"returns), got dtype {indices.dtype}")
        if indices.shape != x.shape:
            raise ValueError(f"{op}: indices must have the input's shape {x.shape}, got shape {indices.shape}")
        kernel, stride, padding = _window_arguments(op, kernel_size, stride, padding)
        size = _unpool_output_size(op, x, kernel, stride, padding, output_size)
        plane = size[0] * size[1]
        if indices.size and (indices.min() < 0 or indices.max() >= plane):
            bad = indices.min() if indices.min() < 0 else indices.max()
            raise ValueError(f"{op}: indices must be flat positions in the {size[0]}x{size[1]} output planes, "
                             f"in [0, {plane}), got {bad}")
        ctx.save_for_backward(_batched(indices))
        ctx.input_shape = x.shape
        y = max_unpool2d_forward(_batched(x), _batched(indices), size)
        return _unbatched_like(y, x)

    @staticmethod
    def backward(ctx, grad):
        (indices,) = ctx.saved_tensors
        grad_input = max_unpool2d_backward(_batched(grad), indices)
        return grad_input.reshape(ctx.input_shape), None


def adaptive_output_size(where, output_size, input_size):
    """output_size as an (h, w) pair: an int, or a pair in which None keeps that side of
    `input_size` (as torch).  nn.AdaptiveAvgPool2d checks its argument with this too."""
    if isinstance(output_size, (tuple, list)) and len(output_size) == 2 and None in output_size:
        return tuple(n if side is None else integer(where, "output_size", side, minimum=1)
                     for side, n in zip(output_size, input_size))
    return pair(where, "output_size", output_size, minimum=1)


class AdaptiveAvgPool2d(Function):
    """y[n, c, i, j] = mean of x[n, c, rows_i, cols_j], the windows chosen from the output size:
    rows_i = [floor(i H / OH), ceil((i + 1) H / OH)), likewise the columns.

    Backward: dL/dx[n, c, h, w] = sum of g[n, c, i, j] / (|rows_i| |cols_j|) over the windows
    containing (h, w).  Shapes: x (N, C, H, W) or (C, H, W) -> y (N, C, OH, OW) or (C, OH, OW).
    """

    @staticmethod
    def forward(ctx, x, output_size):
        _check_input("adaptive_avg_pool2d", x)
        size = adaptive_output_size("adaptive_avg_pool2d", output_size, x.shape[-2:])
        ctx.input_shape = x.shape
        return _unbatched_like(adaptive_avg_pool2d_forward(_batched(x), size), x)

    @staticmethod
    def backward(ctx, grad):
        grad_input = adaptive_avg_pool2d_backward(_batched(grad), ctx.input_shape[-2:])
        return (grad_input.reshape(ctx.input_shape),)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling; with return_indices=True, (output, indices): indices an int64 Tensor of
    flat h*W + w positions in each input plane, what max_unpool2d needs."""
    found = [] if flag("max_pool2d", "return_indices", return_indices) else None
    output = MaxPool2d.apply(input, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                             ceil_mode=ceil_mode, found_indices=found)
    if not return_indices:
        return output
    return output, Tensor(found[0])


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return AvgPool2d.apply(input, kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
                           count_include_pad=count_include_pad, divisor_override=divisor_override)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return MaxUnpool2d.apply(input, indices, kernel_size=kernel_size, stride=stride, padding=padding,
                             output_size=output_size)


def adaptive_avg_pool2d(input, output_size):
    return AdaptiveAvgPool2d.apply(input, output_size=output_size)
