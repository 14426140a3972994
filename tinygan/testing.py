"""Hypothesis strategies for testing tinygan -- and your own ops.

    from hypothesis import given
    from tinygan.testing import shapes, float_arrays

    @given(shapes(max_dims=3).flatmap(float_arrays))
    def test_my_op(x): ...

The layer strategies (`conv2d_configs`, ...) draw only *valid* configurations: shapes
where the kernel fits the padded input, output_padding smaller than stride or
dilation, and so on, so every example exercises the op rather than its error path.
Requires hypothesis (`pip install tinygan[test]`).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 5):
    """Array shapes, e.g. (), (3,), (2, 1, 4)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 4, max_side: int = 4):
    """A tuple of `num_shapes` shapes that broadcast together, e.g. ((3, 1), (2, 1, 4))."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
                                             max_side=max_side).map(lambda result: result.input_shapes)


def float_dtypes():
    """float32 or float64."""
    return st.sampled_from([np.float32, np.float64])


def float_arrays(shape, dtype=np.float64, min_value: float = -3.0, max_value: float = 3.0):
    """Arrays of finite floats in [min_value, max_value]."""
    elements = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, width=np.dtype(dtype).itemsize * 8)
    return hnp.arrays(dtype, shape, elements=elements)


def away_from(value: float, margin: float = 1e-3, min_value: float = -3.0, max_value: float = 3.0):
    """Floats in [min_value, max_value] at least `margin` away from `value`.

    For checking functions with a kink (relu at 0, abs at 0, clip at its bounds),
    where a central difference straddling the kink measures neither side's slope.
    """
    return st.floats(min_value, max_value, allow_nan=False).filter(lambda v: abs(v - value) > margin)


def seeds():
    """Seeds for np.random.default_rng: draw data fast from a seed instead of element by element."""
    return st.integers(0, 2**32 - 1)


# ---------------------------------------------------------------------- layer configurations
def pairs(min_value: int, max_value: int):
    """(h, w) pairs of ints, often unequal: strides like (4, 2) are part of the contract."""
    return st.tuples(st.integers(min_value, max_value), st.integers(min_value, max_value))


@st.composite
def conv2d_configs(draw, max_batch: int = 2, max_channels: int = 3, max_size: int = 6, max_kernel: int = 3,
                   max_stride: int = 3, max_padding: int = 2, max_dilation: int = 2):
    """Valid conv2d settings: a dict with input_shape, weight_shape, stride, padding, dilation.

    The input is drawn *after* the kernel, so that the dilated kernel always fits the
    padded input (the case conv2d rejects with a ValueError is tested separately).
    """
    kernel, stride = draw(pairs(1, max_kernel)), draw(pairs(1, max_stride))
    padding, dilation = draw(pairs(0, max_padding)), draw(pairs(1, max_dilation))
    reach = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    height, width = (draw(st.integers(max(1, r - 2 * p), max(1, r - 2 * p) + max_size - 1))
                     for r, p in zip(reach, padding))
    batch, in_channels, out_channels = (draw(st.integers(1, m)) for m in (max_batch, max_channels, max_channels))
    return dict(input_shape=(batch, in_channels, height, width), weight_shape=(out_channels, in_channels) + kernel,
                stride=stride, padding=padding, dilation=dilation)


def transposed_output_size(size, kernel, stride, padding, output_padding, dilation):
    """(H - 1) s - 2p + d (k - 1) + output_padding + 1, per axis."""
    return tuple((h - 1) * s - 2 * p + d * (k - 1) + o + 1
                 for h, k, s, p, o, d in zip(size, kernel, stride, padding, output_padding, dilation))


@st.composite
def conv_transpose2d_configs(draw, max_batch: int = 2, max_channels: int = 3, max_size: int = 5,
                             max_kernel: int = 4, max_stride: int = 3, max_padding: int = 2, max_dilation: int = 2):
    """Valid conv_transpose2d settings: input_shape, weight_shape (in, out, kh, kw), stride,
    padding, output_padding (smaller than stride or dilation) and dilation."""
    kernel, stride, dilation = draw(pairs(1, max_kernel)), draw(pairs(1, max_stride)), draw(pairs(1, max_dilation))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = draw(pairs(1, max_size))
    padding = draw(pairs(0, max_padding).filter(
        lambda p: min(transposed_output_size(size, kernel, stride, p, output_padding, dilation)) > 0))
    batch, in_channels, out_channels = (draw(st.integers(1, m)) for m in (max_batch, max_channels, max_channels))
    return dict(input_shape=(batch, in_channels) + size, weight_shape=(in_channels, out_channels) + kernel,
                stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)


@st.composite
def batch_norm_configs(draw, max_batch: int = 4, max_channels: int = 3, max_size: int = 3):
    """Valid batch_norm settings: input_shape ((N, C) or (N, C, H, W) with >= 2 values per
    channel), training, momentum, eps, affine."""
    spatial = draw(st.sampled_from([(), "hw"]))
    channels = draw(st.integers(1, max_channels))
    if spatial:
        shape = (draw(st.integers(1, max_batch)), channels, draw(st.integers(1, max_size)), draw(st.integers(1, max_size)))
    else:
        shape = (draw(st.integers(2, max_batch)), channels)
    if shape[0] * int(np.prod(shape[2:])) < 2:
        shape = (2,) + shape[1:]
    return dict(input_shape=shape, training=draw(st.booleans()), momentum=draw(st.sampled_from([0.1, 0.5, 1.0])),
                eps=draw(st.sampled_from([1e-5, 1e-3])), affine=draw(st.booleans()))
