"""Matrix products: matmul (with batch broadcasting) and the fully connected `linear` layer."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..checks import check_float, check_rank, check_same_dtype
from ..kernels.gemm import gemm
from .common import broadcast_shape, unbroadcast


class MatMul(Function):
    """Z = A @ B for A (..., n, k) and B (..., k, m); leading (batch) axes broadcast.

    dL/dA = G @ B^T   and   dL/dB = A^T @ G, each summed over the batch axes its input
    was broadcast along.  A 1-D A is treated as a row (1, k), a 1-D B as a column (k, 1),
    and the added axis removed from Z, as in NumPy and torch.
    """

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and {b.shape}")
        ctx.shapes = (a.shape, b.shape)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a2.shape[-1] != b2.shape[-2]:
            raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} "
                             f"({a2.shape[-1]} != {b2.shape[-2]})")
        broadcast_shape("matmul (batch axes)", a2.shape[:-2], b2.shape[:-2])
        ctx.save_for_backward(a2, b2)
        out = gemm(a2, b2)
        if a.ndim == 1:
            out = out[..., 0, :]
        if b.ndim == 1:
            out = out[..., 0]
        return out

    @staticmethod
    def backward(ctx, grad):
        a2, b2 = ctx.saved_tensors
        shape_a, shape_b = ctx.shapes
        # Put back the axes the forward dropped: B's column axis first, then A's row axis.
        if len(shape_b) == 1:
            grad = np.expand_dims(grad, -1)
        if len(shape_a) == 1:
            grad = np.expand_dims(grad, -2)
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_a = unbroadcast(gemm(grad, np.swapaxes(b2, -1, -2)), a2.shape).reshape(shape_a)
        if ctx.needs_input_grad[1]:
            grad_b = unbroadcast(gemm(np.swapaxes(a2, -1, -2), grad), b2.shape).reshape(shape_b)
        return grad_a, grad_b


class Linear(Function):
    """y = x W^T + b   for x (..., in), W (out, in), b (out,)  ->  y (..., out).

    Backward, with the leading axes of x flattened into one (rows):
        dL/dx = G W,      dL/dW = G^T x,      dL/db = sum of G over the rows.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        check_float("linear", "input", x)
        check_same_dtype("linear", ("input", x), ("weight", weight), ("bias", bias))
        check_rank("linear", "weight", weight, 2, "(out_features, in_features)")
        check_rank("linear", "input", x, range(1, 33), "(..., in_features)")
        if x.shape[-1] != weight.shape[1]:
            raise ValueError(f"linear: input has {x.shape[-1]} features in its last axis but the weight "
                             f"(out_features, in_features) = {weight.shape} expects {weight.shape[1]}")
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
        ctx.save_for_backward(x, weight)
        out = gemm(x, weight.T)
        return out + bias if bias is not None else out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        rows_grad = grad.reshape(-1, grad.shape[-1])
        grad_x = gemm(grad, weight) if ctx.needs_input_grad[0] else None
        grad_w = gemm(rows_grad.T, x.reshape(-1, x.shape[-1])) if ctx.needs_input_grad[1] else None
        grad_b = rows_grad.sum(axis=0) if len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b


def matmul(input, other):
    return MatMul.apply(input, other)


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias (torch.nn.functional.linear)."""
    return Linear.apply(input, weight, bias)
