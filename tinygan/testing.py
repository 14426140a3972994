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
