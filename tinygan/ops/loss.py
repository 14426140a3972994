"""Loss functions: binary cross-entropy (on probabilities and on logits) and mean squared error.

Each computes a per-element loss l and then reduces it: reduction="mean" (the
default) averages, "sum" adds, "none" returns l itself.  The backward of the
reduction is the first step of every backward here (`_reduction_grad`).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from .activation import stable_sigmoid
from ..checks import check_array, check_float

_REDUCTIONS = ("mean", "sum", "none")


def _check_pair(op: str, input: np.ndarray, target: np.ndarray, reduction: str, weight=None) -> None:
    check_float(op, "input", input)
    check_array(op, "target", target)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if np.shape(target) != input.shape:
        raise ValueError(f"{op}: target must have the input's shape {input.shape}, got {np.shape(target)}")
    if weight is not None:  # it scales each element's loss: it may broadcast, but never enlarge the result
        try:
            fits = np.broadcast_shapes(np.shape(weight), input.shape) == input.shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{op}: weight of shape {np.shape(weight)} must broadcast to the input's shape "
                             f"{input.shape}")


def _reduce(loss: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "mean":
        return np.asarray(loss.mean(), dtype=loss.dtype)
    if reduction == "sum":
        return np.asarray(loss.sum(), dtype=loss.dtype)
    return loss


def _reduction_grad(grad: np.ndarray, shape: tuple, reduction: str) -> np.ndarray:
    """dL/dl for each element l of the unreduced loss, given dL/d(reduced loss)."""
    if reduction == "none":
        return grad
    size = int(np.prod(shape))
    return np.broadcast_to(grad / size if reduction == "mean" else grad, shape)


class BinaryCrossEntropy(Function):
    """l = -w [ t log(p) + (1 - t) log(1 - p) ],  each log clamped at -100 (as torch).

    dL/dp = g w (p - t) / max(p (1 - p), 1e-12)   (the clamp keeps p = 0 or 1 finite).
    dL/dt = g w (log(1 - p) - log(p))             (l is linear in t; the same clamped logs)
    """

    @staticmethod
    def forward(ctx, p, target, weight=None, reduction="mean"):
        op = "binary_cross_entropy"
        _check_pair(op, p, target, reduction, weight)
        _check_unit_interval(op, "input", p, "probabilities", " (use binary_cross_entropy_with_logits on logits)")
        _check_unit_interval(op, "target", target, "values")  # as torch: a loss of others means nothing
        log_p, log_not_p = _clamped_logs(p)
        loss = -(target * log_p + (1 - target) * log_not_p)
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(p, target, weight)
        ctx.reduction = reduction
        return _reduce(loss.astype(p.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        p, target, weight = ctx.saved_tensors
        grad = _reduction_grad(grad, p.shape, ctx.reduction)
        if weight is not None:
            grad = grad * weight
        grad_p = grad * (p - target) / np.maximum(p * (1 - p), 1e-12)
        grad_target = None
        if ctx.needs_input_grad[1]:  # a target that requires grad (a soft label being learned)
            log_p, log_not_p = _clamped_logs(p)
            grad_target = (grad * (log_not_p - log_p)).astype(target.dtype, copy=False)
        return grad_p.astype(p.dtype, copy=False), grad_target, None


def _check_unit_interval(op: str, name: str, values: np.ndarray, what: str, hint: str = "") -> None:
    if np.any((values < 0) | (values > 1)) or np.any(np.isnan(values)):
        raise ValueError(f"{op}: {name} must hold {what} in [0, 1], got values in "
                         f"[{np.nanmin(values):.4g}, {np.nanmax(values):.4g}]{hint}")


def _clamped_logs(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(p) and log(1 - p), each clamped at -100 as torch does (so p = 0 or 1 gives a finite loss)."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), -100), np.maximum(np.log1p(-p), -100)


class BinaryCrossEntropyWithLogits(Function):
    """l = -w [ t log(sigmoid(z)) + (1 - t) log(1 - sigmoid(z)) ], computed stably as

        l = w [ max(z, 0) - z t + log(1 + exp(-|z|)) ]

    which never exponentiates a positive number.    dL/dz = g w (sigmoid(z) - t),   dL/dt = -g w z.
    """

    @staticmethod
    def forward(ctx, z, target, weight=None, reduction="mean"):
        _check_pair("binary_cross_entropy_with_logits", z, target, reduction, weight)
        loss = np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z)))
        if weight is not None:
            loss = loss * weight
        ctx.save_for_backward(z, target, weight)
        ctx.reduction = reduction
        return _reduce(loss.astype(z.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad):
        z, target, weight = ctx.saved_tensors
        grad = _reduction_grad(grad, z.shape, ctx.reduction)
        if weight is not None:
            grad = grad * weight
        grad_z = grad * (stable_sigmoid(z) - target)
        grad_target = (-grad * z).astype(target.dtype, copy=False) if ctx.needs_input_grad[1] else None
        return grad_z.astype(z.dtype, copy=False), grad_target, None


class MSELoss(Function):
    """l = (x - t)^2.    dL/dx = 2 g (x - t),   dL/dt = -2 g (x - t)."""

    @staticmethod
    def forward(ctx, x, target, reduction="mean"):
        _check_pair("mse_loss", x, target, reduction)
        difference = x - target
        ctx.save_for_backward(difference)
        ctx.reduction = reduction
        return _reduce(difference * difference, reduction)

    @staticmethod
    def backward(ctx, grad):
        (difference,) = ctx.saved_tensors
        grad_x = 2 * _reduction_grad(grad, difference.shape, ctx.reduction) * difference
        return grad_x, -grad_x


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    return BinaryCrossEntropy.apply(input, target, weight, reduction=reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean"):
    return BinaryCrossEntropyWithLogits.apply(input, target, weight, reduction=reduction)


def mse_loss(input, target, reduction="mean"):
    return MSELoss.apply(input, target, reduction=reduction)
