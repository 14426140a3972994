"""Convolution and transposed convolution, as im2col + one (batched) matrix product.

Shapes (PyTorch's layouts), with g = groups:
    conv2d:            x (N, C, H, W),   weight (O, C/g, kh, kw)   -> y (N, O, OH, OW)
    conv_transpose2d:  x (N, C, H, W),   weight (C, O/g, kh, kw)   -> y (N, O, OH, OW)
with, per axis,
    conv:        OH = floor((H + p_top + p_bottom - d(kh - 1) - 1) / s) + 1     (p_top = p_bottom = p for an int)
    transposed:  OH = (H - 1) s - 2p + d(kh - 1) + output_padding + 1

The two are adjoint linear maps: for the same weight, <conv2d(x), y> = <x, conv_transpose2d(y)>.
So each one's backward (with respect to its input) is the other one's forward, and the
same two kernels, im2col and col2im, serve all four directions.

Groups.  With groups=g the channels split into g consecutive blocks, and block k of the
output sees only block k of the input: g independent convolutions side by side
(groups == in_channels is the *depthwise* convolution, one filter per channel).  im2col
orders the rows of cols channel first, (c, i, j), so the rows of one input block are
consecutive, and so are the weight rows of one output block: both matrices split into g
blocks by a reshape that copies nothing,

    W2   = weight.reshape(g, O/g, C/g*kh*kw)        cols = cols.reshape(g, C/g*kh*kw, OH*OW*N)

and all g products are ONE batched matmul, W2 @ cols -> (g, O/g, OH*OW*N).  groups=1 is
the same code with a batch of one: NumPy's matmul runs the same single BLAS call as for a
2-D product, and every reshape above is a view.

Memory order.  The products multiply activations laid out (C, H*W*N), channel by channel,
pixel by pixel, the N images of a pixel side by side: cols' columns are (oh, ow, n), and
so are those of the result.  Both ops hand their result on in that order, as an (N, O,
OH, OW) view of the product with no copy (a *batch-last* array, kernels/layout.py), and
take an input in that order without copying it; an input in another order is copied
into it once.  The gradient for the input comes back batch-last too.  Every op that may
come next reads any order.

When the single window covers the whole image (the DCGAN's first layer, 1x1 -> 7x7, and
its discriminator's last, 7x7 -> 1x1), each column of cols is just one flattened image,
(C*H*W, N): batch-last, that is the image's own memory, so im2col and col2im are views
(kernels/im2col.py) and the convolution is the product of a fully connected layer.

A 4x4 kernel with stride 2 and padding 1 (the DCGAN's big layers) takes another route to
the same numbers when `winograd.applies` says it pays: four phases and Winograd's F(4x4,
2x2), 25 products of smaller matrices with about half the multiplications
(kernels/winograd.py; the `_..._winograd_backward` functions below are its backwards).
"""
from __future__ import annotations

import numpy as np

from ..autograd import DeferredGradient, Function
from ..kernels import winograd
from ..kernels.gemm import gemm
from ..kernels.im2col import col2im, im2col
from ..kernels.layout import BATCH_LAST, batch_last_memory, from_batch_last_memory, in_order
from ..checks import KERNEL_DTYPES, check_float, check_rank, check_same_dtype, integer, pair

PADDING_STRINGS = ("same", "valid")


# ---------------------------------------------------------------------- layouts (all views unless noted)
def _as_image(rows: np.ndarray, n: int, height: int, width: int) -> np.ndarray:
    """(O, H*W*N) GEMM output, columns (h, w, n) -> (N, O, H, W): a batch-last view (kernels/layout.py)."""
    return from_batch_last_memory(rows, (n, rows.shape[0], height, width))


def _to_columns(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (C, H*W*N), columns (h, w, n): what the GEMMs multiply from the right
    (a view when x is batch-last, else one copy)."""
    return batch_last_memory(x).reshape(x.shape[1], -1)


def _bias_gradient(ctx, grad: np.ndarray):
    """dL/db, the upstream gradient summed over all but its channel; None when no bias asks for it."""
    if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
        return _to_columns(grad).sum(axis=1)
    return None


def _row_blocks(a: np.ndarray, groups: int) -> np.ndarray:
    """Split the rows (axis 0) into `groups` consecutive blocks: (g*m, ...) -> (g, m, rest)."""
    return a.reshape(groups, a.shape[0] // groups, int(np.prod(a.shape[1:])))  # no -1: a may be empty


def _transposed(a: np.ndarray) -> np.ndarray:
    """Each matrix of a stack transposed: (g, m, k) -> (g, k, m)."""
    return a.transpose(0, 2, 1)


# ---------------------------------------------------------------------- arguments
def conv_padding(where, padding, kernel, stride, dilation) -> tuple[tuple[int, int], tuple[int, int]]:
    """conv2d's padding as ((top, left), (bottom, right)) zeros, from an int, a pair, 'valid' or 'same'.

    'valid' is no padding.  'same' keeps the output the size of the input, which needs
    d (k - 1) zeros in total per axis; torch puts half of them (rounded down) before and the
    rest after, so an even kernel (or an odd total) gets the extra zero at the bottom/right.
    Only stride 1 keeps the size, so 'same' with a stride > 1 is an error, as in torch.
    """
    if isinstance(padding, str):
        if padding not in PADDING_STRINGS:
            raise ValueError(f"{where}: padding must be an int, a pair of ints, 'same' or 'valid', got {padding!r}")
        if padding == "valid":
            return (0, 0), (0, 0)
        if stride != (1, 1):
            raise ValueError(f"{where}: padding='same' is not supported for strided convolutions "
                             f"(it needs stride 1), got stride={stride}")
        total = [d * (k - 1) for k, d in zip(kernel, dilation)]
        before = (total[0] // 2, total[1] // 2)
        return before, (total[0] - before[0], total[1] - before[1])
    padding = pair(where, "padding", padding, 0)
    return padding, padding


def _conv_arguments(op, x, weight, bias, groups, transposed):
    """Validate what both convolutions share (dtypes, ranks, channels, groups, bias); return groups.

    The weight's first axis is the full channel count that groups split -- out channels
    for conv2d (O, C/g, kh, kw), in channels for conv_transpose2d (C, O/g, kh, kw) -- and
    its second axis the channels of one group on the other side.
    """
    check_float(op, "input", x, KERNEL_DTYPES)
    check_same_dtype(op, ("input", x), ("weight", weight), ("bias", bias))
    check_rank(op, "input", x, 4, "(N, C, H, W)")
    check_rank(op, "weight", weight, 4, "(in, out/groups, kh, kw)" if transposed else "(out, in/groups, kh, kw)")
    groups = integer(op, "groups", groups, minimum=1)
    if weight.shape[0] % groups:
        side = "in_channels" if transposed else "out_channels"
        raise ValueError(f"{op}: groups={groups} must divide the weight's first axis ({side}), "
                         f"got weight of shape {weight.shape}")
    in_channels = weight.shape[0] if transposed else weight.shape[1] * groups
    if x.shape[1] != in_channels:
        rule = "its axis 0" if transposed else f"its axis 1 x groups={groups}"
        raise ValueError(f"{op}: input has {x.shape[1]} channels but the weight {weight.shape} expects "
                         f"{in_channels} ({rule})")
    out_channels = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},), got {bias.shape}")
    return groups


class Conv2d(Function):
    """y = conv2d(x, W) + b, computed per group k as  Y_k = W2_k @ cols_k  with  cols = im2col(x).

    Forward:   cols = im2col(x)                                  (C*kh*kw, OH*OW*N)
               W2   = W.reshape(g, O/g, C/g*kh*kw), cols as (g, C/g*kh*kw, OH*OW*N)
               Y    = W2 @ cols  (one batched matmul)            (g, O/g, OH*OW*N) = (O, OH*OW*N)
               then + b, as (N, O, OH, OW)
    Backward, with G the upstream gradient laid out as (O, OH*OW*N), split the same way (g, O/g, ...):
               dL/dW_k = G_k @ cols_k^T                  (the columns saved from the forward)
               dL/db   = G summed over its columns
               dL/dx   = col2im(W2_k^T @ G_k, stacked)   (each pixel collects from every window it was in)
    Groups never mix: block k of the gradient flows only into block k of x and of W.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        op = "conv2d"
        groups = _conv_arguments(op, x, weight, bias, groups, transposed=False)
        stride, dilation = pair(op, "stride", stride, 1), pair(op, "dilation", dilation, 1)
        kernel = weight.shape[2:]
        before, after = conv_padding(op, padding, kernel, stride, dilation)
        padded = tuple(x.shape[2 + a] + before[a] + after[a] for a in (0, 1))
        reach = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
        if reach[0] > padded[0] or reach[1] > padded[1]:
            raise ValueError(f"{op}: the kernel {tuple(kernel)} (dilated to {reach}) is larger than the "
                             f"padded input {padded}")
        out_size = tuple((padded[a] - reach[a]) // stride[a] + 1 for a in (0, 1))
        # The kernels take only the top/left padding: it places the first window.  The
        # bottom/right padding only decides how many windows there are, which out_size
        # already says, and windows reaching past the image read zeros.  So 'same' with an
        # even kernel (one more zero after than before) needs no padded copy of x.
        geometry = (kernel, stride, before, dilation, out_size)
        ctx.groups, ctx.geometry = groups, geometry
        ctx.winograd = winograd.applies(kernel, stride, before, after, dilation, groups, weight.shape[:2],
                                        x.shape[2:], x.shape[0])
        if ctx.winograd:  # 4x4, stride 2, padding 1: about half the multiplications (kernels/winograd.py)
            tiles, filters = winograd.image_tiles(x), winograd.filter_tiles(weight)  # V (25, 4C, T), U (25, O, 4C)
            out = winograd.output_from_tiles(gemm(filters, tiles), (x.shape[0], weight.shape[0]) + out_size)
            if bias is not None:
                out += bias[None, :, None, None]
            ctx.save_for_backward(x.shape, tiles, filters, weight.shape)
            return out
        weight_blocks = _row_blocks(weight, groups)  # (g, O/g, C/g*kh*kw)
        cols = im2col(x, *geometry)  # (C*kh*kw, OH*OW*N); x's own memory when one window covers the image
        out = gemm(weight_blocks, _row_blocks(cols, groups)).reshape(weight.shape[0], -1)  # (O, OH*OW*N)
        if bias is not None:
            out += bias[:, None]
        ctx.save_for_backward(x.shape, cols, weight)
        return _as_image(out, x.shape[0], *out_size)  # the product's own order: no copy

    @staticmethod
    def backward(ctx, grad):
        if ctx.winograd:
            return _conv2d_winograd_backward(ctx, grad)
        x_shape, cols, weight = ctx.saved_tensors
        groups = ctx.groups
        weight_blocks = _row_blocks(weight, groups)
        grad_x = grad_w = grad_b = None
        grad_rows = _to_columns(grad)  # (O, OH*OW*N)
        grad_blocks = _row_blocks(grad_rows, groups)  # (g, O/g, OH*OW*N)
        if ctx.needs_input_grad[0]:
            grad_cols = gemm(_transposed(weight_blocks), grad_blocks).reshape(cols.shape)
            grad_x = col2im(grad_cols, x_shape, *ctx.geometry)
        if ctx.needs_input_grad[1]:
            def weight_gradient():
                return gemm(grad_blocks, _transposed(_row_blocks(cols, groups))).reshape(weight.shape)
            # Computed when the weight's .grad is read (autograd.DeferredGradient), if ever --
            # but only from columns im2col made for this call (cols.base is None): a
            # whole-image convolution's columns are a view, of the input's own memory when it
            # is batch-last, which its owner may change meanwhile.
            grad_w = DeferredGradient(weight_gradient, weight.shape) if cols.base is None else weight_gradient()
        if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]:
            grad_b = grad_rows.sum(axis=1)
        return grad_x, grad_w, grad_b


def _conv2d_winograd_backward(ctx, grad):
    """Conv2d's backward on the Winograd path: the forward's three transforms, transposed.

    With M = Tout^T(G) the upstream gradient's tiles (25, O, T):
        dL/dx = Tin^T(U^T @ M)        dL/dW = Tw^T(M @ V^T)        (U, V saved from the forward)
    """
    x_shape, tiles, filters, weight_shape = ctx.saved_tensors
    grad_x = grad_w = None
    grad_tiles = winograd.output_tiles(grad)  # (25, O, T)
    if ctx.needs_input_grad[0]:
        grad_x = winograd.image_from_tiles(gemm(_transposed(filters), grad_tiles), x_shape)
    if ctx.needs_input_grad[1]:
        def weight_gradient():
            return winograd.filter_from_tiles(gemm(grad_tiles, _transposed(tiles)), weight_shape)
        grad_w = DeferredGradient(weight_gradient, weight_shape)  # both arrays are this call's own
    return grad_x, grad_w, _bias_gradient(ctx, grad)


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, W) + b: the adjoint (the "backward") of conv2d, with no zero insertion.

    Every input pixel x[n, c, h, w] paints a kh x kw patch  x[n, c, h, w] * W[c, :, :, :]
    onto the output channels of its group at (h*s - p, w*s - p), and overlapping patches add
    up.  As matrices, per group k (W2 = W.reshape(g, C/g, O/g*kh*kw), X = x as (g, C/g, H*W*N)):
    Forward:   cols_k = W2_k^T @ X_k                 (one batched matmul; stacked: (O*kh*kw, H*W*N))
               y      = col2im(cols) + b             (the patches, summed into place)
    Backward, with gcols = im2col(G) of the upstream gradient G (the same window geometry),
    split by groups the same way (g, O/g*kh*kw, H*W*N):
               dL/dx_k = W2_k @ gcols_k               (conv2d of G with the same weight)
               dL/dW_k = X_k @ gcols_k^T
               dL/db   = G summed over N, OH, OW
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        op = "conv_transpose2d"
        groups = _conv_arguments(op, x, weight, bias, groups, transposed=True)
        stride, dilation = pair(op, "stride", stride, 1), pair(op, "dilation", dilation, 1)
        padding, output_padding = pair(op, "padding", padding, 0), pair(op, "output_padding", output_padding, 0)
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
        out_channels = weight.shape[1] * groups
        geometry = (kernel, stride, padding, dilation, (height, width))
        ctx.groups, ctx.geometry = groups, geometry
        # The adjoint of a Winograd conv2d from (O, 2H, 2W) images to (C, H, W) (kernels/winograd.py)
        ctx.winograd = output_padding == (0, 0) and winograd.applies(kernel, stride, padding, padding, dilation,
                                                                     groups, weight.shape[:2], out_size, n)
        if ctx.winograd:
            x_tiles, filters = winograd.output_tiles(x), winograd.filter_tiles(weight)  # (25, C, T), (25, C, 4 O)
            out = winograd.image_from_tiles(gemm(_transposed(filters), x_tiles), (n, out_channels) + out_size)
            ctx.save_for_backward(x.shape, x_tiles, filters, weight.shape)
        else:
            weight_blocks = _row_blocks(weight, groups)  # (g, C/g, O/g*kh*kw)
            pixels = _to_columns(x)  # (C, H*W*N)
            cols = gemm(_transposed(weight_blocks), _row_blocks(pixels, groups))  # (g, O/g*kh*kw, H*W*N)
            out = col2im(cols.reshape(cols.shape[0] * cols.shape[1], pixels.shape[1]), (n, out_channels) + out_size,
                         *geometry)  # a view of cols when one 1x1 input paints the whole output
            ctx.save_for_backward(pixels, weight)
        if bias is not None:
            out += bias[None, :, None, None]
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.winograd:
            return _conv_transpose2d_winograd_backward(ctx, grad)
        pixels, weight = ctx.saved_tensors
        groups = ctx.groups
        n, in_channels = grad.shape[0], weight.shape[0]
        kernel, stride, padding, dilation, (height, width) = ctx.geometry
        weight_blocks = _row_blocks(weight, groups)
        grad_x = grad_w = None
        grad = in_order(grad, BATCH_LAST)  # once: im2col reads it in place, and so does the bias's sum
        grad_blocks = _row_blocks(im2col(grad, *ctx.geometry), groups)  # (g, O/g*kh*kw, H*W*N)
        if ctx.needs_input_grad[0]:
            grad_x = _as_image(gemm(weight_blocks, grad_blocks).reshape(in_channels, -1), n, height, width)
        if ctx.needs_input_grad[1]:
            grad_w = gemm(_row_blocks(pixels, groups), _transposed(grad_blocks)).reshape(weight.shape)
        return grad_x, grad_w, _bias_gradient(ctx, grad)


def _conv_transpose2d_winograd_backward(ctx, grad):
    """ConvTranspose2d's backward on the Winograd path: the conv2d it is the adjoint of, forward.

    With V = Tin(G) the upstream gradient's tiles (25, 4 O, T) and M = Tout^T(x) saved:
        dL/dx = Tout(U @ V)           dL/dW = Tw^T(M @ V^T)
    """
    x_shape, x_tiles, filters, weight_shape = ctx.saved_tensors
    grad_x = grad_w = None
    grad_tiles = winograd.image_tiles(grad)  # (25, 4 O, T)
    if ctx.needs_input_grad[0]:
        grad_x = winograd.output_from_tiles(gemm(filters, grad_tiles), x_shape)
    if ctx.needs_input_grad[1]:
        grad_w = winograd.filter_from_tiles(gemm(x_tiles, _transposed(grad_tiles)), weight_shape)
    return grad_x, grad_w, _bias_gradient(ctx, grad)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as torch) of input (N, C, H, W) with weight (O, C/groups, kh, kw).

    padding: an int, an (h, w) pair, 'valid' (none) or 'same' (output size = input size; stride 1 only).
    """
    return Conv2d.apply(input, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution of input (N, C, H, W) with weight (C, O/groups, kh, kw)."""
    return ConvTranspose2d.apply(input, weight, bias, stride=stride, padding=padding,
                                 output_padding=output_padding, groups=groups, dilation=dilation)
