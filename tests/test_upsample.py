"""interpolate (nearest, bilinear): gradients, worked examples, bad input, and torch conformance."""
import math

import numpy as np
import pytest
from hypothesis import given

import tinygan as tg
import tinygan.functional as F
from tinygan.ops.upsample import linear_source_index, nearest_source_index
from tinygan.testing import float_dtypes, interpolate_configs, seeds
from helpers import compare_with_torch, random_array


def split(config):
    """An interpolate_configs() draw as (input_shape, keyword arguments)."""
    kwargs = dict(config)
    return kwargs.pop("input_shape"), kwargs


def plane(rows):
    """A (1, 1, H, W) float64 array from a nested list: one image, one channel."""
    return np.array(rows, dtype=np.float64)[None, None]


# ---------------------------------------------------------------------- gradients (float64)
@given(config=interpolate_configs(max_size=4), seed=seeds())
def test_interpolate_gradcheck(config, seed):
    shape, kwargs = split(config)
    x = tg.tensor(random_array(shape, seed), requires_grad=True)
    assert tg.gradcheck(lambda t: F.interpolate(t, **kwargs), [x])


@given(config=interpolate_configs(), seed=seeds())
def test_backward_is_the_adjoint_of_forward(config, seed):
    # Both modes are linear maps y = L x, so <L x, g> = <x, L^T g> for any x and g.
    shape, kwargs = split(config)
    x = tg.tensor(random_array(shape, seed), requires_grad=True)
    y = F.interpolate(x, **kwargs)
    g = random_array(y.shape, seed + 1)
    y.backward(g)
    np.testing.assert_allclose(np.sum(y.data * g), np.sum(x.data * x.grad), rtol=1e-10, atol=1e-10)


@given(config=interpolate_configs(), seed=seeds(), dtype=float_dtypes())
def test_float32_agrees_with_float64(config, seed, dtype):
    shape, kwargs = split(config)
    x64 = random_array(shape, seed)
    results = {}
    for d in (dtype, np.float64):
        x = tg.tensor(x64.astype(d), requires_grad=True)
        y = F.interpolate(x, **kwargs)
        y.backward(random_array(y.shape, seed + 1, dtype=d))
        assert y.dtype == d and x.grad.dtype == d
        results[d] = y.data, x.grad
    for low, high in zip(results[dtype], results[np.float64]):
        np.testing.assert_allclose(low, high, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------- worked examples
def test_nearest_doubles_each_pixel():
    x = tg.tensor(plane([[1, 2], [3, 4]]), requires_grad=True)
    expected = [[1, 1, 2, 2],
                [1, 1, 2, 2],
                [3, 3, 4, 4],
                [3, 3, 4, 4]]
    np.testing.assert_array_equal(F.interpolate(x, size=4).data[0, 0], expected)
    y = F.interpolate(x, scale_factor=2)
    np.testing.assert_array_equal(y.data[0, 0], expected)
    y.backward(np.ones_like(y.data))
    np.testing.assert_array_equal(x.grad[0, 0], [[4, 4], [4, 4]])  # each pixel was copied four times


def test_nearest_follows_the_legacy_floor_rule():
    x = tg.tensor(plane([[10, 11, 12]]))
    # 3 -> 5 pixels: src = floor(i * 3/5) = 0, 0, 1, 1, 2
    np.testing.assert_array_equal(F.interpolate(x, size=(1, 5)).data[0, 0, 0], [10, 10, 11, 11, 12])
    # 3 -> 1 pixel: src = floor(0 * 3) = 0, the first pixel (not the centre one)
    np.testing.assert_array_equal(F.interpolate(x, size=(1, 1)).data[0, 0, 0], [10])
    # scale_factor 2.4 on 2 pixels gives 4: torch's doubling shortcut reads 0 0 1 1, where
    # floor(i / 2.4) would read 0 0 0 1.
    two = tg.tensor(plane([[10, 11]]))
    np.testing.assert_array_equal(F.interpolate(two, scale_factor=(1, 2.4)).data[0, 0, 0], [10, 10, 11, 11])


def torchs_nearest_rule(in_size, out_size, scale_factor=None, float_type=np.float32):
    """torch's nearest rule (UpSample.h, nearest_idx), spelled out one pixel at a time.

    out == in copies and out == 2 * in doubles; otherwise scale = in / out (or 1 / scale_factor)
    rounded to float32, src = floor(float32(i) * scale), clamped to in - 1.  `float_type` lets
    a test show that the float32 rounding matters.
    """
    if out_size == in_size:
        return list(range(out_size))
    if out_size == 2 * in_size:
        return [i // 2 for i in range(out_size)]
    scale = float_type(1.0 / scale_factor) if scale_factor else float_type(in_size) / float_type(out_size)
    return [min(math.floor(float_type(i) * scale), in_size - 1) for i in range(out_size)]


def test_nearest_indices_follow_the_float32_rule_for_every_small_size():
    disagreements = []  # pairs where the same rule in float64 would read another pixel
    for in_size in range(1, 31):
        for out_size in range(1, 81):
            expected = torchs_nearest_rule(in_size, out_size)
            np.testing.assert_array_equal(nearest_source_index(in_size, out_size), expected,
                                          err_msg=f"{in_size} -> {out_size}")
            if torchs_nearest_rule(in_size, out_size, float_type=np.float64) != expected:
                disagreements.append((in_size, out_size))
        for scale in (0.3, 0.5, 2 / 3, 0.7, 1.1, 1.2, 1.5, 2.4, 2.5, 3.3):
            out_size = int(in_size * scale)
            if out_size >= 1:
                np.testing.assert_array_equal(nearest_source_index(in_size, out_size, scale),
                                              torchs_nearest_rule(in_size, out_size, scale),
                                              err_msg=f"{in_size} x {scale}")
    # The sweep is sensitive: float64 arithmetic would read other pixels for these pairs.
    assert (6, 74) in disagreements and len(disagreements) >= 10


def test_nearest_6_to_74_reads_pixel_2_at_37_as_float32_rounds():
    # float32(6 / 74) = 0.08108107745... < 6 / 74, so 37 * scale = 2.9999998 floors to 2
    # (in float64, 37 * 6 / 74 is exactly 3).
    assert np.float32(37) * (np.float32(6) / np.float32(74)) < 3
    row = tg.tensor(np.arange(6, dtype=np.float64).reshape(1, 1, 1, 6))
    y = F.interpolate(row, size=(1, 74)).data[0, 0, 0]
    assert y[36] == 2 and y[37] == 2 and y[38] == 3


@pytest.mark.parametrize("align_corners", [False, True])
def test_bilinear_reads_a_ramp_at_the_documented_source_position(align_corners):
    """Resampling the ramp 0, 1, ..., in-1 returns where each output pixel reads, clamped to the row."""
    for in_size in range(1, 13):
        ramp = tg.tensor(np.arange(in_size, dtype=np.float64).reshape(1, 1, 1, in_size))
        for out_size in range(1, 26):
            i = np.arange(out_size)
            if align_corners:
                src = i * (in_size - 1) / (out_size - 1) if out_size > 1 else np.zeros(1)
            else:
                src = (i + 0.5) * in_size / out_size - 0.5
            y = F.interpolate(ramp, size=(1, out_size), mode="bilinear", align_corners=align_corners)
            np.testing.assert_allclose(y.data[0, 0, 0], np.clip(src, 0, in_size - 1), rtol=1e-12, atol=1e-12,
                                       err_msg=f"{in_size} -> {out_size}")
        for scale in (0.5, 0.7, 1.5, 2.4, 3.3):  # a given scale_factor is used as is, not out / in
            out_size = math.floor(in_size * scale)
            if out_size >= 1 and not align_corners and out_size != in_size:
                src = (np.arange(out_size) + 0.5) / scale - 0.5
                y = F.interpolate(ramp, scale_factor=(1, scale), mode="bilinear")
                np.testing.assert_allclose(y.data[0, 0, 0], np.clip(src, 0, in_size - 1), rtol=1e-12,
                                           atol=1e-12, err_msg=f"{in_size} x {scale}")


def test_bilinear_align_corners_true_gives_midpoints():
    x = tg.tensor(plane([[1, 2], [3, 4]]), requires_grad=True)
    y = F.interpolate(x, size=3, mode="bilinear", align_corners=True)
    np.testing.assert_allclose(y.data[0, 0], [[1, 1.5, 2],
                                              [2, 2.5, 3],
                                              [3, 3.5, 4]])
    y.backward(np.ones_like(y.data))
    # Corner (0, 0) is read with weight 1 + 1/2 + 1/2 + 1/4; by symmetry so is every corner.
    np.testing.assert_allclose(x.grad[0, 0], [[2.25, 2.25], [2.25, 2.25]])


def test_bilinear_half_pixel_centres():
    x = tg.tensor(plane([[1, 2]]))
    # src = max((i + 0.5) / 2 - 0.5, 0) = 0, 0.25, 0.75, 1.25 -> the last clamps to pixel 1
    y = F.interpolate(x, scale_factor=(1, 2), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(y.data[0, 0, 0], [1, 1.25, 1.75, 2])
    # Downsampling by 2 reads between pixel pairs: src = (i + 0.5) * 2 - 0.5 = 0.5, 2.5
    four = tg.tensor(plane([[0, 1, 2, 3]]))
    np.testing.assert_allclose(F.interpolate(four, scale_factor=(1, 0.5), mode="bilinear").data[0, 0, 0], [0.5, 2.5])
    np.testing.assert_allclose(F.interpolate(four, scale_factor=(1, 0.5)).data[0, 0, 0], [0, 2])


def test_source_tables():
    np.testing.assert_array_equal(nearest_source_index(3, 5), [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(nearest_source_index(4, 6, scale_factor=1.5), [0, 0, 1, 2, 2, 3])
    i0, i1, w0, w1 = linear_source_index(2, 3, None, True, np.float64)
    np.testing.assert_array_equal(i0, [0, 0, 1])
    np.testing.assert_array_equal(i1, [1, 1, 1])
    np.testing.assert_allclose(w1, [0, 0.5, 0])
    np.testing.assert_allclose(w0 + w1, 1)


def test_output_size_is_the_floor_of_input_times_scale():
    x = tg.tensor(np.zeros((2, 3, 5, 4)))
    assert F.interpolate(x, scale_factor=1.5).shape == (2, 3, 7, 6)
    assert F.interpolate(x, scale_factor=(0.5, 2.5), mode="bilinear").shape == (2, 3, 2, 10)
    assert F.interpolate(x, size=(3, 7), mode="bilinear", align_corners=True).shape == (2, 3, 3, 7)


# ---------------------------------------------------------------------- bad input
image = np.zeros((1, 1, 4, 4))
bad_calls = [
    (np.zeros((1, 4, 4)), dict(scale_factor=2), ValueError,
     r"input must be 4-D \(N, C, H, W\), got shape \(1, 4, 4\)"),
    (image.astype(np.int32), dict(scale_factor=2), TypeError, "input must be a floating-point tensor, got dtype int32"),
    (image, dict(scale_factor=2, mode="bicubic"), ValueError,
     r"mode must be one of \('nearest', 'bilinear'\), got 'bicubic'"),
    (image, dict(), ValueError, "exactly one of size and scale_factor must be given, got neither"),
    (image, dict(size=8, scale_factor=2), ValueError, "exactly one of size and scale_factor must be given, got both"),
    (image, dict(scale_factor=2, align_corners=False), ValueError,
     "align_corners can only be set with mode='bilinear', got align_corners=False with mode='nearest'"),
    (image, dict(scale_factor=2, mode="bilinear", align_corners="yes"), TypeError,
     "align_corners must be True, False or None"),
    (image, dict(size=0), ValueError, "size must be positive, got 0"),
    (image, dict(size=(4, -1), mode="bilinear"), ValueError, r"size must be positive, got \(4, -1\)"),
    (image, dict(size=(2, 2, 2)), TypeError, "size must be an int or a pair of ints"),
    (image, dict(size=2.5), TypeError, "size must be an int or a pair of ints"),
    (image, dict(scale_factor=0), ValueError, "scale_factor must be positive and finite, got 0"),
    (image, dict(scale_factor=(2, -1.5)), ValueError, "scale_factor must be positive and finite"),
    (image, dict(scale_factor=float("nan")), ValueError, "scale_factor must be positive and finite, got nan"),
    (image, dict(scale_factor="2"), TypeError, "scale_factor must be a number or a pair of numbers"),
    (image, dict(scale_factor=0.2, mode="bilinear"), ValueError,
     r"scale_factor=0.2 turns input size \(4, 4\) into \(0, 0\); every output side must be at least 1"),
    (np.zeros((1, 1, 0, 4)), dict(size=3), ValueError, r"input must have a non-empty \(H, W\)"),
]


@pytest.mark.parametrize("array,kwargs,error,message", bad_calls, ids=[m for *_, m in bad_calls])
def test_bad_input_is_rejected_at_the_boundary(array, kwargs, error, message):
    with pytest.raises(error, match=f"interpolate: {message}"):
        F.interpolate(tg.tensor(array), **kwargs)


# ---------------------------------------------------------------------- against torch (skipped without torch)
def torch_functional():
    return pytest.importorskip("torch").nn.functional


@given(config=interpolate_configs(), seed=seeds())
def test_interpolate_matches_torch(config, seed):
    shape, kwargs = split(config)
    compare_with_torch(lambda t: F.interpolate(t, **kwargs), lambda t: torch_functional().interpolate(t, **kwargs),
                       [random_array(shape, seed)])


@given(config=interpolate_configs(), seed=seeds())
def test_float32_matches_torch(config, seed):
    shape, kwargs = split(config)
    compare_with_torch(lambda t: F.interpolate(t, **kwargs), lambda t: torch_functional().interpolate(t, **kwargs),
                       [random_array(shape, seed, dtype=np.float32)], rtol=1e-5, atol=1e-6)


def torch_sources(in_size, mode, **kwargs):
    """Where torch's interpolate reads along one axis, seen by resampling the row 0, 1, ..., in-1."""
    torch = pytest.importorskip("torch")
    row = torch.arange(in_size, dtype=torch.float64).reshape(1, 1, 1, in_size)
    return torch.nn.functional.interpolate(row, mode=mode, **kwargs)[0, 0, 0].numpy()


def test_nearest_indices_match_torch_for_every_small_size():
    # Float32 rounding decides some floors (e.g. 6 -> 74 pixels): the rule must be torch's to the bit.
    for in_size in range(1, 31):
        for out_size in range(1, 81):
            np.testing.assert_array_equal(nearest_source_index(in_size, out_size),
                                          torch_sources(in_size, "nearest", size=(1, out_size)),
                                          err_msg=f"{in_size} -> {out_size}")
        for scale in (0.3, 0.5, 2 / 3, 0.7, 1.1, 1.2, 1.5, 2.4, 2.5, 3.3):
            out_size = int(in_size * scale)
            if out_size >= 1:
                np.testing.assert_array_equal(nearest_source_index(in_size, out_size, scale),
                                              torch_sources(in_size, "nearest", scale_factor=(1, scale)),
                                              err_msg=f"{in_size} x {scale}")


@pytest.mark.parametrize("align_corners", [False, True])
def test_bilinear_sources_match_torch_for_every_small_size(align_corners):
    for in_size in range(1, 13):
        for out_size in range(1, 26):
            i0, i1, w0, w1 = linear_source_index(in_size, out_size, None, align_corners, np.float64)
            np.testing.assert_allclose(w0 * i0 + w1 * i1,
                                       torch_sources(in_size, "bilinear", size=(1, out_size),
                                                     align_corners=align_corners),
                                       rtol=1e-12, atol=1e-12, err_msg=f"{in_size} -> {out_size}")
