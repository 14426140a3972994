"""The pooling options a torch user reaches for: ceil_mode, count_include_pad, divisor_override,
return_indices with max_unpool2d, and adaptive_avg_pool2d -- worked by hand, checked against a
rule written out here, gradient-checked in float64, and compared with torch where it is installed.

(test_pool.py runs its max_pool2d / avg_pool2d property tests with these options drawn too.)
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygan as tg
import tinygan.functional as F
import tinygan.nn as nn
from tinygan.testing import adaptive_avg_pool2d_configs, distinct_arrays, max_unpool2d_configs, seeds
from helpers import compare_with_torch, random_array


def plane(rows):
    """A (1, 1, H, W) float64 array from a nested list: one image, one channel."""
    return np.array(rows, dtype=np.float64)[None, None]


def pool_options(config):
    """The max_pool2d keyword arguments of a max_unpool2d_configs() draw."""
    return {k: config[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}


def unpool_options(config):
    """The max_unpool2d keyword arguments of a max_unpool2d_configs() draw."""
    return {k: config[k] for k in ("kernel_size", "stride", "padding", "output_size")}


# ---------------------------------------------------------------------- ceil_mode
def windows_kept(size, kernel, stride, padding, ceil_mode):
    """Count the windows one by one, from the rule as torch's documentation states it.

    Window i covers padded positions i*s ... i*s + k - 1 of the padded axis (length size + 2p).
    floor mode keeps a window if it ends inside the padded input; ceil mode also keeps one that
    hangs over the end (by less than a stride) as long as it starts inside the input or its
    left padding, i.e. before padded position size + p.
    """
    kept, i = 0, 0
    while True:
        start, end = i * stride, i * stride + kernel  # in padded coordinates
        inside = end <= size + 2 * padding
        hanging = ceil_mode and end - (size + 2 * padding) < stride and start < size + padding
        if not (inside or hanging):
            return kept
        kept, i = kept + 1, i + 1


SWEEP = [(size, kernel, stride, padding) for size in range(1, 10) for kernel in range(1, 5)
         for stride in range(1, 4) for padding in range(kernel // 2 + 1)]


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_output_sizes_follow_the_window_counting_rule(ceil_mode):
    for size, kernel, stride, padding in SWEEP:
        expected = windows_kept(size, kernel, stride, padding, ceil_mode)
        x = tg.tensor(np.zeros((1, 1, size, 3)))
        for pool in (F.max_pool2d, F.avg_pool2d):
            if expected == 0:
                with pytest.raises(ValueError, match="larger than the padded input"):
                    pool(x, (kernel, 1), (stride, 1), (padding, 0), ceil_mode=ceil_mode)
            else:
                y = pool(x, (kernel, 1), (stride, 1), (padding, 0), ceil_mode=ceil_mode)
                assert y.shape[2] == expected, (size, kernel, stride, padding)


def test_ceil_mode_by_hand():
    # 5x5 ones, 2x2 windows, stride 2: floor mode keeps rows 0-1 and 2-3 and drops row 4;
    # ceil mode adds a window starting at row 4 (inside the input) that hangs one row past it.
    x = tg.tensor(np.ones((1, 1, 5, 5)), requires_grad=True)
    assert F.max_pool2d(x, 2, 2).shape == (1, 1, 2, 2)
    assert F.max_pool2d(x, 2, 2, ceil_mode=True).shape == (1, 1, 3, 3)
    y = F.avg_pool2d(x, 2, 2, ceil_mode=True)
    # The last window holds only row/column 4: its divisor counts what lies inside the padded
    # input (here no padding), so every average is 1, not 1/2 or 1/4.
    np.testing.assert_array_equal(y.data, np.ones((1, 1, 3, 3)))
    y.backward(np.ones(y.shape))
    # Pixel (4, 4) is the whole last window: it receives the full gradient 1.
    np.testing.assert_array_equal(x.grad[0, 0], [[0.25] * 4 + [0.5]] * 4 + [[0.5] * 4 + [1.0]])


def test_avg_pool_divisors_by_hand():
    x = tg.tensor(np.ones((1, 1, 4, 4)))
    # 3x3, stride 2, padding 1: windows start at rows -1 and 1 (floor) and 3 (ceil); padded rows
    # are -1..4, so window 3..5 keeps rows 3, 4 of the padded input: 2 rows of 3, one of them real.
    include = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True).data[0, 0]
    # Window (0, 0) counts 9 pixels with 4 real ones; window (2, 2) counts 2x2 = 4 pixels (rows
    # and columns 3, 4), of which one, (3, 3), is real.  Window (1, 1) is all real.
    np.testing.assert_allclose(include, [[4 / 9, 6 / 9, 2 / 6], [6 / 9, 1, 3 / 6], [2 / 6, 3 / 6, 1 / 4]])
    exclude = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False).data[0, 0]
    np.testing.assert_allclose(exclude, np.ones((3, 3)))  # the mean of real pixels, all ones
    # divisor_override replaces the divisor whatever the window holds: sums / 2.
    override = F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, divisor_override=2).data[0, 0]
    np.testing.assert_allclose(override, [[2, 3, 1], [3, 4.5, 1.5], [1, 1.5, 0.5]])


def test_divisor_override_backward_by_hand():
    x = tg.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    y = F.avg_pool2d(x, 2, divisor_override=3)
    np.testing.assert_allclose(y.data[0, 0], [[10 / 3, 18 / 3], [42 / 3, 50 / 3]])
    y.backward(np.ones(y.shape))
    np.testing.assert_allclose(x.grad, np.full(x.shape, 1 / 3))


# ---------------------------------------------------------------------- return_indices
EXAMPLE = [[1, 5, 2, 0],
           [3, 4, 8, 6],
           [7, 0, 1, 2],
           [9, 6, 3, 4]]


def test_return_indices_by_hand():
    x = tg.tensor(plane(EXAMPLE), requires_grad=True)
    y, indices = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y.data[0, 0], [[5, 8], [9, 4]])
    # Flat positions h * W + w in the 4x4 input plane: 5 at (0, 1), 8 at (1, 2), 9 at (3, 0), 4 at (3, 3).
    np.testing.assert_array_equal(indices.data[0, 0], [[1, 6], [12, 15]])
    assert indices.dtype == np.int64 and not indices.requires_grad
    y.sum().backward()  # the output stays differentiable
    assert x.grad.sum() == 4


def test_return_indices_count_in_the_unpadded_input():
    # Padding shifts the windows, never the numbering: positions are in the 2x3 input itself.
    x = tg.tensor(plane([[1, 2, 3], [6, 5, 4]]))
    y, indices = F.max_pool2d(x, 2, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(y.data[0, 0], [[1, 3], [6, 5]])
    np.testing.assert_array_equal(indices.data[0, 0], [[0, 2], [3, 4]])


@given(config=max_unpool2d_configs(), data=st.data())
def test_indices_name_the_pooled_values(config, data):
    x = data.draw(distinct_arrays(config["input_shape"]))
    y, indices = F.max_pool2d(tg.tensor(x), **pool_options(config), return_indices=True)
    n, c = x.shape[:2]
    gathered = np.take_along_axis(x.reshape(n, c, -1), indices.data.reshape(n, c, -1), axis=2)
    np.testing.assert_array_equal(gathered.reshape(y.shape), y.data)


def test_max_pool2d_module_returns_indices():
    layer = nn.MaxPool2d(2, return_indices=True)
    y, indices = layer(tg.tensor(plane(EXAMPLE)))
    np.testing.assert_array_equal(indices.data[0, 0], [[1, 6], [12, 15]])
    assert repr(layer) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"


# ---------------------------------------------------------------------- max_unpool2d
def test_max_unpool_by_hand():
    x = tg.tensor(plane(EXAMPLE))
    y, indices = F.max_pool2d(x, 2, return_indices=True)
    pooled = tg.tensor(y.data, requires_grad=True)
    restored = F.max_unpool2d(pooled, indices, 2)
    # Each maximum back where it was, zeros where the losers were.
    np.testing.assert_array_equal(restored.data[0, 0], [[0, 5, 0, 0],
                                                        [0, 0, 8, 0],
                                                        [0, 0, 0, 0],
                                                        [9, 0, 0, 4]])
    restored.backward(np.arange(16.0).reshape(1, 1, 4, 4))
    # Backward reads the upstream gradient at the same positions: 1, 6, 12, 15.
    np.testing.assert_array_equal(pooled.grad[0, 0], [[1, 6], [12, 15]])


def test_max_unpool_output_size_restores_an_odd_input():
    # A 5x5 input pools (floor mode) to 2x2; the default unpool size (2 - 1) * 2 + 2 = 4 would
    # lose row and column 4 and misplace the rest, so output_size says 5x5.
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    y, indices = F.max_pool2d(tg.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(indices.data[0, 0], [[6, 8], [16, 18]])
    restored = F.max_unpool2d(y, indices, 2, output_size=(5, 5)).data[0, 0]
    expected = np.zeros((5, 5))
    expected[[1, 1, 3, 3], [1, 3, 1, 3]] = [6, 8, 16, 18]
    np.testing.assert_array_equal(restored, expected)
    # output_size may also be the full (N, C, H, W) shape, as torch allows.
    np.testing.assert_array_equal(F.max_unpool2d(y, indices, 2, output_size=(1, 1, 5, 5)).data[0, 0], expected)
    with pytest.raises(ValueError, match=r"flat positions in the 4x4 output planes, in \[0, 16\), got 18"):
        F.max_unpool2d(y, indices, 2)


def test_shared_indices_add_up():
    # The four overlapping 3x3 windows (stride 1) of a 4x4 input all hold pixel (1, 1), flat
    # index 5; if it wins them all, unpooling sums what they carry, so that the backward (a
    # gather) is the exact gradient.
    x = tg.tensor(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), requires_grad=True)
    indices = tg.tensor(np.full((1, 1, 2, 2), 5, dtype=np.int64))
    y = F.max_unpool2d(x, indices, 3, stride=1)  # default size (2 - 1) * 1 + 3 = 4
    np.testing.assert_array_equal(y.data[0, 0], [[0, 0, 0, 0], [0, 10, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert tg.gradcheck(lambda t: F.max_unpool2d(t, indices, 3, stride=1), [x])


@given(config=max_unpool2d_configs(overlapping=False), seed=seeds())
def test_pooling_an_unpooled_input_gives_it_back(config, seed):
    # The documented contract of unpooling: max_pool2d(max_unpool2d(y, i)) == y when the values
    # are positive (the zeros around them never win) and the windows do not share pixels.
    x = random_array(config["input_shape"], seed, low=0.5, high=2.0)
    y, indices = F.max_pool2d(tg.tensor(x), **pool_options(config), return_indices=True)
    options = dict(unpool_options(config), output_size=config["input_shape"])
    restored = F.max_unpool2d(y, indices, **options)
    np.testing.assert_array_equal(F.max_pool2d(restored, **pool_options(config)).data, y.data)


@given(config=max_unpool2d_configs(max_size=4, max_channels=2), seed=seeds())
def test_max_unpool2d_gradcheck(config, seed):
    _, indices = F.max_pool2d(tg.tensor(random_array(config["input_shape"], seed)), **pool_options(config),
                              return_indices=True)
    x = tg.tensor(random_array(indices.shape, seed + 1), requires_grad=True)
    assert tg.gradcheck(lambda t: F.max_unpool2d(t, indices, **unpool_options(config)), [x])


@given(config=max_unpool2d_configs(max_batch=1), seed=seeds())
def test_max_unpool2d_unbatched_input(config, seed):
    y, indices = F.max_pool2d(tg.tensor(random_array(config["input_shape"][1:], seed)), **pool_options(config),
                              return_indices=True)
    options = dict(unpool_options(config), output_size=config["input_shape"][2:])
    batched = F.max_unpool2d(tg.tensor(y.data[None]), tg.tensor(indices.data[None]), **options)
    np.testing.assert_array_equal(F.max_unpool2d(y, indices, **options).data, batched.data[0])


def test_max_unpool2d_module():
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    x = tg.tensor(np.arange(25.0).reshape(1, 1, 5, 5))
    y, indices = pool(x)
    assert unpool(y, indices, output_size=x.shape).shape == (1, 1, 5, 5)
    assert repr(unpool) == "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"


# ---------------------------------------------------------------------- adaptive_avg_pool2d
def test_adaptive_windows_by_hand():
    # 5 -> 3: windows [0, 2), [1, 4), [3, 5), overlapping by one pixel.
    x = tg.tensor(np.array([[[[1.0, 2.0, 3.0, 4.0, 5.0]]]]), requires_grad=True)
    y = F.adaptive_avg_pool2d(x, (1, 3))
    np.testing.assert_allclose(y.data[0, 0, 0], [(1 + 2) / 2, (2 + 3 + 4) / 3, (4 + 5) / 2])
    y.backward(np.ones(y.shape))
    # Pixel 1 sits in windows 0 and 1, pixel 3 in windows 1 and 2.
    np.testing.assert_allclose(x.grad[0, 0, 0], [1 / 2, 1 / 2 + 1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2])


def test_adaptive_output_larger_than_input():
    # 2 -> 3: windows [0, 1), [0, 2), [1, 2): the middle output averages both pixels.
    y = F.adaptive_avg_pool2d(tg.tensor(np.array([[[[2.0, 4.0]]]])), (1, 3))
    np.testing.assert_allclose(y.data[0, 0, 0], [2, 3, 4])


def test_global_average_pool_and_none():
    x = random_array((2, 3, 5, 7), 0)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(tg.tensor(x), 1).data, x.mean(axis=(2, 3), keepdims=True))
    # None keeps that side: (None, 1) averages each row.
    np.testing.assert_allclose(F.adaptive_avg_pool2d(tg.tensor(x), (None, 1)).data, x.mean(axis=3, keepdims=True))
    # When the output size divides the input size, adaptive pooling is ordinary average pooling.
    x = random_array((1, 2, 6, 4), 1)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(tg.tensor(x), (3, 2)).data, F.avg_pool2d(tg.tensor(x), 2).data)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    assert head(tg.tensor(x)).shape == (1, 2)
    assert repr(nn.AdaptiveAvgPool2d((None, 3))) == "AdaptiveAvgPool2d(output_size=(None, 3))"


@given(config=adaptive_avg_pool2d_configs(max_size=5, max_channels=2), seed=seeds())
def test_adaptive_avg_pool2d_gradcheck(config, seed):
    x = tg.tensor(random_array(config["input_shape"], seed), requires_grad=True)
    assert tg.gradcheck(lambda t: F.adaptive_avg_pool2d(t, config["output_size"]), [x])


@given(config=adaptive_avg_pool2d_configs(max_batch=1), seed=seeds())
def test_adaptive_avg_pool2d_unbatched_float32_agrees_with_batched_float64(config, seed):
    x = random_array(config["input_shape"][1:], seed, dtype=np.float32)
    y = F.adaptive_avg_pool2d(tg.tensor(x), config["output_size"])
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, F.adaptive_avg_pool2d(tg.tensor(x[None].astype(np.float64)),
                                                             config["output_size"]).data[0], rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- bad input
def pooled_example():
    y, indices = F.max_pool2d(tg.tensor(plane(EXAMPLE)), 2, return_indices=True)
    return y, indices


@pytest.mark.parametrize("change,error,message", [
    (lambda y, i: (y, tg.tensor(i.data[0])), ValueError,
     r"indices must have the input's shape \(1, 1, 2, 2\), got shape \(1, 2, 2\)"),
    (lambda y, i: (y, tg.tensor(i.data + 4)), ValueError,
     r"indices must be flat positions in the 4x4 output planes, in \[0, 16\), got 19"),
    (lambda y, i: (y, tg.tensor(i.data - 2)), ValueError, r"in \[0, 16\), got -1"),
    (lambda y, i: (y, tg.tensor(i.data.astype(np.int32))), TypeError, "indices must be an int64 tensor"),
    (lambda y, i: (y, i.data.tolist()), TypeError, "indices must be a Tensor"),
    (lambda y, i: (tg.tensor(y.data.astype(np.int64)), i), TypeError, "input must be a floating-point tensor"),
])
def test_max_unpool2d_rejects_bad_indices(change, error, message):
    y, indices = change(*pooled_example())
    with pytest.raises(error, match=f"max_unpool2d: .*{message}"):
        F.max_unpool2d(y, indices, 2)


@pytest.mark.parametrize("output_size,error,message", [
    ((9, 9), ValueError, r"output_size \(9, 9\) is inconsistent with the pooling: side 0 must be between 2 and 6"),
    ((4, 2), ValueError, "side 1 must be between 2 and 6 .exclusive., got 2"),
    ((4,), TypeError, r"output_size must be None or a sequence of 2 ints \(H, W\) or 4"),
    (4, TypeError, "output_size must be None or a sequence"),
])
def test_max_unpool2d_rejects_inconsistent_output_size(output_size, error, message):
    with pytest.raises(error, match=f"max_unpool2d: .*{message}"):
        F.max_unpool2d(*pooled_example(), 2, output_size=output_size)


@pytest.mark.parametrize("output_size,error,message", [
    (0, ValueError, "output_size must be positive, got 0"),
    ((2, 0), ValueError, r"output_size must be positive, got \(2, 0\)"),
    ((None, 0), ValueError, "output_size must be a positive int, got 0"),
    ((2, 2, 2), TypeError, "output_size must be an int or a pair"),
    ("2", TypeError, "output_size must be an int or a pair"),
])
def test_adaptive_avg_pool2d_rejects_bad_output_size(output_size, error, message):
    with pytest.raises(error, match=f"adaptive_avg_pool2d: {message}"):
        F.adaptive_avg_pool2d(tg.tensor(np.zeros((1, 1, 4, 4))), output_size)
    with pytest.raises(error, match=f"AdaptiveAvgPool2d: {message}"):
        nn.AdaptiveAvgPool2d(output_size)


@pytest.mark.parametrize("build,error,message", [
    (lambda: nn.MaxPool2d("x"), TypeError, "MaxPool2d: kernel_size must be an int or a pair"),
    (lambda: nn.MaxPool2d(2, stride=0), ValueError, "MaxPool2d: stride must be positive"),
    (lambda: nn.MaxPool2d(2, padding=-1), ValueError, "MaxPool2d: padding must be >= 0"),
    (lambda: nn.MaxPool2d(2, dilation=0), ValueError, "MaxPool2d: dilation must be positive"),
    (lambda: nn.AvgPool2d((2, 2, 2)), TypeError, "AvgPool2d: kernel_size must be an int or a pair"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, "AvgPool2d: divisor_override must be a positive int"),
    (lambda: nn.AvgPool2d(2, divisor_override="2"), TypeError, "AvgPool2d: divisor_override must be a positive int"),
    (lambda: nn.MaxUnpool2d(0), ValueError, "MaxUnpool2d: kernel_size must be positive"),
])
def test_layers_check_their_arguments_when_built(build, error, message):
    with pytest.raises(error, match=message):
        build()


# ---------------------------------------------------------------------- against torch (skipped without torch)
def torch_functional():
    return pytest.importorskip("torch").nn.functional


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_output_size_sweep_matches_torch(ceil_mode):
    TF = torch_functional()
    torch = pytest.importorskip("torch")
    for size, kernel, stride, padding in SWEEP:
        x = np.zeros((1, 1, size, size + 1))
        try:
            expected = TF.max_pool2d(torch.tensor(x), kernel, stride, padding, ceil_mode=ceil_mode).shape
        except RuntimeError:  # torch: "Output size is too small"
            with pytest.raises(ValueError, match="larger than the padded input"):
                F.max_pool2d(tg.tensor(x), kernel, stride, padding, ceil_mode=ceil_mode)
            continue
        assert F.max_pool2d(tg.tensor(x), kernel, stride, padding, ceil_mode=ceil_mode).shape == tuple(expected)
        assert F.avg_pool2d(tg.tensor(x), kernel, stride, padding, ceil_mode=ceil_mode).shape == tuple(expected)


@given(config=max_unpool2d_configs(), seed=seeds())
def test_indices_match_torch(config, seed):
    torch = pytest.importorskip("torch")
    x = random_array(config["input_shape"], seed)
    _, ours = F.max_pool2d(tg.tensor(x), **pool_options(config), return_indices=True)
    _, theirs = torch_functional().max_pool2d(torch.tensor(x), **pool_options(config), return_indices=True)
    np.testing.assert_array_equal(ours.data, theirs.numpy())


@given(config=max_unpool2d_configs(overlapping=False), seed=seeds())
def test_max_unpool2d_matches_torch(config, seed):
    torch = pytest.importorskip("torch")
    pooled, indices = torch_functional().max_pool2d(torch.tensor(random_array(config["input_shape"], seed)),
                                                    **pool_options(config), return_indices=True)
    options = unpool_options(config)
    compare_with_torch(lambda t: F.max_unpool2d(t, tg.tensor(indices.numpy()), **options),
                       lambda t: torch_functional().max_unpool2d(t, indices, **options),
                       [random_array(tuple(pooled.shape), seed + 1)])


@given(config=adaptive_avg_pool2d_configs(), seed=seeds())
def test_adaptive_avg_pool2d_matches_torch(config, seed):
    compare_with_torch(lambda t: F.adaptive_avg_pool2d(t, config["output_size"]),
                       lambda t: torch_functional().adaptive_avg_pool2d(t, config["output_size"]),
                       [random_array(config["input_shape"], seed)])


def test_module_reprs_match_torch():
    torch_nn = pytest.importorskip("torch").nn
    for name, args, kwargs in [("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True)),
                               ("AvgPool2d", ((3, 2),), dict(ceil_mode=True, divisor_override=4)),
                               ("MaxUnpool2d", (2,), {}), ("MaxUnpool2d", ((3, 2), 1, (1, 0)), {}),
                               ("AdaptiveAvgPool2d", (1,), {}), ("AdaptiveAvgPool2d", ((None, 7),), {})]:
        assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch_nn, name)(*args, **kwargs))
