"""Pooling: max_pool2d and avg_pool2d, with torch.nn.functional's arguments and rules.

Shapes:  x (N, C, H, W) or (C, H, W)  ->  y (N, C, OH, OW) or (C, OH, OW), per axis
    OH = floor((H + 2 * padding - kernel_size) / stride) + 1,    stride defaults to kernel_size.

Like torch, padding may be at most half the kernel on each axis (so that every window
holds at least one real pixel), and the kernel must fit inside the padded input.
Only ceil_mode=False and dilation=1 are supported.  The loops themselves live in
kernels/pooling.py, beside their NumPy references.
"""
from __future__ import annotations

from ..autograd import Function
from ..kernels.pooling import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from ..checks import KERNEL_DTYPES, check_float, check_rank, pair


def _pool_arguments(op, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate a pooling call; return (kernel, stride, padding) as (h, w) pairs."""
    check_float(op, "input", x, KERNEL_DTYPES)
    check_rank(op, "input", x, (3, 4), "(N, C, H, W) or (C, H, W)")
    kernel = pair(op, "kernel_size", kernel_size, minimum=1)
    stride = kernel if stride is None else pair(op, "stride", stride, minimum=1)
    padding = pair(op, "padding", padding, minimum=0)
    if pair(op, "dilation", dilation, minimum=1) != (1, 1):
        raise NotImplementedError(f"{op}: dilation={dilation!r} is not supported (only dilation=1)")
    if ceil_mode:
        raise NotImplementedError(f"{op}: ceil_mode=True is not supported (only ceil_mode=False)")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding must be at most half of kernel_size on each axis, "
                         f"got padding={padding} with kernel_size={kernel}")
    size = x.shape[-2:]
    if min(size) < 1:
        raise ValueError(f"{op}: input must have a non-empty (H, W), got shape {x.shape}")
    padded = tuple(n + 2 * p for n, p in zip(size, padding))
    if any(k > n for k, n in zip(kernel, padded)):
        raise ValueError(f"{op}: kernel_size {kernel} is larger than the padded input {padded} "
                         f"(input {tuple(size)} with padding {padding} on each side)")
    return kernel, stride, padding


def _batched(x):
    """View a (C, H, W) input as a batch of one: the kernels always see (N, C, H, W)."""
    return x[None] if x.ndim == 3 else x


class MaxPool2d(Function):
    """y[n, c, oh, ow] = max over the window  x_pad[n, c, oh*sh : oh*sh + kh, ow*sw : ow*sw + kw],
    x_pad = x padded with -inf.

    Backward: dL/dx[n, c, h, w] = sum of g[n, c, oh, ow] over the windows whose maximum
    is at (h, w), remembered in forward (the first maximum in row-major window order
    on ties, as torch).  Shapes: x (N, C, H, W) or (C, H, W) -> y (N, C, OH, OW) or (C, OH, OW).
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        kernel, stride, padding = _pool_arguments("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
        y, argmax = max_pool2d_forward(_batched(x), kernel, stride, padding)
        ctx.save_for_backward(argmax)
        ctx.input_shape = x.shape
        return y.reshape(x.shape[:-2] + y.shape[-2:])

    @staticmethod
    def backward(ctx, grad):
        (argmax,) = ctx.saved_tensors
        grad_input = max_pool2d_backward(_batched(grad), argmax, ctx.input_shape[-2:])
        return (grad_input.reshape(ctx.input_shape),)


class AvgPool2d(Function):
    """y[n, c, oh, ow] = (sum over the window of x_pad) / d,   x_pad = x padded with 0,
    d = kh * kw, or with count_include_pad=False the number of real (unpadded) pixels.

    Backward: dL/dx[n, c, h, w] = sum of g[n, c, oh, ow] / d over the windows containing (h, w).
    Shapes: x (N, C, H, W) or (C, H, W) -> y (N, C, OH, OW) or (C, OH, OW).
    """

    @staticmethod
    def forward(ctx, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        kernel, stride, padding = _pool_arguments("avg_pool2d", x, kernel_size, stride, padding, 1, ceil_mode)
        ctx.geometry = (kernel, stride, padding, bool(count_include_pad))
        ctx.input_shape = x.shape
        y = avg_pool2d_forward(_batched(x), kernel, stride, padding, count_include_pad)
        return y.reshape(x.shape[:-2] + y.shape[-2:])

    @staticmethod
    def backward(ctx, grad):
        grad_input = avg_pool2d_backward(_batched(grad), ctx.input_shape[-2:], *ctx.geometry)
        return (grad_input.reshape(ctx.input_shape),)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    return MaxPool2d.apply(input, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                           ceil_mode=ceil_mode)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return AvgPool2d.apply(input, kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
                           count_include_pad=count_include_pad)

