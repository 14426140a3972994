"""Convolution and transposed convolution, as im2col + one matrix product.

Shapes (PyTorch's layouts):
    conv2d:            x (N, C, H, W),   weight (O, C, kh, kw)    -> y (N, O, OH, OW)
    conv_transpose2d:  x (N, C, H, W),   weight (C, O, kh, kw)    -> y (N, O, OH, OW)
with, per axis,
    conv:        OH = floor((H + 2p - d(kh - 1) - 1) / s) + 1
    transposed:  OH = (H - 1) s - 2p + d(kh - 1) + output_padding + 1

The two are adjoint linear maps: for the same weight, <conv2d(x), y> = <x, conv_transpose2d(y)>.
So each one's backward (with respect to its input) is the other one's forward, and the
same two kernels, im2col and col2im, serve all four directions.

When the single window covers the whole image (the DCGAN's first layer, 1x1 -> 7x7, and
its discriminator's last, 7x7 -> 1x1), each column of cols would just be one flattened
image: the convolution *is* a fully connected layer, and both ops compute it as one,
with no im2col/col2im and no transposes.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..kernels.im2col import col2im, im2col, output_size, window_is_whole_image
from ..checks import KERNEL_DTYPES, check_float, check_rank, check_same_dtype, pair


def gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b, except that an inner dimension of 1 (an outer product) is a broadcast multiply.

    OpenBLAS runs outer products at ~1 GFLOP/s (it is tuned for real matrix products);
    the broadcast multiply is two orders of magnitude faster on the same shapes.
    """
    return a * b if a.shape[1] == 1 else a @ b


def _to_batch_major(rows: np.ndarray, n: int, height: int, width: int) -> np.ndarray:
    """(O, N*H*W) GEMM output -> contiguous (N, O, H, W)."""
    channels = rows.shape[0]
    return np.ascontiguousarray(rows.reshape(channels, n, height, width).transpose(1, 0, 2, 3))


def _to_channel_major(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (C, N*H*W): what the GEMMs multiply from the right."""
    return x.transpose(1, 0, 2, 3).reshape(x.shape[1], -1)


def _conv_arguments(op, x, weight, bias, stride, padding, dilation, groups, weight_in_axis):
    """Validate what both convolutions share; return the normalised (stride, padding, dilation)."""
    check_float(op, "input", x, KERNEL_DTYPES)
    check_same_dtype(op, ("input", x), ("weight", weight), ("bias", bias))
    check_rank(op, "input", x, 4, "(N, C, H, W)")
    check_rank(op, "weight", weight, 4, "(out, in, kh, kw)" if weight_in_axis == 1 else "(in, out, kh, kw)")
    if groups != 1:
        raise NotImplementedError(f"{op}: groups={groups} is not supported (only groups=1)")
    if x.shape[1] != weight.shape[weight_in_axis]:
        raise ValueError(f"{op}: input has {x.shape[1]} channels but the weight {weight.shape} expects "
                         f"{weight.shape[weight_in_axis]} (its axis {weight_in_axis})")
    out_channels = weight.shape[1 - weight_in_axis]
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), got {bias.shape}")
    return pair(op, "stride", stride, 1), pair(op, "padding", padding, 0), pair(op, "dilation", dilation, 1)


class Conv2d(Function):
    """y = conv2d(x, W) + b, computed as  Y = W2 @ cols  with  cols = im2col(x).

    Forward:   cols = im2col(x)                   (C*kh*kw, N*OH*OW)
               Y    = W.reshape(O, C*kh*kw) @ cols  (O, N*OH*OW), then + b, as (N, O, OH, OW)
    Backward, with G the upstream gradient laid out as (O, N*OH*OW):
               dL/dW = G @ cols^T                  (the columns saved from the forward)
               dL/db = G summed over its columns
               dL/dx = col2im(W2^T @ G)            (each pixel collects from every window it was in)
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        stride, padding, dilation = _conv_arguments("conv2d", x, weight, bias, stride, padding, dilation, groups, 1)
        kernel = weight.shape[2:]
        padded = (x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1])
        reach = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
        if reach[0] > padded[0] or reach[1] > padded[1]:
            raise ValueError(f"conv2d: the kernel {tuple(kernel)} (dilated to {reach}) is larger than the "
                             f"padded input {padded}")
        out_size = tuple(output_size(x.shape[2 + a], kernel[a], stride[a], padding[a], dilation[a]) for a in (0, 1))
        geometry = (kernel, stride, padding, dilation, out_size)
        weight_rows = weight.reshape(weight.shape[0], -1)
        ctx.geometry, ctx.fully_connected = geometry, window_is_whole_image(x.shape[2:], *geometry)
        if ctx.fully_connected:  # one window = the whole image: a linear layer, no im2col needed
            images = x.reshape(x.shape[0], -1)
            out = images @ weight_rows.T
            if bias is not None:
                out += bias
            ctx.save_for_backward(x.shape, images, weight)
            return out.reshape(out.shape + (1, 1))
        cols = im2col(x, *geometry)
        out = weight_rows @ cols
        if bias is not None:
            out += bias[:, None]
        ctx.save_for_backward(x.shape, cols, weight)
        return _to_batch_major(out, x.shape[0], *out_size)

    @staticmethod
    def backward(ctx, grad):
        x_shape, cols, weight = ctx.saved_tensors
        weight_rows = weight.reshape(weight.shape[0], -1)
        grad_x = grad_w = grad_b = None
        if ctx.fully_connected:  # y = images @ W2^T: the backward of a linear layer
            grad_rows = grad.reshape(grad.shape[0], -1)
            if ctx.needs_input_grad[0]:
                grad_x = gemm(grad_rows, weight_rows).reshape(x_shape)
            if ctx.needs_input_grad[1]:
                grad_w = (grad_rows.T @ cols).reshape(weight.shape)
        else:
            grad_rows = _to_channel_major(grad)
            if ctx.needs_input_grad[0]:
                grad_x = col2im(gemm(weight_rows.T, grad_rows), x_shape, *ctx.geometry)
            if ctx.needs_input_grad[1]:
                grad_w = (grad_rows @ cols.T).reshape(weight.shape)
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            grad_b = grad.sum(axis=(0, 2, 3))
        return grad_x, grad_w, grad_b


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, W) + b: the adjoint (the "backward") of conv2d, with no zero insertion.

    Every input pixel x[n, c, h, w] paints a kh x kw patch  x[n, c, h, w] * W[c, :, :, :]
    onto the output at (h*s - p, w*s - p), and overlapping patches add up.  As matrices:
    Forward:   cols = W.reshape(C, O*kh*kw)^T @ X    with X = x as (C, N*H*W)
               y    = col2im(cols) + b                 (the patches, summed into place)
    Backward, with gcols = im2col(G) of the upstream gradient G (the same window geometry):
               dL/dx = W2 @ gcols                       (conv2d of G with the same weight)
               dL/dW = X @ gcols^T
               dL/db = G summed over N, OH, OW
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        op = "conv_transpose2d"
        stride, padding, dilation = _conv_arguments(op, x, weight, bias, stride, padding, dilation, groups, 0)
        output_padding = pair(op, "output_padding", output_padding, 0)
        for axis in (0, 1):
            if output_padding[axis] >= max(stride[axis], dilation[axis]):
                raise ValueError(f"{op}: output_padding must be smaller than either stride or dilation, got "
                                 f"output_padding={output_padding}, stride={stride}, dilation={dilation}")
        kernel = weight.shape[2:]
        out_size = tuple((x.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (kernel[a] - 1)
                         + output_padding[a] + 1 for a in (0, 1))
        if min(out_size) <= 0:
            raise ValueError(f"{op}: the output size {out_size} is not positive for input {x.shape[2:]}, "
                             f"kernel {tuple(kernel)}, stride {stride}, padding {padding}")
        n, in_channels, height, width = x.shape
        out_channels = weight.shape[1]
        weight_rows = weight.reshape(in_channels, -1)
        geometry = (kernel, stride, padding, dilation, (height, width))
        ctx.geometry, ctx.fully_connected = geometry, window_is_whole_image(out_size, *geometry)
        if ctx.fully_connected:  # a 1x1 input painting one whole patch: a linear layer
            pixels = x.reshape(n, in_channels)
            out = gemm(pixels, weight_rows).reshape((n, out_channels) + out_size)
        else:
            pixels = _to_channel_major(x)
            out = col2im(gemm(weight_rows.T, pixels), (n, out_channels) + out_size, *geometry)
        if bias is not None:
            out += bias[None, :, None, None]
        ctx.save_for_backward(pixels, weight)
        return out

    @staticmethod
    def backward(ctx, grad):
        pixels, weight = ctx.saved_tensors
        n, in_channels = grad.shape[0], weight.shape[0]
        kernel, stride, padding, dilation, (height, width) = ctx.geometry
        weight_rows = weight.reshape(in_channels, -1)
        grad_x = grad_w = grad_b = None
        if ctx.fully_connected:  # y = pixels @ W2: the backward of a linear layer
            grad_rows = grad.reshape(n, -1)
            if ctx.needs_input_grad[0]:
                grad_x = (grad_rows @ weight_rows.T).reshape(n, in_channels, 1, 1)
            if ctx.needs_input_grad[1]:
                grad_w = (pixels.T @ grad_rows).reshape(weight.shape)
        else:
            grad_cols = im2col(grad, *ctx.geometry)
            if ctx.needs_input_grad[0]:
                grad_x = _to_batch_major(weight_rows @ grad_cols, n, height, width)
            if ctx.needs_input_grad[1]:
                grad_w = (pixels @ grad_cols.T).reshape(weight.shape)
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            grad_b = grad.sum(axis=(0, 2, 3))
        return grad_x, grad_w, grad_b


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as torch) of input (N, C, H, W) with weight (O, C, kh, kw)."""
    return Conv2d.apply(input, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution of input (N, C, H, W) with weight (C, O, kh, kw)."""
    return ConvTranspose2d.apply(input, weight, bias, stride=stride, padding=padding,
                                 output_padding=output_padding, groups=groups, dilation=dilation)
