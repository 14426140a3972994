"""The Numba pooling and upsampling kernels equal their NumPy references, in both float dtypes."""
import numpy as np
from hypothesis import given, strategies as st

from tinygan.kernels import pooling, upsampling
from tinygan.checks import pair
from tinygan.ops.upsample import linear_source_index, nearest_source_index
from tinygan.testing import float_dtypes, pairs, pool2d_configs, seeds
from helpers import random_array


def assert_sums_close(actual, expected, magnitude):
    """actual == expected up to rounding, for sums of many terms taken in different orders.

    The rounding error of a sum grows with the sum of its terms' sizes, `magnitude` (the same
    computation on |inputs|), not with the result: 100 terms can cancel to nearly 0.
    """
    assert actual.dtype == expected.dtype
    eps = np.finfo(actual.dtype).eps
    excess = np.abs(actual - expected) - 64 * eps * magnitude
    assert np.all(excess <= 0), f"max excess {excess.max()} at {np.unravel_index(np.argmax(excess), excess.shape)}"


def geometry(config):
    """(kernel, stride, padding) as pairs, stride defaulting to the kernel as in the ops."""
    kernel = pair("test", "kernel_size", config["kernel_size"])
    stride = kernel if config["stride"] is None else pair("test", "stride", config["stride"])
    return kernel, stride, pair("test", "padding", config["padding"])


# ---------------------------------------------------------------------- pooling
@given(config=pool2d_configs(max_size=8), dtype=float_dtypes(), seed=seeds())
def test_max_pool2d_kernels_equal_reference(config, dtype, seed):
    x = random_array(config["input_shape"], seed, dtype=dtype)
    y, argmax = pooling.max_pool2d_forward(x, *geometry(config))
    expected_y, expected_argmax = pooling.reference_max_pool2d_forward(x, *geometry(config))
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, expected_y)
    np.testing.assert_array_equal(argmax, expected_argmax)

    grad = random_array(y.shape, seed + 1, dtype=dtype)
    grad_input = pooling.max_pool2d_backward(grad, argmax, x.shape[2:])
    assert grad_input.dtype == dtype
    assert_sums_close(grad_input, pooling.reference_max_pool2d_backward(grad, argmax, x.shape[2:]),
                      pooling.reference_max_pool2d_backward(np.abs(grad), argmax, x.shape[2:]))


@given(config=pool2d_configs(), seed=seeds())
def test_max_pool2d_kernels_with_ties(config, seed):
    # Values from {0, 1, 2}: ties in almost every window, and both must pick the first maximum.
    x = np.random.default_rng(seed).integers(0, 3, size=config["input_shape"]).astype(np.float64)
    _, argmax = pooling.max_pool2d_forward(x, *geometry(config))
    np.testing.assert_array_equal(argmax, pooling.reference_max_pool2d_forward(x, *geometry(config))[1])


@given(config=pool2d_configs(max_size=8), dtype=float_dtypes(), seed=seeds(), count_include_pad=st.booleans())
def test_avg_pool2d_kernels_equal_reference(config, dtype, seed, count_include_pad):
    x = random_array(config["input_shape"], seed, dtype=dtype)
    y = pooling.avg_pool2d_forward(x, *geometry(config), count_include_pad)
    assert y.dtype == dtype
    assert_sums_close(y, pooling.reference_avg_pool2d_forward(x, *geometry(config), count_include_pad),
                      pooling.reference_avg_pool2d_forward(np.abs(x), *geometry(config), count_include_pad))

    grad = random_array(y.shape, seed + 1, dtype=dtype)
    grad_input = pooling.avg_pool2d_backward(grad, x.shape[2:], *geometry(config), count_include_pad)
    assert grad_input.dtype == dtype
    assert_sums_close(grad_input,
                      pooling.reference_avg_pool2d_backward(grad, x.shape[2:], *geometry(config), count_include_pad),
                      pooling.reference_avg_pool2d_backward(np.abs(grad), x.shape[2:], *geometry(config),
                                                            count_include_pad))


@given(config=pool2d_configs(), seed=seeds(), count_include_pad=st.booleans())
def test_pooling_backward_kernels_are_adjoints(config, seed, count_include_pad):
    # avg pooling is linear; max pooling is too once its winners are fixed (y = x[argmax]).
    x = random_array(config["input_shape"], seed)
    y, argmax = pooling.max_pool2d_forward(x, *geometry(config))
    g = random_array(y.shape, seed + 1)
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * pooling.max_pool2d_backward(g, argmax, x.shape[2:])),
                               rtol=1e-10, atol=1e-10)
    y = pooling.avg_pool2d_forward(x, *geometry(config), count_include_pad)
    grad_input = pooling.avg_pool2d_backward(g, x.shape[2:], *geometry(config), count_include_pad)
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * grad_input), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------- upsampling
@st.composite
def resampling(draw):
    """(input shape, output size, align_corners) for one kernel-level resampling."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return (n, c) + draw(pairs(1, 6)), draw(pairs(1, 13)), draw(st.booleans())


@given(case=resampling(), dtype=float_dtypes(), seed=seeds())
def test_nearest_kernels_equal_reference(case, dtype, seed):
    shape, (out_h, out_w), _ = case
    rows, cols = nearest_source_index(shape[2], out_h), nearest_source_index(shape[3], out_w)
    x = random_array(shape, seed, dtype=dtype)
    y = upsampling.nearest_forward(x, rows, cols)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, upsampling.reference_nearest_forward(x, rows, cols))

    grad = random_array(y.shape, seed + 1, dtype=dtype)
    grad_input = upsampling.nearest_backward(grad, rows, cols, shape[2:])
    assert grad_input.dtype == dtype
    assert_sums_close(grad_input, upsampling.reference_nearest_backward(grad, rows, cols, shape[2:]),
                      upsampling.reference_nearest_backward(np.abs(grad), rows, cols, shape[2:]))


@given(case=resampling(), dtype=float_dtypes(), seed=seeds())
def test_bilinear_kernels_equal_reference(case, dtype, seed):
    shape, (out_h, out_w), align_corners = case
    rows = linear_source_index(shape[2], out_h, None, align_corners, dtype)
    cols = linear_source_index(shape[3], out_w, None, align_corners, dtype)
    x = random_array(shape, seed, dtype=dtype)
    y = upsampling.bilinear_forward(x, rows, cols)
    assert y.dtype == dtype
    assert_sums_close(y, upsampling.reference_bilinear_forward(x, rows, cols),
                      upsampling.reference_bilinear_forward(np.abs(x), rows, cols))

    grad = random_array(y.shape, seed + 1, dtype=dtype)
    grad_input = upsampling.bilinear_backward(grad, rows, cols, shape[2:])
    assert grad_input.dtype == dtype
    assert_sums_close(grad_input, upsampling.reference_bilinear_backward(grad, rows, cols, shape[2:]),
                      upsampling.reference_bilinear_backward(np.abs(grad), rows, cols, shape[2:]))


@given(case=resampling(), seed=seeds())
def test_upsampling_backward_kernels_are_adjoints(case, seed):
    shape, (out_h, out_w), align_corners = case
    x = random_array(shape, seed)
    g = random_array(shape[:2] + (out_h, out_w), seed + 1)
    nearest = nearest_source_index(shape[2], out_h), nearest_source_index(shape[3], out_w)
    y = upsampling.nearest_forward(x, *nearest)
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * upsampling.nearest_backward(g, *nearest, shape[2:])),
                               rtol=1e-10, atol=1e-10)
    linear = (linear_source_index(shape[2], out_h, None, align_corners, np.float64),
              linear_source_index(shape[3], out_w, None, align_corners, np.float64))
    y = upsampling.bilinear_forward(x, *linear)
    np.testing.assert_allclose(np.sum(y * g), np.sum(x * upsampling.bilinear_backward(g, *linear, shape[2:])),
                               rtol=1e-10, atol=1e-10)


def test_kernels_accept_non_contiguous_input():
    x = random_array((3, 2, 5, 6), 0).transpose(1, 0, 2, 3)  # a strided view, as after a permute
    y, _ = pooling.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(y, pooling.reference_max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))[0])
    rows, cols = nearest_source_index(5, 10), nearest_source_index(6, 12)
    np.testing.assert_array_equal(upsampling.nearest_forward(x, rows, cols),
                                  upsampling.reference_nearest_forward(x, rows, cols))
