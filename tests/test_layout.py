"""Batch-major, channel-major and batch-last arrays (kernels/layout.py) give the same numbers everywhere.

The convolutions hand on batch-last results and batch norm writes its output in its
input's order; every op that meets such an array must compute what it computes for the
same values in NumPy's default order.  Each test runs an op on every order of the same
values and asserts equal results -- bit for bit where the kernels do the same arithmetic
in the same order, and within float64 rounding where batch-last changes the order in
which batch norm adds a channel's numbers up -- and the kernels against their NumPy
references.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygan as tg
import tinygan.functional as F
from tinygan.kernels import activation, batchnorm, layout
from tinygan.testing import batch_norm_configs, conv2d_configs, conv_transpose2d_configs, seeds
from helpers import random_array


ORDERS = tuple(layout.MEMORY_AXES)  # batch-major, channel-major, batch-last


def arranged(x: np.ndarray, memory_order: str) -> np.ndarray:
    out = layout.empty(x.shape, x.dtype, memory_order)
    out[...] = x
    return out


def every_order(x: np.ndarray):
    return [arranged(x, memory_order) for memory_order in ORDERS]


def test_the_three_orders_are_told_apart():
    x = np.zeros((2, 3, 4, 5), np.float32)
    for memory_order in ORDERS:
        assert layout.order(arranged(x, memory_order)) == memory_order
        assert layout.is_channel_major(arranged(x, memory_order)) == (memory_order == layout.CHANNEL_MAJOR)
        assert layout.is_batch_last(arranged(x, memory_order)) == (memory_order == layout.BATCH_LAST)
    # With one image, all three are the same memory; with one channel, the first two: that is batch-major.
    assert {layout.order(a) for a in every_order(np.zeros((1, 3, 4, 5)))} == {layout.BATCH_MAJOR}
    assert layout.order(arranged(np.zeros((2, 1, 4, 5)), layout.CHANNEL_MAJOR)) == layout.BATCH_MAJOR
    assert layout.order(arranged(np.zeros((2, 1, 4, 5)), layout.BATCH_LAST)) == layout.BATCH_LAST
    assert layout.order(np.zeros((3, 2)).T) is None  # only 4-D arrays have the other orders
    assert layout.order(x[:, :, ::2]) is None  # other strides are none of them
    np.testing.assert_array_equal(layout.dense(x[:, :, ::2]), x[:, :, ::2])
    with pytest.raises(ValueError, match="batch-major, channel-major or batch-last"):
        layout.flat(x[:, :, ::2])
    with pytest.raises(ValueError, match="needs a 4-D shape"):
        layout.empty((2, 3), np.float32, layout.BATCH_LAST)


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)), seed=seeds())
def test_plane_rows_and_flat_are_views_of_the_right_numbers(shape, seed):
    x = random_array(shape, seed, dtype=np.float32)
    for memory_order, arranged_x in zip(ORDERS, every_order(x)):
        rows, (run_step, channel_step), runs = layout.plane_rows(arranged_x)
        assert np.shares_memory(rows, arranged_x) and rows.flags.c_contiguous
        for c in range(shape[1]):
            channel = np.concatenate([rows[r * run_step + c * channel_step] for r in range(runs)])
            # a channel's numbers in memory order: image by image, or pixel by pixel batch-last
            expected = np.moveaxis(x[:, c], 0, -1) if layout.order(arranged_x) == layout.BATCH_LAST else x[:, c]
            np.testing.assert_array_equal(channel, expected.ravel())
        flat = layout.flat(arranged_x)
        assert np.shares_memory(flat, arranged_x) and flat.size == x.size
        assert sorted(flat.tolist()) == sorted(x.ravel().tolist())
        other = layout.like(x, arranged_x)
        assert layout.order(other) == layout.order(arranged_x)
        np.testing.assert_array_equal(other, x)


def _run(op, x, weight, upstream, **options):
    """op's output and the gradients of x and weight (a leaf's .grad is always a batch-major copy)."""
    leaf = tg.Tensor(x, requires_grad=True)  # as it is: tg.tensor would copy into NumPy's default order
    assert layout.order(leaf.data) == layout.order(x)  # the test feeds the order it means to
    w = tg.tensor(weight, requires_grad=True)
    out = op(leaf, w, **options)
    out.backward(tg.tensor(upstream(out.shape)))
    return out.data, leaf.grad, w.grad


def check_convolution_in_every_order(op, config, seed, upstream_order, option_names):
    """op on the same values in every memory order, with the upstream gradient in upstream_order:
    output and both gradients bit for bit the same, and the output batch-last (the product's
    own order: no copy)."""
    x = random_array(config["input_shape"], seed, dtype=np.float32)
    weight = random_array(config["weight_shape"], seed + 1, dtype=np.float32)
    options = {k: config[k] for k in option_names}
    upstream = lambda shape: arranged(random_array(shape, seed + 2, dtype=np.float32), upstream_order)
    results = [_run(op, arranged_x, weight, upstream, **options) for arranged_x in every_order(x)]
    for run in results[1:]:
        for got, expected in zip(run, results[0]):
            np.testing.assert_array_equal(got, expected)
    for out, _, _ in results:
        assert out.transpose(1, 2, 3, 0).flags.c_contiguous


@given(config=conv2d_configs(max_batch=3), seed=seeds(), upstream_order=st.sampled_from(ORDERS))
def test_conv2d_in_any_order(config, seed, upstream_order):
    check_convolution_in_every_order(F.conv2d, config, seed, upstream_order, ("stride", "padding", "dilation", "groups"))


@given(config=conv_transpose2d_configs(max_batch=3), seed=seeds(), upstream_order=st.sampled_from(ORDERS))
def test_conv_transpose2d_in_any_order(config, seed, upstream_order):
    check_convolution_in_every_order(F.conv_transpose2d, config, seed, upstream_order,
                                     ("stride", "padding", "output_padding", "dilation", "groups"))


@given(config=batch_norm_configs(max_batch=4, max_channels=4, max_size=4), seed=seeds(),
       x_order=st.sampled_from(ORDERS), grad_order=st.sampled_from(ORDERS), slope=st.sampled_from([1.0, 0.0, 0.2]))
def test_batch_norm_kernels_in_any_mix_of_orders(config, seed, x_order, grad_order, slope):
    shape = config["input_shape"]
    if len(shape) != 4:
        shape = shape + (2, 3)
    x = random_array(shape, seed, dtype=np.float32) * 3 + 1
    grad = random_array(shape, seed + 1, dtype=np.float32)
    channels = shape[1]
    scale = random_array((channels,), seed + 2, dtype=np.float32)
    shift = random_array((channels,), seed + 3, dtype=np.float32)
    x_in, grad_in = arranged(x, x_order), arranged(grad, grad_order)
    # Batch-last, a channel's numbers are added up in another order (pixel by pixel, not image
    # by image): the float64 sums may then differ in their last bits, so the per-channel
    # numbers are compared within rounding; everything else, bit for bit.
    exact = layout.BATCH_LAST not in (layout.order(x_in), layout.order(grad_in))

    def same_numbers(got, expected):
        if exact:
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)

    mean, var = batchnorm.channel_mean_var(x_in)
    expected_mean, expected_var = batchnorm.channel_mean_var(x)
    same_numbers(mean, expected_mean)
    same_numbers(var, expected_var)
    inv_std = (1 / np.sqrt(var + 1e-5)).astype(np.float32)

    y = batchnorm.normalize(x_in, mean, inv_std, scale, shift, slope)
    np.testing.assert_array_equal(y, batchnorm.normalize(x, mean, inv_std, scale, shift, slope))
    assert layout.order(y) == layout.order(x_in)  # written in x's order
    expected = batchnorm.reference_normalize(x, mean, inv_std, scale, shift, slope)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)

    for training in (True, False):
        got = batchnorm.batch_norm_backward(grad_in, x_in, mean, inv_std, scale, shift, training, slope)
        same = batchnorm.batch_norm_backward(grad, x, mean, inv_std, scale, shift, training, slope)
        reference = batchnorm.reference_batch_norm_backward(grad, x, mean, inv_std, scale, shift, training, slope)
        for a, b, r in zip(got, same, reference):
            same_numbers(a, b)
            np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5)
        assert layout.order(got[0]) == layout.order(x_in)  # dL/dx in x's order


@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4)), seed=seeds(),
       x_order=st.sampled_from(ORDERS), grad_order=st.sampled_from(ORDERS))
def test_leaky_relu_kernels_in_any_mix_of_orders(shape, seed, x_order, grad_order):
    x, grad = random_array(shape, seed, dtype=np.float32), random_array(shape, seed + 1, dtype=np.float32)
    x_in, grad_in = arranged(x, x_order), arranged(grad, grad_order)
    y = activation.leaky_relu_forward(x_in, 0.2)
    np.testing.assert_array_equal(y, activation.reference_leaky_relu_forward(x, 0.2))
    assert layout.order(y) == layout.order(x_in)
    grad_x = activation.leaky_relu_backward(grad_in, x_in, 0.2)
    np.testing.assert_array_equal(grad_x, activation.reference_leaky_relu_backward(grad, x, 0.2))
    assert layout.order(grad_x) == layout.order(x_in)


@given(shape=st.tuples(st.integers(0, 3), st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)), seed=seeds(),
       source=st.sampled_from(ORDERS + ("strided",)), target=st.sampled_from(ORDERS))
def test_in_order_copies_into_any_order_from_any_strides(shape, seed, source, target):
    # The tiled transpose into and out of batch-last against NumPy's own copy of the same values.
    x = random_array(shape, seed, dtype=np.float32)
    if source == "strided":
        big = np.zeros(shape[:3] + (2 * shape[3],), np.float32)
        big[..., ::2] = x
        given_x = big[..., ::2]
    else:
        given_x = arranged(x, source)
    out = layout.in_order(given_x, target)
    np.testing.assert_array_equal(out, x)
    assert layout.order(out) == layout.order(layout.empty(shape, np.float32, target))
    if given_x.transpose(layout.MEMORY_AXES[target]).flags.c_contiguous:
        assert out is given_x  # the memory already is in that order: no copy
    else:
        assert not np.shares_memory(out, given_x)
