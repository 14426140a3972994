"""Batch-major and channel-major arrays (kernels/layout.py) give the same numbers everywhere.

The convolutions hand on channel-major results and batch norm writes channel-major
outputs; every op that meets one must compute exactly what it computes for the same
values in NumPy's default order.  Each test runs an op on both orders of the same
values and asserts equal results (bit for bit: the kernels do the same arithmetic in the
same order), and the kernels against their NumPy references.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygan as tg
import tinygan.functional as F
from tinygan.kernels import activation, batchnorm, layout
from tinygan.kernels.im2col import window_is_whole_image
from tinygan.ops.conv import conv_padding
from tinygan.testing import batch_norm_configs, conv2d_configs, conv_transpose2d_configs, seeds
from helpers import random_array


def channel_major(x: np.ndarray) -> np.ndarray:
    out = layout.empty(x.shape, x.dtype, channel_major=True)
    out[...] = x
    return out


def both_orders(x: np.ndarray):
    return [np.ascontiguousarray(x), channel_major(x)]


def test_the_two_orders_are_told_apart():
    x = np.zeros((2, 3, 4, 5), np.float32)
    assert not layout.is_channel_major(x)
    assert layout.is_channel_major(channel_major(x))
    # With one image or one channel, the two orders are the same memory: that is batch-major.
    assert not layout.is_channel_major(channel_major(np.zeros((1, 3, 4, 5))))
    assert not layout.is_channel_major(channel_major(np.zeros((2, 1, 4, 5))))
    assert not layout.is_channel_major(np.zeros((3, 2)).T)  # only 4-D arrays have the two orders
    assert not layout.is_channel_major(x[:, :, ::2])  # other strides are neither
    np.testing.assert_array_equal(layout.dense(x[:, :, ::2]), x[:, :, ::2])
    with pytest.raises(ValueError, match="batch-major or channel-major"):
        layout.flat(x[:, :, ::2])


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)), seed=seeds())
def test_plane_rows_and_flat_are_views_of_the_right_numbers(shape, seed):
    x = random_array(shape, seed, dtype=np.float32)
    for arranged in both_orders(x):
        rows, (batch_step, channel_step) = layout.plane_rows(arranged)
        assert np.shares_memory(rows, arranged) and rows.flags.c_contiguous
        for n in range(shape[0]):
            for c in range(shape[1]):
                np.testing.assert_array_equal(rows[n * batch_step + c * channel_step], x[n, c].ravel())
        flat = layout.flat(arranged)
        assert np.shares_memory(flat, arranged) and flat.size == x.size
        assert sorted(flat.tolist()) == sorted(x.ravel().tolist())
        other = layout.like(x, arranged)
        assert layout.is_channel_major(other) == layout.is_channel_major(arranged)
        np.testing.assert_array_equal(other, x)


def _run(op, x, weight, upstream, **options):
    """op's output and the gradients of x and weight (a leaf's .grad is always a batch-major copy)."""
    leaf = tg.Tensor(x, requires_grad=True)  # as it is: tg.tensor would copy into NumPy's default order
    assert layout.is_channel_major(leaf.data) == layout.is_channel_major(x)  # the test feeds the order it means to
    w = tg.tensor(weight, requires_grad=True)
    out = op(leaf, w, **options)
    out.backward(tg.tensor(upstream(out.shape)))
    return out.data, leaf.grad, w.grad


@given(config=conv2d_configs(max_batch=3), seed=seeds(), upstream_channel_major=st.booleans())
def test_conv2d_in_either_order(config, seed, upstream_channel_major):
    x = random_array(config["input_shape"], seed, dtype=np.float32)
    weight = random_array(config["weight_shape"], seed + 1, dtype=np.float32)
    options = {k: config[k] for k in ("stride", "padding", "dilation", "groups")}

    def upstream(shape):
        g = random_array(shape, seed + 2, dtype=np.float32)
        return channel_major(g) if upstream_channel_major else g

    results = [_run(F.conv2d, arranged, weight, upstream, **options) for arranged in both_orders(x)]
    for got, expected in zip(*results):
        np.testing.assert_array_equal(got, expected)
    out = results[1][0]
    kernel, dilation = config["weight_shape"][2:], config["dilation"]
    before, _ = conv_padding("test", config["padding"], kernel, config["stride"], dilation)
    if not window_is_whole_image(x.shape[2:], kernel, config["stride"], before, dilation, out.shape[2:]):
        # the im2col path hands its result on in the product's (channel-major) order
        assert layout.is_channel_major(out) == (out.shape[0] > 1 and out.shape[1] > 1)


@given(config=conv_transpose2d_configs(max_batch=3), seed=seeds())
def test_conv_transpose2d_in_either_order(config, seed):
    x = random_array(config["input_shape"], seed, dtype=np.float32)
    weight = random_array(config["weight_shape"], seed + 1, dtype=np.float32)
    options = {k: config[k] for k in ("stride", "padding", "output_padding", "dilation", "groups")}
    upstream = lambda shape: random_array(shape, seed + 2, dtype=np.float32)
    results = [_run(F.conv_transpose2d, arranged, weight, upstream, **options) for arranged in both_orders(x)]
    for got, expected in zip(*results):
        np.testing.assert_array_equal(got, expected)


@given(config=batch_norm_configs(max_batch=4, max_channels=4, max_size=4), seed=seeds(),
       x_order=st.booleans(), grad_order=st.booleans(), slope=st.sampled_from([1.0, 0.0, 0.2]))
def test_batch_norm_kernels_in_any_mix_of_orders(config, seed, x_order, grad_order, slope):
    shape = config["input_shape"]
    if len(shape) != 4:
        shape = shape + (2, 3)
    x = random_array(shape, seed, dtype=np.float32) * 3 + 1
    grad = random_array(shape, seed + 1, dtype=np.float32)
    channels = shape[1]
    scale = random_array((channels,), seed + 2, dtype=np.float32)
    shift = random_array((channels,), seed + 3, dtype=np.float32)
    x_in, grad_in = both_orders(x)[x_order], both_orders(grad)[grad_order]

    mean, var = batchnorm.channel_mean_var(x_in)
    expected_mean, expected_var = batchnorm.channel_mean_var(x)
    np.testing.assert_array_equal(mean, expected_mean)
    np.testing.assert_array_equal(var, expected_var)
    inv_std = (1 / np.sqrt(var + 1e-5)).astype(np.float32)

    y = batchnorm.normalize(x_in, mean, inv_std, scale, shift, slope)
    np.testing.assert_array_equal(y, batchnorm.normalize(x, mean, inv_std, scale, shift, slope))
    expected = batchnorm.reference_normalize(x, mean, inv_std, scale, shift, slope)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)

    for training in (True, False):
        got = batchnorm.batch_norm_backward(grad_in, x_in, mean, inv_std, scale, shift, training, slope)
        same = batchnorm.batch_norm_backward(grad, x, mean, inv_std, scale, shift, training, slope)
        reference = batchnorm.reference_batch_norm_backward(grad, x, mean, inv_std, scale, shift, training, slope)
        for a, b, r in zip(got, same, reference):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5)
        assert layout.is_channel_major(got[0]) == layout.is_channel_major(x_in)  # dL/dx in x's order


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)), seed=seeds(),
       x_order=st.booleans(), grad_order=st.booleans())
def test_leaky_relu_kernels_in_any_mix_of_orders(shape, seed, x_order, grad_order):
    x, grad = random_array(shape, seed, dtype=np.float32), random_array(shape, seed + 1, dtype=np.float32)
    x_in, grad_in = both_orders(x)[x_order], both_orders(grad)[grad_order]
    y = activation.leaky_relu_forward(x_in, 0.2)
    np.testing.assert_array_equal(y, activation.reference_leaky_relu_forward(x, 0.2))
    assert layout.is_channel_major(y) == layout.is_channel_major(x_in)
    grad_x = activation.leaky_relu_backward(grad_in, x_in, 0.2)
    np.testing.assert_array_equal(grad_x, activation.reference_leaky_relu_backward(grad, x, 0.2))
    assert layout.is_channel_major(grad_x) == layout.is_channel_major(x_in)
