"""Resampling: interpolate(mode="nearest" | "bilinear"), with torch.nn.functional's rules.

Shapes:  x (N, C, H, W) -> y (N, C, OH, OW), where (OH, OW) is `size`, or
floor(H * scale_factor) and floor(W * scale_factor) -- exactly one of the two is given.

Each axis is resampled on its own: output pixel i (of `out`) reads the input (of `in`
pixels) at a source coordinate src(i).  torch's rules, which this file follows to the bit:

    scale = 1 / scale_factor   when scale_factor is given (and recompute_scale_factor is not True)
          = in / out           otherwise

    nearest (torch's legacy rule):   src = min(floor(i * scale), in - 1)
        computed in float32 for every input dtype, as torch does -- float32 rounding
        decides some floors (e.g. 6 -> 74 pixels), so float64 arithmetic would disagree.
        Two shortcuts come first: out == in copies (src = i) and out == 2 * in doubles
        (src = i // 2); they differ from the formula only for a scale_factor that
        disagrees with out / in, e.g. scale_factor=2.4 on 2 pixels gives 4 pixels, read
        as 0 0 1 1 (not 0 0 0 1).

    bilinear, computed in the input's dtype:
        align_corners=False (half-pixel centres):  src = max((i + 0.5) * scale - 0.5, 0)
        align_corners=True  (corners aligned):     src = i * (in - 1) / (out - 1),  0 if out == 1
        then, with i0 = floor(src), t = src - i0 and i1 = min(i0 + 1, in - 1):
            y = (1 - t) * x[i0] + t * x[i1]          (out == in copies, as for nearest)

Both modes are linear in x, so each backward is the adjoint: every input pixel collects
the gradients of the outputs that read it, times the weight it was read with.  The index
and weight tables are computed here, in NumPy; kernels/upsampling.py applies them.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..autograd import Function
from ..kernels.upsampling import bilinear_backward, bilinear_forward, nearest_backward, nearest_forward
from ..checks import KERNEL_DTYPES, check_float, check_rank, flag, pair

MODES = ("nearest", "bilinear")


# ---------------------------------------------------------------------- where each output pixel reads
def nearest_source_index(in_size: int, out_size: int, scale_factor=None) -> np.ndarray:
    """src(i) for i in range(out_size), torch's legacy nearest rule (see the module docstring)."""
    if out_size == in_size:
        return np.arange(out_size)
    if out_size == 2 * in_size:
        return np.arange(out_size) // 2
    scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(in_size) / np.float32(out_size)
    src = np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def linear_source_index(in_size: int, out_size: int, scale_factor, align_corners: bool, dtype):
    """(i0, i1, w0, w1): output pixel i is w0[i] * x[i0[i]] + w1[i] * x[i1[i]] (see the module docstring)."""
    dtype = np.dtype(dtype).type
    if out_size == in_size:
        index = np.arange(out_size)
        return index, index, np.ones(out_size, dtype), np.zeros(out_size, dtype)
    position = np.arange(out_size, dtype=dtype)
    if align_corners:
        scale = dtype(in_size - 1) / dtype(out_size - 1) if out_size > 1 else dtype(0)
        src = position * scale
    else:
        scale = dtype(1.0 / scale_factor) if scale_factor else dtype(in_size) / dtype(out_size)
        src = np.maximum((position + dtype(0.5)) * scale - dtype(0.5), dtype(0))  # before the first centre: clamp
    # src >= 0, so truncation is floor; the min() is a guard that rounding can never break.
    index0 = np.minimum(src.astype(np.int64), in_size - 1)
    index1 = np.minimum(index0 + 1, in_size - 1)
    weight1 = src - index0.astype(dtype)
    return index0, index1, dtype(1) - weight1, weight1


# ---------------------------------------------------------------------- arguments
def _scale_pair(value):
    """A positive finite scale_factor, or a pair of them, as a pair of floats."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    valid = len(pair) == 2 and all(isinstance(s, numbers.Real) and not isinstance(s, bool) for s in pair)
    if not valid:
        raise TypeError(f"interpolate: scale_factor must be a number or a pair of numbers (h, w), got {value!r}")
    if not all(math.isfinite(s) and s > 0 for s in pair):
        raise ValueError(f"interpolate: scale_factor must be positive and finite, got {value!r}")
    return float(pair[0]), float(pair[1])


def _output_size(x, size, scale_factor, recompute_scale_factor):
    """Validate x and the size arguments; return ((OH, OW), (scale_h, scale_w) or (None, None))."""
    check_float("interpolate", "input", x, KERNEL_DTYPES)
    check_rank("interpolate", "input", x, 4, "(N, C, H, W)")
    if min(x.shape[2:]) < 1:
        raise ValueError(f"interpolate: input must have a non-empty (H, W), got shape {x.shape}")
    if (size is None) == (scale_factor is None):
        given = "neither" if size is None else "both"
        raise ValueError(f"interpolate: exactly one of size and scale_factor must be given, got {given}")
    if size is not None:
        return pair("interpolate", "size", size, minimum=1), (None, None)
    scales = _scale_pair(scale_factor)
    out_size = tuple(math.floor(n * s) for n, s in zip(x.shape[2:], scales))
    if min(out_size) < 1:
        raise ValueError(f"interpolate: scale_factor={scale_factor!r} turns input size {x.shape[2:]} into "
                         f"{out_size}; every output side must be at least 1")
    # recompute_scale_factor=True keeps only the output size: the scale becomes in / out.
    return out_size, ((None, None) if recompute_scale_factor else scales)


# ---------------------------------------------------------------------- the two modes
class UpsampleNearest2d(Function):
    """y[n, c, i, j] = x[n, c, rows[i], cols[j]]   (rows, cols: nearest_source_index per axis).

    Backward: dL/dx[n, c, h, w] = sum of g[n, c, i, j] over all (i, j) with rows[i] = h
    and cols[j] = w -- each input pixel collects the gradients of its copies.
    Shapes: x (N, C, H, W) -> y (N, C, OH, OW).
    """

    @staticmethod
    def forward(ctx, x, size=None, scale_factor=None, recompute_scale_factor=None):
        (out_h, out_w), (scale_h, scale_w) = _output_size(x, size, scale_factor, recompute_scale_factor)
        rows = nearest_source_index(x.shape[2], out_h, scale_h)
        cols = nearest_source_index(x.shape[3], out_w, scale_w)
        ctx.tables, ctx.input_size = (rows, cols), x.shape[2:]
        return nearest_forward(x, rows, cols)

    @staticmethod
    def backward(ctx, grad):
        return (nearest_backward(grad, *ctx.tables, ctx.input_size),)


class UpsampleBilinear2d(Function):
    """y[n, c, i, j] = sum over a in {0, 1}, b in {0, 1} of  wr_a[i] * wc_b[j] * x[n, c, r_a[i], c_b[j]]
    (r_0, r_1, wr_0, wr_1 = linear_source_index for the rows; c_*, wc_* for the columns).

    Backward: dL/dx[n, c, h, w] = sum of wr_a[i] * wc_b[j] * g[n, c, i, j] over the
    (i, j, a, b) with r_a[i] = h and c_b[j] = w.   Shapes: x (N, C, H, W) -> y (N, C, OH, OW).
    """

    @staticmethod
    def forward(ctx, x, size=None, scale_factor=None, align_corners=False, recompute_scale_factor=None):
        (out_h, out_w), (scale_h, scale_w) = _output_size(x, size, scale_factor, recompute_scale_factor)
        rows = linear_source_index(x.shape[2], out_h, scale_h, align_corners, x.dtype)
        cols = linear_source_index(x.shape[3], out_w, scale_w, align_corners, x.dtype)
        ctx.tables, ctx.input_size = (rows, cols), x.shape[2:]
        return bilinear_forward(x, rows, cols)

    @staticmethod
    def backward(ctx, grad):
        return (bilinear_backward(grad, *ctx.tables, ctx.input_size),)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
    if mode not in MODES:
        raise ValueError(f"interpolate: mode must be one of {MODES}, got {mode!r}")
    if align_corners is not None and not isinstance(align_corners, bool):
        raise TypeError(f"interpolate: align_corners must be True, False or None, got {align_corners!r}")
    if recompute_scale_factor is not None:
        flag("interpolate", "recompute_scale_factor", recompute_scale_factor)
    if mode == "nearest":
        if align_corners is not None:  # torch: nearest has no corners to align
            raise ValueError(f"interpolate: align_corners can only be set with mode='bilinear', "
                             f"got align_corners={align_corners} with mode='nearest'")
        return UpsampleNearest2d.apply(input, size=size, scale_factor=scale_factor,
                                       recompute_scale_factor=recompute_scale_factor)
    return UpsampleBilinear2d.apply(input, size=size, scale_factor=scale_factor, align_corners=bool(align_corners),
                                    recompute_scale_factor=recompute_scale_factor)
