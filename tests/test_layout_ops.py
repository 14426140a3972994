"""Every public op and module that can meet a 4-D activation, fed arrays in every memory order.

Since the layout change (kernels/layout.py) an (N, C, H, W) array handed between ops may sit
in memory in any of three orders, the same shape and values:

* batch-major, (N, C, H, W): NumPy's default (C order);
* channel-major, (C, N, H, W): `x.transpose(1, 0, 2, 3)` is C-contiguous;
* batch-last, (C, H, W, N): `x.transpose(1, 2, 3, 0)` is C-contiguous.

conv2d and conv_transpose2d return their outputs batch-last (a view of their product, the
whole-image "fully connected" case included) and their input gradients come back
batch-last; batch norm writes its output, and its input gradient, in its input's order.
Whatever op receives such an array must compute what it computes for the same values in
NumPy's default (batch-major) order.  Where two orders are the same memory (one image; one
channel for the first two; 1x1 images for the last two; ...) layout.order names it by the
first of batch-major, channel-major, batch-last.

The truth in every test here is that batch-major run: the same op on `np.ascontiguousarray`
of the same values, with the same upstream gradient, and everything compared to it --
output, dL/dinput, the gradients of weights and other operands, running statistics.  Each
op is run on every pair (input order, upstream-gradient order) of the three orders but the
reference's (MIXES).  Inputs are built as `layout.empty(shape, dtype, order)` filled with the
values, and wrapped by `tg.Tensor` (tg.tensor would copy them back into C order); `leaf()`
asserts that the array the op receives really is in the order asked for (as layout.order
names it).

Comparisons are bit for bit (assert_array_equal) wherever the arithmetic is the same for
every order, which is nearly everywhere: kernels that work plane by plane or on the flat
memory, elementwise ufuncs, gathers and scatters, and the convolutions, which copy any
input into batch-last before they multiply.  The exceptions:

* the sums NumPy computes itself, each compared with `assert_sums_close` and a tolerance
  derived from the size of the addends: np.add.reduce walks the memory in its own order
  and pairs the numbers differently, so a sum over several axes, or all of them, may differ
  in its last bits between orders (Tensor.sum/mean over those axes -- the plane (2, 3)
  included: a batch-last plane's numbers are not adjacent --, the losses' mean and sum, a
  convolution's bias gradient, grad summed over N, H and W, and the gradient of a
  broadcast operand, which is unbroadcast's sum); and a convolution's weight gradient where
  an image side has one pixel (see conv_summed);
* NumPy's matrix products with each (H, W) plane (adaptive_avg_pool2d, `x @ matrix` and
  linear on a 4-D x): a batch-last plane is strided, and NumPy adds the products up in
  another order than for a contiguous one (plane_products_round);
* batch norm: its per-channel sums are float64, added image by image in the first two
  orders but over the whole channel at once batch-last, and grouped differently by the
  kernel's vectorised partial sums, so with a batch-last input its output, gradients and
  running statistics may differ from the reference in the last float32 bit
  (batch_norm_rounds).  Between convolutions every run feeds it batch-last, so a model's
  runs still agree bit for bit.
The last two are compared within rtol = atol = 1e-6 in the runs that may round differently
(`close_when` in check_mixes), and bit for bit in every other run.

Two differences between the orders are by design and not tested as bugs: a
Tensor.view/reshape that NumPy cannot make as a view of an array in another order copies
it (so an in-place change through it does not reach the original; torch's view would
share memory or raise), and whether a convolution's saved input aliases the caller's
array depends on the order (which matters only if that array is changed in place before
the backward, which tinygan, without torch's version counters, does not detect).
"""
import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tinygan as tg
import tinygan.functional as F
import tinygan.nn as nn
import tinygan.optim as optim
from tinygan.kernels import layout
from tinygan.models.dcgan import Discriminator, Generator
from tinygan.testing import (adaptive_avg_pool2d_configs, avg_pool2d_configs, batch_norm_configs, conv2d_configs,
                             conv_options, conv_transpose2d_configs, interpolate_configs, max_unpool2d_configs,
                             pool2d_configs, seeds)
from helpers import random_array

EPS32 = float(np.finfo(np.float32).eps)

BATCH_MAJOR, CHANNEL_MAJOR, BATCH_LAST = layout.BATCH_MAJOR, layout.CHANNEL_MAJOR, layout.BATCH_LAST
ORDERS = tuple(layout.MEMORY_AXES)  # batch-major, channel-major, batch-last
OTHER_ORDERS = ORDERS[1:]
# (input order, upstream gradient order): every mix but the all-batch-major reference.
MIXES = [(x_order, g_order) for x_order in ORDERS for g_order in ORDERS if (x_order, g_order) != (BATCH_MAJOR,
                                                                                                  BATCH_MAJOR)]

# N or C = 1 included: some orders are then the same memory (named by the first), which leaf() checks too.
small_4d_shapes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 5))


# ---------------------------------------------------------------------- helpers
def arranged(x: np.ndarray, memory_order: str) -> np.ndarray:
    """A fresh copy of x's values in memory_order (4-D only; other ranks batch-major)."""
    if x.ndim != 4:
        return np.array(x, order="C")  # (ascontiguousarray makes 0-d 1-d)
    out = layout.empty(x.shape, x.dtype, memory_order)
    out[...] = x
    return out


def order_name(shape, memory_order: str) -> str:
    """What layout.order calls an array of `shape` laid out in memory_order: where orders
    coincide (one image, one channel, 1x1 images, ...) the first of them names it."""
    return layout.order(layout.empty(shape, np.float32, memory_order if len(shape) == 4 else BATCH_MAJOR))


def leaf(x: np.ndarray, memory_order: str, requires_grad: bool = True) -> tg.Tensor:
    """A leaf tensor holding x's values in the order asked for, checked to be in it."""
    t = tg.Tensor(arranged(x, memory_order), requires_grad=requires_grad)
    assert layout.order(t.data) == order_name(x.shape, memory_order), "the test must feed the order it means to"
    return t


def upstream_for(out: tg.Tensor, seed: int, memory_order: str) -> tg.Tensor:
    g = np.asarray(random_array(out.shape, seed, dtype=out.dtype))
    return tg.Tensor(arranged(g, memory_order))


def run(op, x, seed, x_order, g_order, others=()):
    """op(leaf(x), *other leaves), then backward with a seeded upstream gradient.
    Returns (output array, dL/dx, [dL/d other], upstream array)."""
    t = leaf(x, x_order)
    other_leaves = [tg.tensor(o, requires_grad=True) for o in others]
    out = op(t, *other_leaves)
    upstream = upstream_for(out, seed, g_order)
    out.backward(upstream)
    return out.data, t.grad, [o.grad for o in other_leaves], upstream.data


def assert_sums_close(got, expected, addend_scale, what=""):
    """For results NumPy sums itself: equal up to the rounding of a sum taken in another order.

    Summing n float32 numbers in any two orders gives results within about
    log2(n) * eps * sum|addends| of each other (pairwise summation); 16 eps * sum|addends|
    is that with room to spare and still ~1e-6 of the addends' size: a wrong term or a
    dropped one would be far outside it.
    """
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype, what
    np.testing.assert_allclose(got, expected, rtol=0, atol=16 * EPS32 * float(addend_scale) + 1e-30, err_msg=what)


def assert_same(got, expected, close, what=""):
    """Bit for bit, or, close=True, equal up to the last float32 bits of a sum taken in another
    order (batch norm's float64 per-channel sums batch-last, NumPy's products over batch-last
    planes): rtol = atol = 1e-6, about 8 eps at the tests' values, of size 1; a wrong or missing
    term would be far outside it."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape and got.dtype == expected.dtype, what
    if close:
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=what)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=what)


def batch_norm_rounds(x_order: str, g_order: str) -> bool:
    """check_mixes's `close_when` for batch norm: its float64 per-channel sums run in its input's
    order (an upstream gradient in another order is walked alongside, or copied into x's order
    first when only one of them is batch-last), pixel by pixel when that is batch-last, image by
    image otherwise; the kernel's vectorised partial sums then group the numbers differently, and
    the float32 results may differ in the last bit."""
    return x_order == BATCH_LAST


def plane_products_round(x_order: str, g_order: str) -> bool:
    """check_mixes's `close_when` for NumPy matmuls with each (H, W) plane (adaptive_avg_pool2d,
    kernels/pooling.py; x @ matrix and linear on a 4-D x): a batch-last plane is strided, NumPy
    adds its products up in another order and the last bit may differ -- the output's when the
    input is batch-last, dL/dinput's when the upstream gradient is.  (Channel-major planes are
    contiguous, as batch-major ones: exact.)"""
    return BATCH_LAST in (x_order, g_order)


def upstream_size(reference_run) -> float:
    """sum |upstream|: the addends' size for a gradient that sums the upstream gradient (a bias's)."""
    return float(np.abs(reference_run[3]).sum())


def check_mixes(op, x, seed, others=(), summed=None, mixes=MIXES, close_when=None):
    """Run op on every mix of orders and compare with the all-batch-major run.

    Output and dL/dx bit for bit; the gradient of others[i] bit for bit too, unless `summed`
    maps i to a function of the reference run giving the size of its addends (that gradient
    is a NumPy sum: compared up to summation order).  close_when(input order, upstream order),
    the orders as layout.order names them, says which runs may differ from the reference by
    rounding (batch_norm_rounds, plane_products_round): those compare within assert_same's
    tolerance.  Returns the reference run.
    """
    summed = summed or {}
    expected = run(op, x, seed, BATCH_MAJOR, BATCH_MAJOR, others)
    for x_order, g_order in mixes:
        got = run(op, x, seed, x_order, g_order, others)
        where = f"input {x_order}, upstream {g_order}"
        named = order_name(x.shape, x_order), order_name(got[0].shape, g_order)
        close = bool(close_when and close_when(*named))
        assert_same(got[0], expected[0], close, f"output, {where}")
        assert_same(got[1], expected[1], close, f"dL/dinput, {where}")
        for i, (mine, reference) in enumerate(zip(got[2], expected[2])):
            if i in summed:
                assert_sums_close(mine, reference, summed[i](expected), f"dL/d(other {i}), {where}")
            else:
                assert_same(mine, reference, close, f"dL/d(other {i}), {where}")
    return expected


# ---------------------------------------------------------------------- the helpers can fail
def test_check_mixes_catches_an_op_that_reads_memory_order():
    """An op that reads the raw memory (as a kernel forgetting the layout would) must fail the check."""
    def memory_order_op(t):  # the numbers as they lie in memory, reshaped as if they were batch-major
        return t * tg.tensor(layout.flat(t.data).reshape(t.shape))

    x = random_array((2, 3, 2, 2), 0, dtype=np.float32)
    with pytest.raises(AssertionError):
        check_mixes(memory_order_op, x, 1)


def test_assert_sums_close_catches_a_dropped_addend():
    addends = random_array((3, 4, 5, 6), 0, dtype=np.float32)
    total = addends.sum(axis=(0, 2, 3))
    scale = np.abs(addends).sum(axis=(0, 2, 3)).max()
    assert_sums_close(addends.transpose(1, 0, 2, 3).copy().sum(axis=(1, 2, 3)), total, scale)  # another order
    with pytest.raises(AssertionError):
        assert_sums_close(addends[:, :, 1:].sum(axis=(0, 2, 3)), total, scale)  # a column missing


# ---------------------------------------------------------------------- pooling
@given(config=pool2d_configs(max_batch=3, ceil_mode=True, max_dilation=2), seed=seeds())
def test_max_pool2d_with_indices(config, seed):
    x = random_array(config["input_shape"], seed, dtype=np.float32)
    options = {k: v for k, v in config.items() if k != "input_shape"}
    found = []

    def op(t):
        out, indices = F.max_pool2d(t, return_indices=True, **options)
        found.append(indices.data)
        return out

    check_mixes(op, x, seed + 1)
    for indices in found[1:]:
        np.testing.assert_array_equal(indices, found[0])  # the same winners, as flat h*W + w positions


@given(config=avg_pool2d_configs(max_batch=3), seed=seeds())
def test_avg_pool2d(config, seed):
    x = random_array(config["input_shape"], seed, dtype=np.float32)
    options = {k: v for k, v in config.items() if k != "input_shape"}
    check_mixes(lambda t: F.avg_pool2d(t, **options), x, seed + 1)


@given(config=max_unpool2d_configs(max_batch=3), seed=seeds(), indices_order=st.sampled_from(ORDERS))
def test_max_unpool2d(config, seed, indices_order):
    x = random_array(config["input_shape"], seed, dtype=np.float32)
    pool = {k: config[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}
    unpool = {k: config[k] for k in ("kernel_size", "stride", "padding", "output_size")}
    pooled, indices = F.max_pool2d(tg.tensor(x), return_indices=True, **pool)
    index_array = arranged(indices.data, indices_order)  # int64 indices in any order, too
    # unpool alone, its input (the pooled values) in any order
    check_mixes(lambda t: F.max_unpool2d(t, tg.Tensor(index_array), **unpool), pooled.data, seed + 1)
    # and the round trip from x
    check_mixes(lambda t: F.max_unpool2d(*F.max_pool2d(t, return_indices=True, **pool), **unpool), x, seed + 2)


@given(config=adaptive_avg_pool2d_configs(max_batch=3), seed=seeds())
def test_adaptive_avg_pool2d(config, seed):
    x = random_array(config["input_shape"], seed, dtype=np.float32)
    check_mixes(lambda t: F.adaptive_avg_pool2d(t, config["output_size"]), x, seed + 1,
                close_when=plane_products_round)


# ---------------------------------------------------------------------- resampling
@given(config=interpolate_configs(max_batch=3, max_channels=3), seed=seeds())
def test_interpolate(config, seed):
    x = random_array(config["input_shape"], seed, dtype=np.float32)
    options = {k: v for k, v in config.items() if k != "input_shape"}
    check_mixes(lambda t: F.interpolate(t, **options), x, seed + 1)


@pytest.mark.parametrize("options", [dict(scale_factor=2), dict(size=(7, 3)), dict(scale_factor=(1.5, 0.5)),
                                     dict(scale_factor=2, mode="bilinear"),
                                     dict(size=(5, 9), mode="bilinear", align_corners=True),
                                     dict(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True)])
def test_interpolate_named_cases(options):
    check_mixes(lambda t: F.interpolate(t, **options), random_array((3, 4, 4, 5), 3, dtype=np.float32), 4)


# ---------------------------------------------------------------------- dropout
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("training", [True, False])
def test_dropout_with_a_fixed_seed(p, training):
    x = random_array((3, 4, 5, 6), 0, dtype=np.float32)

    def op(t):
        tg.manual_seed(1234)  # the same mask for every run
        return F.dropout(t, p, training=training)

    expected = check_mixes(op, x, 1)
    dropped = expected[0] == 0
    if training and 0 < p < 1:
        assert 0 < dropped.mean() < 1  # it did drop some, and the same ones in every order
        np.testing.assert_array_equal(expected[0][~dropped], (x * np.float32(1 / (1 - p)))[~dropped])


def test_dropout_module_in_a_sequential():
    x = random_array((3, 4, 5, 6), 0, dtype=np.float32)
    model = nn.Sequential(nn.Conv2d(4, 6, 3), nn.Dropout(0.4), nn.ReLU())

    def op(t):
        tg.manual_seed(99)
        return model(t)

    for training in (True, False):
        model.train(training)
        check_mixes(op, x, 1)


# ---------------------------------------------------------------------- convolutions
def conv_summed(x, out_shape):
    """check_mixes's `summed` for a convolution: the bias gradient is grad.sum(axis=(0, 2, 3)), NumPy's
    sum in the upstream's memory order.  And where the output has one pixel, the reshapes that feed
    the weight gradient's products are views whose strides depend on the memory order; when those
    products degenerate to dot products or matrix-vector products (a depthwise 1x1 kernel, say),
    NumPy/BLAS rounds them differently in the last bit for other strides: compared up to that
    rounding."""
    summed = {1: upstream_size}
    if (1, 1) in (x.shape[2:], tuple(out_shape[2:])):
        summed[0] = lambda reference: upstream_size(reference) * float(np.abs(x).max())
    return summed


def handed_on_batch_last(op):
    """op, checked to return its output batch-last (the convolutions' product, with no copy), whatever
    order its input came in."""
    def checked(*args):
        out = op(*args)
        assert out.data.transpose(1, 2, 3, 0).flags.c_contiguous, f"output strides {out.data.strides}"
        return out
    return checked


def check_convolution_with_bias(function, config, seed, out_channels):
    x = random_array(config["input_shape"], seed, dtype=np.float32)
    weight = random_array(config["weight_shape"], seed + 1, dtype=np.float32)
    bias = random_array((out_channels,), seed + 2, dtype=np.float32)
    options = conv_options(config)
    op = handed_on_batch_last(lambda t, w, b: function(t, w, b, **options))
    summed = conv_summed(x, op(tg.tensor(x), weight, bias).shape)
    check_mixes(op, x, seed + 3, others=(weight, bias), summed=summed)
    # ... and the bias's bit for bit when only the input's order differs
    check_mixes(op, x, seed + 3, others=(weight, bias), summed={i: summed[i] for i in summed if i != 1},
                mixes=[(x_order, BATCH_MAJOR) for x_order in OTHER_ORDERS])


@given(config=conv2d_configs(max_batch=3), seed=seeds())
def test_conv2d_with_bias_groups_and_same_padding(config, seed):
    check_convolution_with_bias(F.conv2d, config, seed, config["weight_shape"][0])


@given(config=conv_transpose2d_configs(max_batch=3), seed=seeds())
def test_conv_transpose2d_with_bias_and_groups(config, seed):
    check_convolution_with_bias(F.conv_transpose2d, config, seed, config["weight_shape"][1] * config["groups"])


@pytest.mark.parametrize("case", ["conv fully connected", "conv_transpose fully connected", "conv 1x1 output",
                                  "conv_transpose 1x1 input"])
def test_convolutions_with_one_pixel_sides(case):
    """The fully-connected shortcut (one window = the whole image), whose output is batch-last
    too, and 1x1 arrays, whose channel-major and batch-last orders are the same memory (named
    channel-major), Fortran order too."""
    x = random_array((4, 6, 5, 5) if case.startswith("conv ") else (4, 6, 1, 1), 0, dtype=np.float32)
    if case == "conv fully connected":
        op, weight = (lambda t, w: F.conv2d(t, w, groups=2)), random_array((4, 3, 5, 5), 1, dtype=np.float32)
    elif case == "conv 1x1 output":  # a 3x3 window at stride 3 on 5x5: one pixel, but not the whole image
        op, weight = (lambda t, w: F.conv2d(t, w, stride=3)), random_array((3, 6, 3, 3), 1, dtype=np.float32)
    elif case == "conv_transpose fully connected":
        op, weight = (lambda t, w: F.conv_transpose2d(t, w, groups=3)), random_array((6, 2, 4, 4), 1, dtype=np.float32)
    else:
        op, weight = (lambda t, w: F.conv_transpose2d(t, w, stride=2, padding=1)), random_array((6, 2, 3, 3), 1,
                                                                                               dtype=np.float32)
    summed = conv_summed(x, op(tg.tensor(x), weight).shape)
    check_mixes(handed_on_batch_last(op), x, 2, others=(weight,), summed={0: summed[0]} if 0 in summed else {})


# ---------------------------------------------------------------------- batch norm
@given(config=batch_norm_configs(max_batch=4, max_channels=4, max_size=4), seed=seeds(),
       slope=st.sampled_from([None, 0.0, 0.2, -0.5]))
def test_batch_norm_and_batch_norm_activation(config, seed, slope):
    shape = config["input_shape"]
    if len(shape) != 4:  # the 2-D draws become images
        shape = shape + (2, 3)
    x = random_array(shape, seed, dtype=np.float32) * 3 + 1
    channels = shape[1]
    start_mean = random_array((channels,), seed + 1, dtype=np.float32)
    start_var = random_array((channels,), seed + 2, dtype=np.float32, low=0.5, high=2.0)
    others = ((random_array((channels,), seed + 3, dtype=np.float32), random_array((channels,), seed + 4,
                                                                                     dtype=np.float32))
              if config["affine"] else ())
    statistics = []  # (the input's order, the running statistics) of each run

    def op(t, *affine):
        running = (start_mean.copy(), start_var.copy())
        statistics.append((layout.order(t.data), running))
        options = dict(training=config["training"], momentum=config["momentum"], eps=config["eps"])
        if slope is None:
            out = F.batch_norm(t, *running, *affine, **options)
        else:
            out = F.batch_norm_activation(t, *running, *affine, negative_slope=slope, **options)
        assert layout.order(out.data) == layout.order(t.data)  # written in its input's order
        return out

    # dweight and dbias are the kernel's own per-channel sums, in the input's order: bit for bit
    # but batch-last (batch_norm_rounds)
    check_mixes(op, x, seed + 5, others=others, close_when=batch_norm_rounds)
    for x_order, running in statistics[1:]:
        for got, expected in zip(running, statistics[0][1]):  # the running statistics, updated in place
            assert_same(got, expected, batch_norm_rounds(x_order, None), f"running statistics, input {x_order}")


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("slope", [None, 0.0, 0.2])
@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (2, 8, 1, 1), (8, 2, 3, 1)])
def test_batch_norm_train_and_eval_named_cases(training, slope, shape):
    x = random_array(shape, 0, dtype=np.float32) * 2 - 1
    weight, bias = random_array(shape[1:2], 1, dtype=np.float32), random_array(shape[1:2], 2, dtype=np.float32)
    states = []  # (the input's order, the running statistics) of each run

    def op(t, w, b):
        running = [np.linspace(-1, 1, shape[1], dtype=np.float32), np.linspace(0.5, 2, shape[1], dtype=np.float32)]
        states.append((layout.order(t.data), running))
        if slope is None:
            out = F.batch_norm(t, *running, w, b, training=training, momentum=0.3)
        else:
            out = F.batch_norm_activation(t, *running, w, b, training=training, momentum=0.3, negative_slope=slope)
        assert layout.order(out.data) == layout.order(t.data)  # written in its input's order
        return out

    check_mixes(op, x, 3, others=(weight, bias), close_when=batch_norm_rounds)
    for x_order, running in states[1:]:
        for got, expected in zip(running, states[0][1]):
            assert_same(got, expected, batch_norm_rounds(x_order, None), f"running statistics, input {x_order}")
    if training:
        np.testing.assert_allclose(states[0][1][0], 0.7 * np.linspace(-1, 1, shape[1]) + 0.3 * x.mean(axis=(0, 2, 3)),
                                   rtol=1e-5, atol=1e-6)  # and the statistics are x's


# ---------------------------------------------------------------------- activations
ACTIVATIONS = {
    "relu": F.relu, "leaky_relu": F.leaky_relu, "leaky_relu 0.2": lambda t: F.leaky_relu(t, 0.2),
    "leaky_relu -1.5": lambda t: F.leaky_relu(t, -1.5), "sigmoid": F.sigmoid, "tanh": F.tanh,
    "Tensor.relu": lambda t: t.relu(), "Tensor.sigmoid": lambda t: t.sigmoid(), "Tensor.tanh": lambda t: t.tanh(),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=8)
@given(shape=small_4d_shapes, seed=seeds())
def test_activations(name, dtype, shape, seed):
    x = random_array(shape, seed, dtype=dtype) * 4
    x.flat[:: 3] = 0  # the kink: relu's gradient there is 0 in both orders
    check_mixes(ACTIVATIONS[name], x, seed + 1)


# ---------------------------------------------------------------------- losses
LOSSES = {
    "binary_cross_entropy": lambda t, target, **k: F.binary_cross_entropy(F.sigmoid(t), target, **k),
    "binary_cross_entropy on probabilities": lambda t, target, **k: F.binary_cross_entropy(t * 0.2 + 0.5, target, **k),
    "binary_cross_entropy_with_logits": F.binary_cross_entropy_with_logits,
    "mse_loss": F.mse_loss,
}


@pytest.mark.parametrize("name, weighted", [(name, weighted) for name in LOSSES for weighted in (False, True)
                                             if not (weighted and name == "mse_loss")])  # mse_loss has no weight
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("target_order", ORDERS)
def test_losses_on_images(name, weighted, reduction, target_order):
    x = random_array((3, 4, 5, 6), 0, dtype=np.float32)
    target = (random_array(x.shape, 1) > 0).astype(np.float32) * 0.8 + 0.1  # soft labels in (0, 1)
    weight = tg.tensor(random_array((1, 4, 1, 1), 2, dtype=np.float32, low=0.5, high=1.5))
    options = dict(reduction=reduction, **({"weight": weight} if weighted else {}))
    results = []
    for x_order, g_order in [(BATCH_MAJOR, BATCH_MAJOR)] + MIXES:
        t, target_leaf = leaf(x, x_order), leaf(target, target_order)
        loss = LOSSES[name](t, target_leaf, **options)
        with tg.no_grad():
            unreduced = LOSSES[name](t, target_leaf, **dict(options, reduction="none")).data
        loss.backward(upstream_for(loss, 3, g_order))
        results.append((loss.data, t.grad, target_leaf.grad, unreduced))
    expected = results[0]
    for got in results[1:]:
        if reduction == "none":
            np.testing.assert_array_equal(got[0], expected[0])
        else:  # the elementwise losses agree bit for bit; their mean or sum is NumPy's, in memory order
            np.testing.assert_array_equal(got[3], expected[3])
            assert_sums_close(got[0], expected[0], np.abs(expected[3]).sum(), "reduced loss")
        np.testing.assert_array_equal(got[1], expected[1])  # the backward is elementwise
        np.testing.assert_array_equal(got[2], expected[2])


# ---------------------------------------------------------------------- Tensor methods
SHAPE_OPS = {  # all exact: they move numbers, work elementwise, or reduce along one axis
    "reshape": lambda t: t.reshape(t.shape[0], -1),
    "reshape to planes": lambda t: t.reshape(t.shape[0], t.shape[1], -1),
    "view": lambda t: t.view(-1),
    "flatten(1)": lambda t: t.flatten(1),
    "flatten()": lambda t: t.flatten(),
    "flatten(2)": lambda t: t.flatten(2),
    "permute(1, 0, 2, 3)": lambda t: t.permute(1, 0, 2, 3),
    "permute(0, 2, 3, 1)": lambda t: t.permute(0, 2, 3, 1),
    "transpose(2, 3)": lambda t: t.transpose(2, 3),
    "transpose(0, 1)": lambda t: t.transpose(0, 1),
    "T": lambda t: t.T,
    "index int": lambda t: t[-1],
    "index slices": lambda t: t[:, 1:, ::2, ::-1],
    "index None and Ellipsis": lambda t: t[None, ..., 0],
    "index repeated ints": lambda t: t[[0, 0, -1]],
    "index pairs": lambda t: t[:, [0, -1, 0], [0, 0, -1]],
    "index boolean mask": lambda t: t[t.data > 0],
    "index boolean Tensor mask": lambda t: t[t > 0.5],
    "cat dim 0": lambda t: tg.cat([t, t * 2], dim=0),
    "cat dim 1 with a batch-major tensor": lambda t: tg.cat([t, tg.tensor(np.ones(t.shape, t.dtype)), t], dim=1),
    "cat dim 3": lambda t: tg.cat([t, t], dim=-1),
    "stack dim 0": lambda t: tg.stack([t, -t]),
    "stack dim 2": lambda t: tg.stack([t, t], dim=2),
    "max": lambda t: t.max(),
    "max(dim).values": lambda t: t.max(1).values,
    "max(dim, keepdim)": lambda t: t.max(dim=0, keepdim=True)[0],
    "max(axis=...)": lambda t: t.max(axis=(0, 2)),
    "amax()": lambda t: t.amax(),
    "amax((2, 3))": lambda t: t.amax((2, 3)),
    "amax((0, 2, 3), keepdim)": lambda t: t.amax((0, 2, 3), keepdim=True),
    "mean(dim=1)": lambda t: t.mean(dim=1),
    "sum(0)": lambda t: t.sum(0),
    "sum(1, keepdims)": lambda t: t.sum(1, keepdims=True),
    "sum(3)": lambda t: t.sum(3),
    "clip": lambda t: t.clip(-0.5, 0.5),
    "neg": lambda t: -t,
    "exp": lambda t: t.exp(),
    "log": lambda t: (t.abs() + 1).log(),
    "sqrt": lambda t: (t * t + 1).sqrt(),
    "abs": lambda t: t.abs(),
    "double": lambda t: t.double(),
    "to float32": lambda t: t.double().float(),
    "x ** 2": lambda t: t ** 2,
    "2 ** x": lambda t: 2 ** t,
    "1 / x": lambda t: 1 / (t * t + 1),
    "x + 1": lambda t: t + 1,
    "1 - x": lambda t: 1 - t,
    "x * x": lambda t: t * t,
    # NumPy matmuls with each plane: exact but batch-last (plane_products_round)
    "x @ matrix": lambda t: t @ tg.tensor(np.linspace(-1, 1, t.shape[3] * 2, dtype=t.dtype).reshape(t.shape[3], 2)),
    "linear": lambda t: F.linear(t, tg.tensor(np.linspace(-1, 1, t.shape[3] * 3, dtype=t.dtype).reshape(3, -1))),
}
# Sums over several axes, or all: NumPy adds in memory order (see the module docstring).  Over
# the plane too: a batch-last plane's numbers are not adjacent, and NumPy adds them one by one
# instead of in its pairwise blocks.
SUMMED_OPS = {
    "mean((2, 3))": lambda t: t.mean((2, 3)),
    "sum((2, 3))": lambda t: t.sum(axis=(2, 3)),
    "sum()": lambda t: t.sum(),
    "mean()": lambda t: t.mean(),
    "sum((0, 2, 3))": lambda t: t.sum((0, 2, 3)),
    "mean((0, 2, 3), keepdim)": lambda t: t.mean(dim=(0, 2, 3), keepdim=True),
    "sum((1, 2, 3))": lambda t: t.sum((1, 2, 3)),
    "sum((0, 1))": lambda t: t.sum((0, 1)),
}


@pytest.mark.parametrize("name", SHAPE_OPS)
@settings(max_examples=10)
@given(shape=small_4d_shapes, seed=seeds())
def test_tensor_methods(name, shape, seed):
    op = SHAPE_OPS[name]
    x = random_array(shape, seed, dtype=np.float32)
    if name.startswith(("max", "amax")):
        x = np.round(x)  # ties: amax shares the gradient between them, max(dim) gives it to the first
    check_mixes(op, x, seed + 1, close_when=plane_products_round if name in ("x @ matrix", "linear") else None)


@pytest.mark.parametrize("name", SUMMED_OPS)
@settings(max_examples=10)
@given(shape=small_4d_shapes, seed=seeds())
def test_tensor_sums_over_several_axes(name, shape, seed):
    x = random_array(shape, seed, dtype=np.float32)
    expected = run(SUMMED_OPS[name], x, seed + 1, BATCH_MAJOR, BATCH_MAJOR)
    for x_order, g_order in MIXES:
        got = run(SUMMED_OPS[name], x, seed + 1, x_order, g_order)
        assert_sums_close(got[0], expected[0], np.abs(x).sum(), name)
        np.testing.assert_array_equal(got[1], expected[1])  # the backward only broadcasts


@settings(max_examples=10)
@given(shape=small_4d_shapes, seed=seeds())
def test_argmax(shape, seed):
    x = np.round(random_array(shape, seed, dtype=np.float32))  # ties: the first maximum, in C order, wins
    for memory_order in ORDERS:
        t = leaf(x, memory_order)
        np.testing.assert_array_equal(t.argmax().data, np.argmax(x))
        assert t.argmax().item() == int(np.argmax(x.ravel()))  # an index into the C-order flattening
        for dim in range(4):
            np.testing.assert_array_equal(t.argmax(dim).data, np.argmax(x, axis=dim))
            np.testing.assert_array_equal(t.max(dim).indices.data, np.argmax(x, axis=dim))


BROADCAST_SHAPES = [(), (1,), (5,), (4, 1, 1), (1, 4, 1, 1), (3, 1, 2, 1), (3, 4, 2, 5)]
BINARY_OPS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "r-": lambda a, b: b - a, "*": lambda a, b: a * b,
    "/": lambda a, b: a / (b + 3), "r/": lambda a, b: b / (a * a + 1), "**": lambda a, b: (a * a + 0.5) ** b,
    "r**": lambda a, b: (b + 3) ** a,
}


@pytest.mark.parametrize("symbol", BINARY_OPS)
@pytest.mark.parametrize("other_shape, other_order", [(shape, memory_order) for shape in BROADCAST_SHAPES
                                                      for memory_order in ORDERS
                                                      if len(shape) == 4 or memory_order == BATCH_MAJOR])  # 4-D only
def test_elementwise_arithmetic_with_broadcasting(symbol, other_shape, other_order):
    x = random_array((3, 4, 2, 5), 0, dtype=np.float32)
    other = random_array(other_shape, 1, dtype=np.float32, low=0.5, high=1.5)

    def with_other(values):
        def op(t, b):
            with tg.no_grad():  # the other operand's values in the order asked for, the same leaf
                b.data = values
            return BINARY_OPS[symbol](t, b)
        return op

    if other_shape == x.shape:  # everything elementwise
        check_mixes(with_other(arranged(other, other_order)), x, 2, others=(other,))
        return
    # A broadcast operand's gradient is unbroadcast's sum of the per-element gradients; those
    # addends are the gradient of the operand broadcast out to full size.
    full = np.ascontiguousarray(np.broadcast_to(other, x.shape))
    addends = run(with_other(full), x, 2, BATCH_MAJOR, BATCH_MAJOR, others=(full,))[2][0]
    check_mixes(with_other(arranged(other, other_order)), x, 2, others=(other,),
                summed={0: lambda reference: np.abs(addends).sum()})


# ---------------------------------------------------------------------- non-dense views of arrays in every order
VIEWS = {"y[:, :, 1:]": lambda y: y[:, :, 1:], "y[:, ::2]": lambda y: y[:, ::2], "y[::-1]": lambda y: y[::-1],
         "y[1:, 1:]": lambda y: y[1:, 1:], "y[..., ::-1, :]": lambda y: y[..., ::-1, :]}
CONSUMERS = {
    "conv2d": lambda v: F.conv2d(v, tg.tensor(np.linspace(-1, 1, 2 * v.shape[1] * 4, dtype=np.float32)
                                              .reshape(2, v.shape[1], 2, 2)), padding=1),
    "conv_transpose2d": lambda v: F.conv_transpose2d(v, tg.tensor(np.linspace(-1, 1, v.shape[1] * 2 * 9,
                                                                              dtype=np.float32)
                                                                  .reshape(v.shape[1], 2, 3, 3)), stride=2),
    "batch_norm": lambda v: F.batch_norm_activation(v, None, None, training=True, negative_slope=0.1),
    "relu": F.relu, "max_pool2d": lambda v: F.max_pool2d(v, 2, ceil_mode=True),
    "avg_pool2d": lambda v: F.avg_pool2d(v, 2, 1, 1), "interpolate": lambda v: F.interpolate(v, scale_factor=2),
    "adaptive_avg_pool2d": lambda v: F.adaptive_avg_pool2d(v, 3),
    "max_pool2d unbatched": lambda v: F.max_pool2d(v[0], 2),
}


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("consumer", CONSUMERS)
def test_ops_on_strided_views_of_arrays_in_every_order(view, consumer):
    """A slice of an array in any of the orders is none of them: the ops copy what they must and agree."""
    x = random_array((3, 4, 5, 6), 0, dtype=np.float32)

    def op(t):
        v = VIEWS[view](t)
        assert layout.order(v.data) is None  # the test feeds what it means to
        return CONSUMERS[consumer](v)

    check_mixes(op, x, 1)


# ---------------------------------------------------------------------- modules
def small_model():
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),  # fused in Sequential
        nn.Conv2d(6, 4, 3, stride=2, padding=1, groups=2), nn.BatchNorm2d(4), nn.LeakyReLU(0.2),
        nn.MaxPool2d(2, ceil_mode=True), nn.Upsample(scale_factor=2, mode="bilinear"), nn.AvgPool2d(2, 1),
        nn.Conv2d(4, 4, 2, padding="same"), nn.Tanh(), nn.AdaptiveAvgPool2d((2, 3)), nn.Flatten(), nn.Linear(24, 5),
        nn.Sigmoid())


def model_run(model, x, memory_order, seed=7):
    """Output, dL/dinput, parameter gradients and buffers after one forward and backward, x fed in
    memory_order; the model's state is put back afterwards, so that every run starts from the same one."""
    state = model.state_dict()
    t = leaf(x, memory_order)
    out = model(t)
    out.backward(upstream_for(out, seed, BATCH_MAJOR))
    grads = [p.grad for p in model.parameters()]
    buffers = [np.array(b) for b in model.buffers()]
    for p in model.parameters():
        p.grad = None
    model.load_state_dict(state)
    return out.data, t.grad, grads, buffers


def assert_runs_equal(got, expected):
    np.testing.assert_array_equal(got[0], expected[0], err_msg="output")
    np.testing.assert_array_equal(got[1], expected[1], err_msg="dL/dinput")
    for i, (a, b) in enumerate(zip(got[2], expected[2])):
        np.testing.assert_array_equal(a, b, err_msg=f"parameter {i}")
    for i, (a, b) in enumerate(zip(got[3], expected[3])):
        np.testing.assert_array_equal(a, b, err_msg=f"buffer {i}")


@pytest.mark.parametrize("fused", [True, False])
def test_sequential_model_in_train_and_eval_mode(fused, monkeypatch):
    tg.manual_seed(0)
    model = small_model()
    if not fused:  # a forward hook keeps BatchNorm and the activation after it apart
        for index in (2, 5):
            model[index].register_forward_hook(lambda module, inputs, output: None)
    slopes = []
    forward_with_activation = nn.BatchNorm2d.forward_with_activation
    seen = []  # the orders of the convolutions' and batch norms' outputs

    def recording(module, input, negative_slope):
        slopes.append(negative_slope)
        out = forward_with_activation(module, input, negative_slope)
        seen.append(layout.order(out.data))
        return out

    monkeypatch.setattr(nn.BatchNorm2d, "forward_with_activation", recording)
    for index in (0, 3, 9):  # the convolutions (a hook on a batch norm would keep it apart from its activation)
        model[index].register_forward_hook(lambda module, inputs, output: seen.append(layout.order(output.data)))
    x = random_array((4, 3, 8, 8), 1, dtype=np.float32)
    state = copy.deepcopy(model.state_dict())
    for training in (True, False):
        model.train(training)
        model.load_state_dict(state)
        expected = model_run(model, x, BATCH_MAJOR)
        for memory_order in OTHER_ORDERS:
            model.load_state_dict(state)
            assert_runs_equal(model_run(model, x, memory_order), expected)
    # the activations between the layers were batch-last, whatever order the input came in: so batch
    # norm's sums run in one order in every run, and the runs agree bit for bit
    assert seen and set(seen) == {BATCH_LAST}
    assert set(slopes) == ({0.0, 0.2} if fused else {None})  # BatchNorm2d + ReLU / LeakyReLU ran fused (or not)


@pytest.mark.parametrize("memory_order", OTHER_ORDERS)
def test_fused_and_unfused_sequential_agree_on_input_in_other_orders(memory_order):
    tg.manual_seed(0)
    fused = small_model()
    unfused = copy.deepcopy(fused)
    for index in (2, 5):
        unfused[index].register_forward_hook(lambda module, inputs, output: None)
    x = random_array((4, 3, 8, 8), 2, dtype=np.float32)
    assert_runs_equal(model_run(unfused, x, memory_order), model_run(fused, x, memory_order))


@pytest.mark.parametrize("upsample", ["transposed", "nearest", "bilinear"])
def test_dcgan_generator_and_discriminator(upsample):
    """The library's own networks, from a z (N, nz, 1, 1) in every order (channel-major and
    batch-last are the same memory there, Fortran order too), and on images in every order
    (one channel: channel-major is batch-major, batch-last is not)."""
    tg.manual_seed(3)
    generator, discriminator = Generator(nz=8, ngf=4, upsample=upsample), Discriminator(ndf=4)
    z = random_array((5, 8, 1, 1), 4, dtype=np.float32)
    images = np.tanh(random_array((5, 1, 28, 28), 5, dtype=np.float32))
    expected_g, expected_d = model_run(generator, z, BATCH_MAJOR), model_run(discriminator, images, BATCH_MAJOR)
    for memory_order in OTHER_ORDERS:
        assert_runs_equal(model_run(generator, z, memory_order), expected_g)
        assert_runs_equal(model_run(discriminator, images, memory_order), expected_d)
    # and D on G's output as it comes (batch-last: G ends in a convolution and tanh)
    colour = Generator(nz=8, ngf=4, nc=3, upsample=upsample)
    fake = colour(tg.tensor(z))
    assert layout.order(fake.data) == BATCH_LAST
    d3 = Discriminator(ndf=4, nc=3)
    assert_runs_equal(model_run(d3, fake.data, BATCH_LAST), model_run(d3, fake.data, BATCH_MAJOR))


@pytest.mark.parametrize("memory_order", OTHER_ORDERS)
def test_batchnorm1d_on_strided_views_of_arrays_in_other_orders(memory_order):
    """(N, C, L) made as a strided view of a 4-D array in another order: a channel-major array's
    planes, or one row of each plane of a batch-last array (whose planes NumPy cannot view as
    rows: reshaping copies them)."""
    tg.manual_seed(0)
    x = random_array((3, 4, 2, 5), 0, dtype=np.float32)
    bn = nn.BatchNorm1d(4)
    sequence = nn.Sequential(bn, nn.ReLU())
    as_sequence = (lambda t: t.reshape(3, 4, 10)) if memory_order == CHANNEL_MAJOR else (lambda t: t[:, :, 1])
    results = []
    for arranged_order in (BATCH_MAJOR, memory_order):
        bn.reset_running_stats()
        t = leaf(x, arranged_order)
        planes = as_sequence(t)
        if arranged_order != BATCH_MAJOR:  # a strided view of the array in the other order
            assert np.shares_memory(planes.data, t.data) and layout.order(planes.data) is None
        out = sequence(planes)
        out.backward(upstream_for(out, 1, BATCH_MAJOR))
        results.append((out.data, t.grad, bn.weight.grad.copy(), bn.running_mean.copy(), bn.running_var.copy()))
        bn.weight.grad = bn.bias.grad = None
    for got, expected in zip(*results):
        np.testing.assert_array_equal(got, expected)


def test_pooling_modules_and_unpool_round_trip():
    x = random_array((3, 4, 6, 7), 0, dtype=np.float32)
    pool, unpool = nn.MaxPool2d(2, return_indices=True, ceil_mode=True), nn.MaxUnpool2d(2)

    def op(t):
        out, indices = pool(t)
        return nn.AdaptiveAvgPool2d(5)(unpool(out, indices, output_size=t.shape[2:]))

    check_mixes(op, x, 1)


# ---------------------------------------------------------------------- as a user would
def conv_output(x, seed=1):
    weight = random_array((5, x.shape[1], 3, 3), seed, dtype=np.float32)
    y = F.conv2d(tg.tensor(x), tg.tensor(weight), padding=1)
    assert layout.is_batch_last(y.data)
    return y, weight


def test_in_place_arithmetic_on_a_conv_output_under_no_grad():
    x = random_array((3, 4, 6, 5), 0, dtype=np.float32)
    y, _ = conv_output(x)
    expected = np.ascontiguousarray(y.data)
    other = random_array(y.shape, 2, dtype=np.float32)
    with tg.no_grad():
        y += 1
        y *= 2
        y -= tg.tensor(other)
        y /= 4
        y += tg.tensor(np.float32(0.5)) * tg.tensor(np.ones((5, 1, 1), np.float32))  # broadcast
    expected = (((expected + 1) * 2) - other) / 4 + 0.5
    np.testing.assert_array_equal(y.data, expected)
    assert layout.is_batch_last(y.data)  # in place: still the conv's array
    np.testing.assert_array_equal(F.relu(y).data, np.maximum(expected, 0))


def test_in_place_arithmetic_on_a_recorded_conv_output_is_refused():
    x = random_array((3, 4, 6, 5), 0, dtype=np.float32)
    y = F.conv2d(leaf(x, CHANNEL_MAJOR), tg.tensor(random_array((5, 4, 3, 3), 1, dtype=np.float32)))
    before = np.array(y.data)
    with pytest.raises(RuntimeError, match="in-place arithmetic"):
        y += 1
    with pytest.raises(ValueError, match="does not broadcast"):
        with tg.no_grad():
            y += tg.tensor(np.ones((2, 5, 1, 1), np.float32))
    np.testing.assert_array_equal(y.data, before)


def test_numpy_torch_and_files_see_the_same_values(tmp_path):
    torch = pytest.importorskip("torch")
    x = random_array((3, 4, 6, 5), 0, dtype=np.float32)
    y, weight = conv_output(x)
    # torch as the independent truth: its conv2d of the same numbers (float32: agreement to rounding)
    reference = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(weight), padding=1).numpy()
    np.testing.assert_allclose(y.numpy(), reference, rtol=1e-5, atol=1e-5)
    # torch takes the strided array as it is, and computes on the right numbers
    theirs = torch.from_numpy(y.numpy())
    np.testing.assert_array_equal(theirs.numpy(), y.data)
    w2 = random_array((2, 5, 3, 3), 3, dtype=np.float32)
    np.testing.assert_allclose(F.conv2d(y, tg.tensor(w2)).data,
                               torch.nn.functional.conv2d(theirs, torch.from_numpy(w2)).numpy(), rtol=1e-5, atol=1e-5)
    # np.save / np.load, including a 1x1 batch-norm output, written in its batch-last input's order,
    # which for 1x1 images is channel-major memory (so named) and Fortran order at once
    b = F.batch_norm(leaf(random_array((3, 4, 1, 1), 4, dtype=np.float32), BATCH_LAST, False), None, None,
                     training=True)
    assert layout.is_channel_major(b.data) and b.data.flags.f_contiguous
    for name, array in (("y", y.numpy()), ("b", b.numpy())):
        np.save(tmp_path / f"{name}.npy", array)
        np.testing.assert_array_equal(np.load(tmp_path / f"{name}.npy"), array)
    # tg.save / tg.load: tensors and arrays come back equal, and compute equal results
    tg.save({"y": y, "array": y.data, "b": b, "nested": [b.data]}, tmp_path / "state.npz")
    loaded = tg.load(tmp_path / "state.npz")
    for got in (loaded["y"].data, loaded["array"]):
        np.testing.assert_array_equal(got, y.data)
    for got in (loaded["b"].data, loaded["nested"][0]):
        np.testing.assert_array_equal(got, b.data)
    np.testing.assert_array_equal(F.conv2d(loaded["y"], tg.tensor(w2)).data, F.conv2d(y, tg.tensor(w2)).data)


@pytest.mark.parametrize("memory_order", OTHER_ORDERS)
def test_deepcopy_and_pickle_of_tensors_in_other_orders(memory_order):
    """A leaf in another order, and a conv output (batch-last) through relu."""
    x = random_array((3, 4, 6, 5), 0, dtype=np.float32)
    t = leaf(x, memory_order)
    y = F.relu(F.conv2d(t, tg.tensor(random_array((5, 4, 3, 3), 1, dtype=np.float32)), padding=1))
    y.backward(tg.tensor(np.ones(y.shape, np.float32)), retain_graph=True)
    for clone in (copy.deepcopy(t), pickle.loads(pickle.dumps(t))):
        np.testing.assert_array_equal(clone.data, x)
        np.testing.assert_array_equal(clone.grad, t.grad)
        assert clone.requires_grad and not np.shares_memory(clone.data, t.data)
    for clone in (copy.deepcopy(y), pickle.loads(pickle.dumps(y.detach()))):
        np.testing.assert_array_equal(clone.data, y.data)
        with tg.no_grad():
            clone *= 0  # the copy is its own memory
        assert np.any(y.data != 0)


def test_state_dict_and_checkpoint_of_a_model_trained_on_data_in_every_order(tmp_path):
    x = random_array((4, 3, 8, 8), 1, dtype=np.float32)
    states = []
    for memory_order in ORDERS:
        tg.manual_seed(0)
        model = small_model()
        sgd = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(2):
            out = model(leaf(x, memory_order))
            out.sum().backward()
            sgd.step()
            sgd.zero_grad()
        states.append(model.state_dict())
    for state, memory_order in zip(states[1:], OTHER_ORDERS):
        assert state.keys() == states[0].keys()
        for key in states[0]:
            np.testing.assert_array_equal(state[key], states[0][key], err_msg=f"{key}, trained on {memory_order}")
    tg.save(states[-1], tmp_path / "model.npz")  # the model trained batch-last
    restored = small_model()
    restored.load_state_dict(tg.load(tmp_path / "model.npz"))
    restored.eval()
    model.eval()
    with tg.no_grad():
        expected = model(leaf(x, BATCH_MAJOR, False)).data
        for memory_order in OTHER_ORDERS:
            np.testing.assert_array_equal(restored(leaf(x, memory_order, False)).data, expected)


def test_parameters_holding_arrays_in_other_orders():
    """A Parameter made from an array in another order (e.g. from a conv output, batch-last): the
    optimizers update it in place."""
    value = random_array((4, 6, 3, 3), 0, dtype=np.float32)
    grads = [random_array(value.shape, s, dtype=np.float32) for s in (1, 2, 3)]
    for make, exact in ((lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01), True),
                        (lambda ps: optim.Adam(ps, lr=0.1), False)):
        results = []
        for memory_order in ORDERS:
            param = nn.Parameter(arranged(value, memory_order))
            assert layout.order(param.data) == memory_order
            optimizer = make([param])
            for g in grads:
                param.grad = g.copy()
                optimizer.step()
            results.append(param.data)
        for got, memory_order in zip(results[1:], OTHER_ORDERS):
            if exact:
                np.testing.assert_array_equal(got, results[0], err_msg=memory_order)
            else:
                # Adam's fused kernel runs only on C-contiguous parameters (kernels/optim.py: it works in
                # float64 and rounds once); others take the float32 NumPy sweeps: the last bit may differ.
                np.testing.assert_allclose(got, results[0], rtol=4 * EPS32, atol=4 * EPS32, err_msg=memory_order)


def test_gradcheck_through_batch_last_intermediates():
    x = random_array((2, 3, 4, 4), 0)
    weight = random_array((4, 3, 3, 3), 1)

    def fn(t, w):
        y = F.conv2d(t, w, padding=1)  # batch-last, and so is batch norm's output
        assert layout.is_batch_last(y.data)
        z = F.batch_norm_activation(y, None, None, training=True, negative_slope=0.2)
        assert layout.is_batch_last(z.data)
        return F.avg_pool2d(F.conv_transpose2d(z, w, stride=2), 2)  # w as (in 4, out 3, 3, 3)

    assert tg.gradcheck(fn, [tg.tensor(x, requires_grad=True), tg.tensor(weight, requires_grad=True)])
