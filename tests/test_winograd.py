"""The Winograd path of the stride-2 4x4 convolutions (kernels/winograd.py).

Four kinds of truth: exact fractions for the transform matrices, the NumPy references for
the Numba kernels, inner products for the adjoint pairs, and torch for the ops (forward
and every gradient, in float64 and float32).
"""
import contextlib
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import tinygan as tg
import tinygan.functional as F
from tinygan.kernels import layout, winograd
from helpers import compare_with_torch, random_array


@pytest.mark.parametrize("points, outputs, taps", [(winograd.POINTS, 4, 2), ((0, 1, -1), 2, 3), ((0, 1, -1, 2, -2), 4, 3)])
def test_toom_cook_filters_exactly(points, outputs, taps):
    """y = AT [(G g) * (BT d)] is the correlation y_i = sum_k g_k d_(i+k), in exact fractions
    (F(2, 3) and F(4, 3) too: the derivation is general, not fitted to one case)."""
    at, g_matrix, bt = winograd.toom_cook(points, outputs, taps)
    rng = np.random.default_rng(0)
    for _ in range(5):
        g = [Fraction(int(v), 7) for v in rng.integers(-20, 20, taps)]
        d = [Fraction(int(v), 3) for v in rng.integers(-20, 20, outputs + taps - 1)]
        gg = [sum(row[k] * g[k] for k in range(taps)) for row in g_matrix]
        dd = [sum(row[k] * d[k] for k in range(len(d))) for row in bt]
        y = [sum(at[i][k] * gg[k] * dd[k] for k in range(len(gg))) for i in range(outputs)]
        assert y == [sum(g[k] * d[i + k] for k in range(taps)) for i in range(outputs)]


def test_toom_cook_names_a_wrong_number_of_points():
    with pytest.raises(ValueError, match=r"F\(4, 2\) needs 4 finite points, got 3"):
        winograd.toom_cook((0, 1, -1), 4, 2)


shapes = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(2, 17), st.integers(2, 17), st.integers(1, 5))
dtypes = st.sampled_from([np.float32, np.float64])


def _arranged(x, memory_order):
    out = layout.empty(x.shape, x.dtype, memory_order)
    out[...] = x
    return out


@given(shape=shapes, dtype=dtypes, seed=st.integers(0, 2 ** 16))
@example(shape=(64, 3, 14, 14, 5), dtype=np.float32, seed=0)  # the DCGAN's geometry, a whole batch
@example(shape=(2, 2, 2, 2, 1), dtype=np.float64, seed=0)  # one output pixel: one tile, mostly padding
def test_kernels_equal_their_references(shape, dtype, seed):
    n, c, h, w, o = shape
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    x = random_array((n, c, h, w), seed, dtype=dtype)
    tiles = winograd.image_tiles(x)
    np.testing.assert_allclose(tiles, winograd.reference_image_tiles(x), **tol)
    for memory_order in layout.MEMORY_AXES:  # any input order reads the same
        np.testing.assert_array_equal(winograd.image_tiles(_arranged(x, memory_order)), tiles)
    back = winograd.image_from_tiles(tiles, x.shape)
    assert back.transpose(layout.MEMORY_AXES[layout.BATCH_LAST]).flags.c_contiguous  # handed on batch-last
    np.testing.assert_allclose(back, winograd.reference_image_from_tiles(tiles, x.shape), **tol)

    out_shape = (n, o, h // 2, w // 2)
    m = random_array((25, o, tiles.shape[2]), seed + 1, dtype=dtype)
    y = winograd.output_from_tiles(m, out_shape)
    assert y.transpose(layout.MEMORY_AXES[layout.BATCH_LAST]).flags.c_contiguous
    np.testing.assert_allclose(y, winograd.reference_output_from_tiles(m, out_shape), **tol)
    grad = random_array(out_shape, seed + 2, dtype=dtype)
    for memory_order in layout.MEMORY_AXES:
        np.testing.assert_allclose(winograd.output_tiles(_arranged(grad, memory_order)),
                                   winograd.reference_output_tiles(grad), **tol)

    weight = random_array((o, c, 4, 4), seed + 3, dtype=dtype)
    filters = winograd.filter_tiles(weight)
    np.testing.assert_allclose(filters, winograd.reference_filter_tiles(weight), **tol)
    np.testing.assert_allclose(winograd.filter_from_tiles(filters, weight.shape),
                               winograd.reference_filter_from_tiles(filters, weight.shape), **tol)


@given(shape=shapes, seed=st.integers(0, 2 ** 16))
def test_each_transform_and_its_transpose_are_adjoint(shape, seed):
    """<T(a), b> = <a, T^T(b)> for the three pairs, in float64: the backward is the forward's transpose."""
    n, c, h, w, o = shape
    x = random_array((n, c, h, w), seed)
    v = random_array(winograd.image_tiles(x).shape, seed + 1)
    assert np.isclose(np.vdot(winograd.image_tiles(x), v), np.vdot(x, winograd.image_from_tiles(v, x.shape)))
    out_shape = (n, o, h // 2, w // 2)
    m = random_array((25, o, v.shape[2]), seed + 2)
    grad = random_array(out_shape, seed + 3)
    assert np.isclose(np.vdot(winograd.output_from_tiles(m, out_shape), grad), np.vdot(m, winograd.output_tiles(grad)))
    weight = random_array((o, c, 4, 4), seed + 4)
    u = random_array((25, o, 4 * c), seed + 5)
    assert np.isclose(np.vdot(winograd.filter_tiles(weight), u), np.vdot(weight, winograd.filter_from_tiles(u, weight.shape)))


# ---------------------------------------------------------------------- the ops, against torch
op_shapes = st.tuples(st.integers(1, 3), st.integers(16, 20), st.integers(2, 11), st.integers(2, 11), st.integers(16, 20))


@contextlib.contextmanager
def counting_winograd_layers(min_columns=1):
    """The weights the ops hand to the Winograd path while inside: it must really be taken (or
    not).  The tests' small batches are below the path's speed threshold (MIN_COLUMNS), which
    says when the path pays, not what it computes: lowered here unless asked otherwise."""
    calls = []
    original = winograd.filter_tiles

    def counting(weight):
        calls.append(weight.shape)
        return original(weight)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(winograd, "filter_tiles", counting)
        patch.setattr(winograd, "MIN_COLUMNS", min_columns)
        yield calls


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
@given(shape=op_shapes, seed=st.integers(0, 2 ** 16), bias=st.booleans())
@example(shape=(2, 16, 14, 14, 16), seed=0, bias=False)  # D's sizes (for conv_transpose2d: G's, doubled)
def test_ops_match_torch_in_float64(op, shape, seed, bias):
    torch = pytest.importorskip("torch")
    n, c, h, w, o = shape
    weight_shape = (o, c, 4, 4) if op == "conv2d" else (c, o, 4, 4)  # torch's layouts
    arrays = [random_array((n, c, h, w), seed), random_array(weight_shape, seed + 1)]
    arrays += [random_array((o,), seed + 2)] if bias else []
    with counting_winograd_layers() as calls:
        compare_with_torch(lambda *t: getattr(F, op)(*t, stride=2, padding=1),
                           lambda *t: getattr(torch.nn.functional, op)(*t, stride=2, padding=1), arrays,
                           rtol=1e-9, atol=1e-10)
    assert calls == [weight_shape]


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_dcgan_layers_in_float32_stay_close_to_torch(op):
    """The DCGAN's own sizes in float32: the transforms' rounding, against torch's
    (relative to the largest value; the same bound as tests/test_torch_dcgan.py's)."""
    torch = pytest.importorskip("torch")
    if op == "conv2d":
        x, weight = random_array((64, 64, 14, 14), 0, np.float32), random_array((128, 64, 4, 4), 1, np.float32) / 16
    else:
        x, weight = random_array((64, 256, 7, 7), 0, np.float32), random_array((256, 128, 4, 4), 1, np.float32) / 16
    ours = [tg.tensor(a, requires_grad=True) for a in (x, weight)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, weight)]
    with counting_winograd_layers(min_columns=winograd.MIN_COLUMNS) as calls:  # batch 64: taken as it is
        out = getattr(F, op)(*ours, stride=2, padding=1)
    assert len(calls) == 1
    expected = getattr(torch.nn.functional, op)(*theirs, stride=2, padding=1)
    upstream = random_array(out.shape, 2, np.float32)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for mine, reference in [(out.data, expected), (ours[0].grad, theirs[0].grad), (ours[1].grad, theirs[1].grad)]:
        reference = reference.detach().numpy()
        assert np.abs(mine - reference).max() <= 2e-5 * np.abs(reference).max()


def test_the_ops_stay_adjoint_on_the_winograd_path():
    """<conv2d(x), y> = <x, conv_transpose2d(y)> with the same weight (docs/DESIGN's pitfall), both on this path."""
    x, weight, y = random_array((2, 16, 10, 6), 0), random_array((20, 16, 4, 4), 1), random_array((2, 20, 5, 3), 2)
    with counting_winograd_layers() as calls:
        forward = F.conv2d(tg.tensor(x), tg.tensor(weight), stride=2, padding=1).data
        backward = F.conv_transpose2d(tg.tensor(y), tg.tensor(weight), stride=2, padding=1).data
    assert len(calls) == 2
    assert np.isclose(np.vdot(forward, y), np.vdot(x, backward))


@pytest.mark.parametrize("op", ["conv2d", "conv_transpose2d"])
def test_a_small_batch_keeps_im2col(op):
    """MIN_COLUMNS tile columns or more take the path: 14x14 images (2x2 tiles) from 32 images on."""
    weight = tg.tensor(random_array((16, 16, 4, 4), 1, np.float32))
    size = 14 if op == "conv2d" else 7
    for batch, taken in ((31, False), (32, True)):
        x = tg.tensor(random_array((batch, 16, size, size), 0, np.float32))
        with counting_winograd_layers(min_columns=winograd.MIN_COLUMNS) as calls:
            getattr(F, op)(x, weight, stride=2, padding=1)
        assert bool(calls) == taken, batch


@pytest.mark.parametrize("options, channels", [
    (dict(stride=2, padding=1), (3, 16)),  # too few channels: im2col
    (dict(stride=2, padding=1, dilation=2), (16, 16)),
    (dict(stride=1, padding=1), (16, 16)),
    (dict(stride=2, padding=2), (16, 16)),
    (dict(stride=2, padding=1, groups=2), (16, 16)),
])
def test_other_geometries_keep_im2col(options, channels):
    c, o = channels
    groups = options.get("groups", 1)
    x = tg.tensor(random_array((2, c, 12, 12), 0))
    with counting_winograd_layers() as calls:
        F.conv2d(x, tg.tensor(random_array((o, c // groups, 4, 4), 1)), **options)
    assert calls == []


def test_output_padding_keeps_im2col():
    with counting_winograd_layers() as calls:
        F.conv_transpose2d(tg.tensor(random_array((2, 16, 5, 5), 0)), tg.tensor(random_array((16, 16, 4, 4), 1)),
                           stride=2, padding=1, output_padding=1)
    assert calls == []


def test_a_nan_reaches_exactly_the_tiles_that_read_it():
    """Winograd mixes a tile's inputs, so a NaN reaches every output of the tiles that read
    it (direct convolution: only the windows holding it), and must go no further.  Tile
    (ti, tj) reads image rows 8 ti - 1 ... 8 ti + 8 (the padding as zeros, not as an edge
    pixel times 0, which is NaN).  Every pixel of a 12x10 image in turn, forward and the
    input gradient."""
    weight = tg.tensor(random_array((4, 4, 4, 4), 1))
    height, width = 12, 10

    def read_by_tile(size):  # [i, t]: does tile t read image row (or column) i?
        return np.abs(np.arange(size)[:, None] - (8 * np.arange(winograd.tiles(size))[None, :] + 3.5)) <= 4.5

    def tile_of(size):  # [o, t]: is output o in tile t?
        return np.arange(size // 2)[:, None] // 4 == np.arange(winograd.tiles(size))[None, :]

    for y in range(height):
        for x in range(width):
            image = random_array((1, 4, height, width), 0)
            image[0, 1, y, x] = np.nan
            tiles_hit = np.outer(read_by_tile(height)[y], read_by_tile(width)[x])
            with counting_winograd_layers() as calls:
                out = F.conv2d(tg.tensor(image), weight, stride=2, padding=1).data
                # the transposed convolution reads the same tiles backwards: NaN tiles in, their pixels out
                back = F.conv_transpose2d(tg.tensor(out), weight, stride=2, padding=1).data
            assert calls
            expected_out = tile_of(height) @ tiles_hit @ tile_of(width).T > 0
            assert np.array_equal(np.isnan(out[0]).any(axis=0), expected_out), (y, x)
            expected_back = read_by_tile(height) @ tiles_hit @ read_by_tile(width).T > 0
            assert np.array_equal(np.isnan(back[0]).any(axis=0), expected_back), (y, x)
