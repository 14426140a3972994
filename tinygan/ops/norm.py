"""Batch normalisation for (N, C) and (N, C, H, W) inputs.

Each channel c is normalised over the m = N (or N*H*W) values it has in the batch:

    mean_c = (1/m) sum x            var_c = (1/m) sum (x - mean_c)^2     (biased)
    xhat   = (x - mean_c) / sqrt(var_c + eps)
    y      = weight_c * xhat + bias_c

In training mode the batch statistics are used and the running estimates are updated
in place, with the *unbiased* variance (as torch):

    running_mean = (1 - momentum) running_mean + momentum mean_c
    running_var  = (1 - momentum) running_var  + momentum var_c * m / (m - 1)

In evaluation mode the running estimates replace mean_c and var_c, and y is an affine
function of x.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..kernels.batchnorm import NO_ACTIVATION, batch_norm_backward, channel_mean_var, normalize
from ..checks import KERNEL_DTYPES, check_float, check_rank, check_same_dtype, flag, number


class BatchNorm(Function):
    """Batch norm with a closed-form backward (not a chain of elementwise ops), optionally
    followed by a leaky ReLU in the same pass (`batch_norm_activation`).

    Backward, derived per channel with m values, g = dL/dy, and s = 1/sqrt(var + eps):
        dL/dbias   = sum g
        dL/dweight = sum g * xhat
        dL/dxhat   = g * weight
    In training, xhat depends on x directly and through mean and var:
        dL/dvar  = sum dL/dxhat * (x - mean) * (-1/2) s^3
        dL/dmean = -s sum dL/dxhat        (the dvar/dmean term is 0: sum (x - mean) = 0)
        dL/dx    = s dL/dxhat + dL/dvar * 2 (x - mean) / m + dL/dmean / m
    which, writing (x - mean) s = xhat, simplifies to
        dL/dx    = weight * s * ( g - mean(g) - xhat * mean(g * xhat) ).
    In evaluation, mean and var are constants and dL/dx = weight * s * g.

    With an activation z = leaky_relu(y, slope) after it, the chain rule first turns the
    upstream dL/dz into g = dL/dy = dL/dz where y > 0, slope * dL/dz elsewhere, and the
    formulas above go on unchanged.

    The statistics, the normalisation and this backward each run as one fused Numba
    kernel over the channels (kernels/batchnorm.py, with its NumPy reference).  The
    backward keeps x and recomputes xhat from it, as torch does.
    """

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, training=False, momentum=0.1, eps=1e-5,
                activation_slope=None):
        op = "batch_norm"
        check_float(op, "input", x, KERNEL_DTYPES)
        check_same_dtype(op, ("input", x), ("weight", weight), ("bias", bias))
        check_rank(op, "input", x, (2, 4), "(N, C) or (N, C, H, W)")
        channels = x.shape[1]
        for name, value in (("running_mean", running_mean), ("running_var", running_var),
                            ("weight", weight), ("bias", bias)):
            if value is not None and np.shape(value) != (channels,):
                raise ValueError(f"{op}: {name} must have shape ({channels},) for an input with {channels} "
                                 f"channels, got {np.shape(value)}")
        count = x.size // channels
        if flag(op, "training", training):
            if count < 2:
                raise ValueError(f"{op}: training needs more than 1 value per channel, got input shape {x.shape}")
            mean, var = channel_mean_var(x)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean
            if running_var is not None:
                running_var *= 1 - momentum
                running_var += momentum * var * (count / (count - 1))
        else:
            if running_mean is None or running_var is None:
                raise ValueError(f"{op}: evaluation mode (training=False) needs running_mean and running_var")
            mean, var = running_mean, running_var
        inv_std = 1 / np.sqrt(np.asarray(var, dtype=x.dtype) + x.dtype.type(eps))
        scale = np.ones(channels, dtype=x.dtype) if weight is None else weight
        shift = np.zeros(channels, dtype=x.dtype) if bias is None else bias
        slope = NO_ACTIVATION if activation_slope is None else activation_slope
        # Copies of the per-channel numbers (C each, cheap): in evaluation `mean` is the
        # running_mean buffer, which a training call before this backward moves in place,
        # and the backward recomputes y from them, so a weight or bias changed in place in
        # between must not change this call's gradient either.
        ctx.save_for_backward(x, np.array(mean, dtype=x.dtype), inv_std, np.array(scale), np.array(shift))
        ctx.training, ctx.slope = training, slope
        return normalize(x, mean, inv_std, scale, shift, slope)

    @staticmethod
    def backward(ctx, grad):
        x, mean, inv_std, scale, shift = ctx.saved_tensors
        needs_x, _, _, needs_weight, needs_bias = (ctx.needs_input_grad + (False,) * 5)[:5]
        grad_x, grad_bias, grad_weight = batch_norm_backward(grad, x, mean, inv_std, scale, shift, ctx.training,
                                                             ctx.slope)
        return (grad_x if needs_x else None, None, None, grad_weight if needs_weight else None,
                grad_bias if needs_bias else None)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """torch.nn.functional.batch_norm: running_mean/running_var (arrays or tensors) update in place."""
    return BatchNorm.apply(input, running_mean, running_var, weight, bias,
                           training=training, momentum=momentum, eps=eps)


def batch_norm_activation(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
                          eps=1e-5, negative_slope=0.0):
    """leaky_relu(batch_norm(input, ...), negative_slope) as one op (negative_slope 0: relu).

    The same numbers as the two ops one after the other, with one pass over memory fewer
    each way (the activation's own); nn.Sequential uses it for a BatchNorm followed by a
    ReLU or LeakyReLU.
    """
    slope = number("batch_norm_activation", "negative_slope", negative_slope, low=-np.inf)
    return BatchNorm.apply(input, running_mean, running_var, weight, bias, training=training, momentum=momentum,
                           eps=eps, activation_slope=slope)
