"""max_pool2d and avg_pool2d: gradients, worked examples, bad input, and torch conformance."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygan as tg
import tinygan.functional as F
from tinygan.testing import avg_pool2d_configs, distinct_arrays, float_dtypes, pool2d_configs, seeds
from helpers import compare_with_torch, random_array

POOLS = {"max_pool2d": F.max_pool2d, "avg_pool2d": F.avg_pool2d}


def split(config):
    """A pool2d_configs() draw as (input_shape, keyword arguments)."""
    kwargs = dict(config)
    return kwargs.pop("input_shape"), kwargs


def plane(rows):
    """A (1, 1, H, W) float64 array from a nested list: one image, one channel."""
    return np.array(rows, dtype=np.float64)[None, None]


# ---------------------------------------------------------------------- gradients (float64)
@given(config=pool2d_configs(max_size=4, max_channels=2, ceil_mode=True, max_dilation=2), data=st.data())
def test_max_pool2d_gradcheck(config, data):
    shape, kwargs = split(config)
    # Distinct values 0.1 apart: a nudge of 1e-6 never changes which pixel wins a window.
    x = tg.tensor(data.draw(distinct_arrays(shape)), requires_grad=True)
    assert tg.gradcheck(lambda t: F.max_pool2d(t, **kwargs), [x])


@given(config=avg_pool2d_configs(max_size=4, max_channels=2), seed=seeds())
def test_avg_pool2d_gradcheck(config, seed):  # ceil_mode, count_include_pad, divisor_override too
    shape, kwargs = split(config)
    x = tg.tensor(random_array(shape, seed), requires_grad=True)
    assert tg.gradcheck(lambda t: F.avg_pool2d(t, **kwargs), [x])


@given(config=pool2d_configs(max_size=4, max_batch=1, ceil_mode=True), data=st.data(),
       name=st.sampled_from(sorted(POOLS)))
def test_unbatched_chw_input(config, data, name):
    shape, kwargs = split(config)
    x = data.draw(distinct_arrays(shape[1:]))
    y = POOLS[name](tg.tensor(x), **kwargs)
    batched = POOLS[name](tg.tensor(x[None]), **kwargs)
    np.testing.assert_array_equal(y.data, batched.data[0])
    assert tg.gradcheck(lambda t: POOLS[name](t, **kwargs), [tg.tensor(x, requires_grad=True)])


@given(config=pool2d_configs(ceil_mode=True), seed=seeds(), dtype=float_dtypes(), name=st.sampled_from(sorted(POOLS)))
def test_float32_agrees_with_float64(config, seed, dtype, name):
    shape, kwargs = split(config)
    x64 = random_array(shape, seed)
    results = {}
    for d in (dtype, np.float64):
        x = tg.tensor(x64.astype(d), requires_grad=True)
        y = POOLS[name](x, **kwargs)
        y.backward(random_array(y.shape, seed + 1, dtype=d))
        assert y.dtype == d and x.grad.dtype == d
        results[d] = y.data, x.grad
    for low, high in zip(results[dtype], results[np.float64]):
        np.testing.assert_allclose(low, high, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------- worked examples
def test_max_pool_by_hand():
    x = tg.tensor(plane([[1, 5, 2, 0],
                         [3, 4, 8, 6],
                         [7, 0, 1, 2],
                         [9, 6, 3, 4]]), requires_grad=True)
    y = F.max_pool2d(x, 2)  # stride defaults to the kernel: four disjoint 2x2 windows
    np.testing.assert_array_equal(y.data[0, 0], [[5, 8], [9, 4]])
    y.backward(plane([[1, 2], [3, 4]]))
    # Each window's gradient lands on its winner and nowhere else.
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 1, 0, 0],
                                                 [0, 0, 2, 0],
                                                 [0, 0, 0, 0],
                                                 [3, 0, 0, 4]])


def test_max_pool_overlapping_windows_accumulate():
    x = tg.tensor(plane([[0, 1, 0],
                         [2, 9, 3],
                         [0, 4, 0]]), requires_grad=True)
    y = F.max_pool2d(x, 2, stride=1)  # four overlapping windows, all won by the centre
    np.testing.assert_array_equal(y.data[0, 0], [[9, 9], [9, 9]])
    y.backward(np.ones_like(y.data))
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 0, 0], [0, 4, 0], [0, 0, 0]])


def test_max_pool_ties_go_to_the_first_maximum_in_window_order():
    x = tg.tensor(plane([[7, 7], [7, 7]]), requires_grad=True)
    F.max_pool2d(x, 2).backward(plane([[1.0]]))
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 0], [0, 0]])


def test_max_pool_pads_with_minus_infinity():
    # With zero padding every window touching the border would answer 0, not a pixel.
    y = F.max_pool2d(tg.tensor(plane([[-1, -2], [-3, -4]])), 2, stride=1, padding=1)
    np.testing.assert_array_equal(y.data[0, 0], [[-1, -1, -2],
                                                 [-1, -1, -2],
                                                 [-3, -3, -4]])


def test_max_pool_propagates_nan_and_routes_its_gradient_to_it():
    # torch: a window holding a NaN answers NaN (NaN beats every number), and the NaN is the
    # window's argmax, so the gradient goes to it.  Windows without NaN are unaffected.
    nan = np.nan
    x = tg.tensor(plane([[1, nan, 5, 6],
                         [3, 4, 7, 8],
                         [9, 2, 0, 1],
                         [0, 1, 2, nan]]), requires_grad=True)
    y = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(y.data[0, 0], [[nan, 8], [9, nan]])  # assert_array_equal: NaN == NaN
    y.backward(plane([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(x.grad[0, 0], [[0, 1, 0, 0],
                                                 [0, 0, 0, 2],
                                                 [3, 0, 0, 0],
                                                 [0, 0, 0, 4]])
    # A NaN that is not the first pixel a window visits still wins over a larger number before it.
    assert np.isnan(F.max_pool2d(tg.tensor(plane([[9, 9], [9, nan]]).astype(np.float32)), 2).item())


def test_avg_pool_by_hand():
    x = tg.tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    y = F.avg_pool2d(x, 2)
    np.testing.assert_array_equal(y.data[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    y.backward(np.ones_like(y.data))
    np.testing.assert_array_equal(x.grad, np.full(x.shape, 0.25))


def test_avg_pool_count_include_pad():
    x = plane([[1, 2], [3, 4]])
    # 2x2 windows, stride 2, padding 1: each window holds one real pixel and three padded ones.
    with_pad = F.avg_pool2d(tg.tensor(x), 2, stride=2, padding=1)
    without_pad = F.avg_pool2d(tg.tensor(x), 2, stride=2, padding=1, count_include_pad=False)
    np.testing.assert_array_equal(with_pad.data[0, 0], [[0.25, 0.5], [0.75, 1.0]])
    np.testing.assert_array_equal(without_pad.data[0, 0], [[1, 2], [3, 4]])
    # 3x3 windows with padding 1 over a 2x2 input all cover the four real pixels (sum 10).
    np.testing.assert_allclose(F.avg_pool2d(tg.tensor(x), 3, 1, 1).data, np.full((1, 1, 2, 2), 10 / 9))
    np.testing.assert_allclose(F.avg_pool2d(tg.tensor(x), 3, 1, 1, count_include_pad=False).data,
                               np.full((1, 1, 2, 2), 2.5))


def test_unequal_kernel_stride_and_padding_shapes():
    x = tg.tensor(np.zeros((2, 3, 9, 7)))
    # OH = (9 + 2 - 3) // 2 + 1 = 5,  OW = (7 + 0 - 2) // 3 + 1 = 2
    assert F.max_pool2d(x, (3, 2), stride=(2, 3), padding=(1, 0)).shape == (2, 3, 5, 2)
    assert F.avg_pool2d(x, (3, 2), stride=(2, 3), padding=(1, 0)).shape == (2, 3, 5, 2)


# ---------------------------------------------------------------------- bad input
bad_calls = [
    (np.zeros((4, 4)), dict(kernel_size=2), ValueError, r"input must be 3-D or 4-D .*got shape \(4, 4\)"),
    (np.zeros((1, 1, 4, 4), dtype=np.int64), dict(kernel_size=2), TypeError,
     "input must be a floating-point tensor, got dtype int64"),
    (np.zeros((1, 1, 4, 4)), dict(kernel_size=0), ValueError, "kernel_size must be positive, got 0"),
    (np.zeros((1, 1, 4, 4)), dict(kernel_size=(2,)), TypeError, r"kernel_size must be an int or a pair"),
    (np.zeros((1, 1, 4, 4)), dict(kernel_size=2.0), TypeError, r"kernel_size must be an int or a pair"),
    (np.zeros((1, 1, 4, 4)), dict(kernel_size=2, stride=0), ValueError, "stride must be positive, got 0"),
    (np.zeros((1, 1, 4, 4)), dict(kernel_size=2, stride=(1, -1)), ValueError, "stride must be positive"),
    (np.zeros((1, 1, 4, 4)), dict(kernel_size=2, padding=-1), ValueError, "padding must be >= 0, got -1"),
    (np.zeros((1, 1, 4, 4)), dict(kernel_size=3, padding=2), ValueError,
     r"padding must be at most half of kernel_size.*padding=\(2, 2\) with kernel_size=\(3, 3\)"),
    (np.zeros((1, 1, 4, 4)), dict(kernel_size=(4, 1), padding=(0, 1)), ValueError,
     "padding must be at most half of kernel_size"),
    (np.zeros((1, 1, 3, 3)), dict(kernel_size=(2, 6), padding=(1, 1)), ValueError,
     r"kernel_size \(2, 6\) is larger than the padded input \(5, 5\)"),
    (np.zeros((1, 1, 0, 3)), dict(kernel_size=2, padding=1), ValueError, r"input must have a non-empty \(H, W\)"),
    # ceil_mode lets the last window hang over the padded input by up to stride - 1 pixels, no more.
    (np.zeros((1, 1, 1, 1)), dict(kernel_size=2, stride=1, ceil_mode=True), ValueError,
     r"kernel_size \(2, 2\) is larger than the padded input \(1, 1\) and the stride - 1 pixels ceil_mode"),
]


@pytest.mark.parametrize("name", sorted(POOLS))
@pytest.mark.parametrize("array,kwargs,error,message", bad_calls, ids=[m for *_, m in bad_calls])
def test_bad_input_is_rejected_at_the_boundary(name, array, kwargs, error, message):
    with pytest.raises(error, match=f"{name}: {message}"):
        POOLS[name](tg.tensor(array), **kwargs)


@pytest.mark.parametrize("value,error,message", [(0, ValueError, "divisor_override must be a positive int, got 0"),
                                                 (2.5, TypeError, "divisor_override must be a positive int, got float")])
def test_bad_divisor_override(value, error, message):
    with pytest.raises(error, match=f"avg_pool2d: {message}"):
        F.avg_pool2d(tg.tensor(np.zeros((1, 1, 4, 4))), 2, divisor_override=value)


def test_max_pool_dilation_by_hand():
    # 2x2 taps two pixels apart: window (i, j) reads x[i, j], x[i, j+2], x[i+2, j], x[i+2, j+2],
    # and on an increasing ramp the last of them wins.
    x = tg.tensor(np.arange(25.0).reshape(1, 1, 5, 5), requires_grad=True)
    y, indices = F.max_pool2d(x, 2, stride=1, dilation=2, return_indices=True)
    rows, cols = np.meshgrid(np.arange(3), np.arange(3), indexing="ij")
    np.testing.assert_array_equal(indices.data[0, 0], (rows + 2) * 5 + cols + 2)
    np.testing.assert_array_equal(y.data[0, 0], x.data[0, 0, 2:, 2:])
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad[0, 0], np.pad(np.ones((3, 3)), ((2, 0), (2, 0))))


def test_dilated_window_of_only_padding_is_refused():
    # 2 taps 3 apart from row -1 read rows -1 and 2 of a 2-row input: both padding.  torch
    # answers -inf there (and an index outside the plane); tinygan says why it cannot.
    with pytest.raises(ValueError, match=r"max_pool2d: with dilation \(3, 3\), window 0 along axis 0 holds no "
                                         r"input pixel, only padding"):
        F.max_pool2d(tg.tensor(np.zeros((1, 1, 2, 2))), 2, stride=1, padding=1, dilation=3)
    with pytest.raises(ValueError, match=r"max_pool2d: kernel_size \(3, 3\), reaching over \(5, 5\) with "
                                         r"dilation \(2, 2\), is larger than the padded input \(4, 4\)"):
        F.max_pool2d(tg.tensor(np.zeros((1, 1, 4, 4))), 3, dilation=2)


# ---------------------------------------------------------------------- against torch (skipped without torch)
def torch_functional():
    return pytest.importorskip("torch").nn.functional


@given(config=pool2d_configs(ceil_mode=True, max_dilation=3), seed=seeds())
def test_max_pool2d_matches_torch(config, seed):
    shape, kwargs = split(config)
    compare_with_torch(lambda t: F.max_pool2d(t, **kwargs), lambda t: torch_functional().max_pool2d(t, **kwargs),
                       [random_array(shape, seed)])


@given(config=avg_pool2d_configs(), seed=seeds())
def test_avg_pool2d_matches_torch(config, seed):  # ceil_mode, count_include_pad, divisor_override too
    shape, kwargs = split(config)
    compare_with_torch(lambda t: F.avg_pool2d(t, **kwargs), lambda t: torch_functional().avg_pool2d(t, **kwargs),
                       [random_array(shape, seed)])


@given(config=pool2d_configs(ceil_mode=True), seed=seeds(), name=st.sampled_from(sorted(POOLS)))
def test_float32_matches_torch(config, seed, name):
    shape, kwargs = split(config)
    compare_with_torch(lambda t: POOLS[name](t, **kwargs), lambda t: getattr(torch_functional(), name)(t, **kwargs),
                       [random_array(shape, seed, dtype=np.float32)], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0))])
def test_max_pool2d_ties_route_like_torch(kwargs):
    # Integer values from a small range: most windows hold ties, overlapping ones too.
    x = np.random.default_rng(0).integers(0, 3, size=(2, 2, 5, 6)).astype(np.float64)
    compare_with_torch(lambda t: F.max_pool2d(t, **kwargs), lambda t: torch_functional().max_pool2d(t, **kwargs),
                       [x])
    compare_with_torch(lambda t: F.max_pool2d(t, **kwargs), lambda t: torch_functional().max_pool2d(t, **kwargs),
                       [np.ones((1, 1, 5, 6))])


@given(config=pool2d_configs(max_batch=1, ceil_mode=True), seed=seeds(), name=st.sampled_from(sorted(POOLS)))
def test_unbatched_input_matches_torch(config, seed, name):
    shape, kwargs = split(config)
    compare_with_torch(lambda t: POOLS[name](t, **kwargs), lambda t: getattr(torch_functional(), name)(t, **kwargs),
                       [random_array(shape[1:], seed)])
