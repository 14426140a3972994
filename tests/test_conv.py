"""conv2d and conv_transpose2d: gradients, the adjoint identity, the definitions written as loops,
the article's worked examples, bad input."""
import numpy as np
import pytest
from hypothesis import example, given

import tinygan as tg
import tinygan.functional as F
from tinygan.testing import conv2d_configs, conv_transpose2d_configs, seeds
from helpers import random_array


def leaf(shape, seed):
    return tg.tensor(random_array(shape, seed), requires_grad=True)


# One window covering the whole image: both ops take their fully connected path.
WHOLE_WINDOW_CONV = dict(input_shape=(3, 2, 4, 3), weight_shape=(1, 2, 4, 3), stride=(1, 2), padding=(0, 0),
                         dilation=(1, 1))
WHOLE_WINDOW_TRANSPOSED = dict(input_shape=(3, 4, 1, 1), weight_shape=(4, 2, 3, 2), stride=(2, 1), padding=(0, 0),
                               output_padding=(0, 0), dilation=(1, 1))


@given(config=conv2d_configs(), seed=seeds())
@example(config=WHOLE_WINDOW_CONV, seed=0)
def test_conv2d_gradcheck(config, seed):
    x, w, b = leaf(config["input_shape"], seed), leaf(config["weight_shape"], seed + 1), leaf(config["weight_shape"][:1], seed + 2)
    options = {k: config[k] for k in ("stride", "padding", "dilation")}
    assert tg.gradcheck(lambda *t: F.conv2d(*t, **options), [x, w, b])


@given(config=conv_transpose2d_configs(), seed=seeds())
@example(config=WHOLE_WINDOW_TRANSPOSED, seed=0)
def test_conv_transpose2d_gradcheck(config, seed):
    x, w, b = leaf(config["input_shape"], seed), leaf(config["weight_shape"], seed + 1), leaf(config["weight_shape"][1:2], seed + 2)
    options = {k: config[k] for k in ("stride", "padding", "output_padding", "dilation")}
    assert tg.gradcheck(lambda *t: F.conv_transpose2d(*t, **options), [x, w, b])


@given(config=conv2d_configs(max_size=8), seed=seeds())
@example(config=dict(input_shape=(1, 2, 7, 8), weight_shape=(3, 2, 3, 2), stride=(4, 2), padding=(1, 0), dilation=(1, 2)),
         seed=0)
def test_conv_transpose_is_the_adjoint_of_conv(config, seed):
    """<conv2d(x, w), y> = <x, conv_transpose2d(y, w)> with the same stride, padding and dilation."""
    x = random_array(config["input_shape"], seed)
    w = random_array(config["weight_shape"], seed + 1)
    options = {k: config[k] for k in ("stride", "padding", "dilation")}
    y_shape = F.conv2d(tg.tensor(x), tg.tensor(w), **options).shape
    y = random_array(y_shape, seed + 2)
    # conv_transpose2d(y) would come out smaller than x when conv2d dropped rows that no
    # window reached; output_padding adds them back (it must stay below stride or dilation).
    extra = tuple(x.shape[2 + a] - ((y_shape[2 + a] - 1) * config["stride"][a] - 2 * config["padding"][a]
                                    + config["dilation"][a] * (w.shape[2 + a] - 1) + 1) for a in (0, 1))
    if any(e >= max(s, d) for e, s, d in zip(extra, config["stride"], config["dilation"])):
        return  # not expressible with output_padding; the property is about the expressible ones
    left = np.sum(F.conv2d(tg.tensor(x), tg.tensor(w), **options).data * y)
    back = F.conv_transpose2d(tg.tensor(y), tg.tensor(w), output_padding=extra, **options).data
    assert back.shape == x.shape
    np.testing.assert_allclose(left, np.sum(x * back), rtol=1e-10, atol=1e-10)


@given(config=conv2d_configs(), seed=seeds())
def test_conv2d_float32_close_to_float64(config, seed):
    x, w = random_array(config["input_shape"], seed), random_array(config["weight_shape"], seed + 1)
    options = {k: config[k] for k in ("stride", "padding", "dilation")}
    high = F.conv2d(tg.tensor(x), tg.tensor(w), **options).data
    low = F.conv2d(tg.tensor(x.astype(np.float32)), tg.tensor(w.astype(np.float32)), **options)
    assert low.dtype == np.float32
    np.testing.assert_allclose(low.data, high, rtol=1e-4, atol=1e-4)


@given(config=conv_transpose2d_configs(), seed=seeds())
def test_conv_transpose2d_float32_close_to_float64(config, seed):
    x, w = random_array(config["input_shape"], seed), random_array(config["weight_shape"], seed + 1)
    options = {k: config[k] for k in ("stride", "padding", "output_padding", "dilation")}
    high = F.conv_transpose2d(tg.tensor(x), tg.tensor(w), **options).data
    low = F.conv_transpose2d(tg.tensor(x.astype(np.float32)), tg.tensor(w.astype(np.float32)), **options)
    assert low.dtype == np.float32
    np.testing.assert_allclose(low.data, high, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------- the definitions, as plain loops
def conv2d_by_definition(x, w, b, stride, padding, dilation):
    """y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x[n, c, i sh + p dh - ph, j sw + q dw - pw]."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    kh, kw = w.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h = (padded.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (padded.shape[3] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], w.shape[0], out_h, out_w)) + b[None, :, None, None]
    for i in range(out_h):
        for j in range(out_w):
            for p in range(kh):
                for q in range(kw):
                    y[:, :, i, j] += padded[:, :, i * sh + p * dh, j * sw + q * dw] @ w[:, :, p, q].T
    return y


def conv_transpose2d_by_definition(x, w, b, stride, padding, output_padding, dilation):
    """Each input pixel x[n, c, a, e] paints w[c, o, :, :] (dilated) onto the output at (a sh - ph, e sw - pw)."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    kh, kw = w.shape[2:]
    height, width = x.shape[2:]
    full = np.zeros((x.shape[0], w.shape[1], (height - 1) * sh + dh * (kh - 1) + 1 + oph,
                     (width - 1) * sw + dw * (kw - 1) + 1 + opw))
    for a in range(height):
        for e in range(width):
            for p in range(kh):
                for q in range(kw):
                    full[:, :, a * sh + p * dh, e * sw + q * dw] += x[:, :, a, e] @ w[:, :, p, q]
    # Padding crops the painted canvas (output_padding only ever adds rows at the bottom/right).
    return full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw] + b[None, :, None, None]


@given(config=conv2d_configs(), seed=seeds())
def test_conv2d_equals_its_definition(config, seed):
    x, w = random_array(config["input_shape"], seed), random_array(config["weight_shape"], seed + 1)
    b = random_array(config["weight_shape"][:1], seed + 2)
    options = {k: config[k] for k in ("stride", "padding", "dilation")}
    np.testing.assert_allclose(F.conv2d(tg.tensor(x), tg.tensor(w), tg.tensor(b), **options).data,
                               conv2d_by_definition(x, w, b, **options), rtol=1e-10, atol=1e-10)


@given(config=conv_transpose2d_configs(), seed=seeds())
def test_conv_transpose2d_equals_its_definition(config, seed):
    x, w = random_array(config["input_shape"], seed), random_array(config["weight_shape"], seed + 1)
    b = random_array(config["weight_shape"][1:2], seed + 2)
    options = {k: config[k] for k in ("stride", "padding", "output_padding", "dilation")}
    np.testing.assert_allclose(F.conv_transpose2d(tg.tensor(x), tg.tensor(w), tg.tensor(b), **options).data,
                               conv_transpose2d_by_definition(x, w, b, **options), rtol=1e-10, atol=1e-10)


def test_dilated_and_output_padded_by_hand():
    # A 2x2 filter of ones with dilation 2 reads x[i, j] + x[i, j+2] + x[i+2, j] + x[i+2, j+2];
    # on x[r, c] = 5 r + c that is 4 x[i, j] + 2 + 10 + 12.
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    out = F.conv2d(tg.tensor(x), tg.tensor(np.ones((1, 1, 2, 2))), dilation=2).data[0, 0]
    np.testing.assert_array_equal(out, 4 * x[0, 0, :3, :3] + 24)
    # Transposed, one pixel paints the dilated filter: taps two apart, zeros between them.
    w = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    np.testing.assert_array_equal(F.conv_transpose2d(tg.tensor(np.ones((1, 1, 1, 1))), tg.tensor(w),
                                                     dilation=2).data[0, 0], [[1, 0, 2], [0, 0, 0], [3, 0, 4]])
    # output_padding adds a row and a column at the bottom/right that no input pixel paints.
    np.testing.assert_array_equal(F.conv_transpose2d(tg.tensor(np.full((1, 1, 1, 1), 7.0)), tg.tensor(w[:, :, :1, :1]),
                                                     stride=2, output_padding=1).data[0, 0], [[7, 0], [0, 0]])


# ---------------------------------------------------------------------- the article's worked examples
# A 5x5 image, bright (10) in its three left columns and dark (0) in the two right ones,
# and the 3x3 vertical-edge filter with columns 1, 0, -1.
IMAGE = np.array([[10, 10, 10, 0, 0]] * 5, dtype=np.float64)[None, None]
EDGE_FILTER = np.array([[1, 0, -1]] * 3, dtype=np.float64)[None, None]


def test_vertical_edge_stride_1():
    # Each window sums, over 3 rows, (left column - right column): 10-10=0, 10-0=10, 10-0=10.
    out = F.conv2d(tg.tensor(IMAGE), tg.tensor(EDGE_FILTER)).data[0, 0]
    np.testing.assert_array_equal(out, [[0, 30, 30]] * 3)


def test_vertical_edge_stride_2():
    out = F.conv2d(tg.tensor(IMAGE), tg.tensor(EDGE_FILTER), stride=2).data[0, 0]
    np.testing.assert_array_equal(out, [[0, 30]] * 2)


def test_vertical_edge_unequal_stride_2_right_4_down():
    out = F.conv2d(tg.tensor(IMAGE), tg.tensor(EDGE_FILTER), stride=(4, 2)).data[0, 0]
    np.testing.assert_array_equal(out, [[0, 30]])  # rows 0 only (row 4 has no full window)


def test_vertical_edge_padding_1():
    # With a frame of zeros the output keeps the 5x5 size.  Column by column, the window
    # centred on column c computes x[c-1] - x[c+1]: 0-10, 10-10, 10-0, 10-0, 0-0;
    # the top and bottom rows see only 2 image rows, the others 3.
    out = F.conv2d(tg.tensor(IMAGE), tg.tensor(EDGE_FILTER), padding=1).data[0, 0]
    edge_row, inner_row = [-20, 0, 20, 20, 0], [-30, 0, 30, 30, 0]
    np.testing.assert_array_equal(out, [edge_row, inner_row, inner_row, inner_row, edge_row])


def test_visit_counts_are_the_gradient_of_a_sum():
    # d(sum of outputs)/d(pixel) with an all-ones filter counts the windows that visit it.
    x = tg.tensor(np.zeros((1, 1, 3, 3)), requires_grad=True)
    F.conv2d(x, tg.tensor(np.ones((1, 1, 2, 2)))).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


def test_transposed_2x2_to_3x3_overlaps():
    # Stride 1, 2x2 filter of ones on a 2x2 input of ones: the centre output pixel is
    # painted by all four input pixels, each corner by one.
    ones = F.conv_transpose2d(tg.tensor(np.ones((1, 1, 2, 2))), tg.tensor(np.ones((1, 1, 2, 2)))).data[0, 0]
    np.testing.assert_array_equal(ones, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    # With distinct values every output is a sum of products x[a, b] * w[i - a, j - b]:
    x = np.array([[1.0, 2.0], [3.0, 4.0]])[None, None]
    w = np.array([[1.0, 10.0], [100.0, 1000.0]])[None, None]
    out = F.conv_transpose2d(tg.tensor(x), tg.tensor(w)).data[0, 0]
    np.testing.assert_array_equal(out, [[1, 12, 20], [103, 1234, 2040], [300, 3400, 4000]])


# ---------------------------------------------------------------------- bad input
def _conv(x_shape=(1, 2, 5, 5), w_shape=(3, 2, 3, 3), **options):
    return F.conv2d(tg.zeros(*x_shape), tg.zeros(*w_shape), **options)


@pytest.mark.parametrize("call,error,message", [
    (lambda: _conv(x_shape=(1, 3, 5, 5)), ValueError, r"conv2d: input has 3 channels but the weight"),
    (lambda: _conv(x_shape=(2, 5, 5)), ValueError, r"conv2d: input must be 4-D \(N, C, H, W\), got shape \(2, 5, 5\)"),
    (lambda: _conv(w_shape=(3, 2, 7, 7)), ValueError, r"conv2d: the kernel \(7, 7\) .* larger than the padded input \(5, 5\)"),
    (lambda: _conv(stride=0), ValueError, r"conv2d: stride must be positive, got 0"),
    (lambda: _conv(stride=(1, -2)), ValueError, r"conv2d: stride must be positive"),
    (lambda: _conv(padding=-1), ValueError, r"conv2d: padding must be >= 0, got -1"),
    (lambda: _conv(padding=1.5), TypeError, r"conv2d: padding must be an int or a pair"),
    (lambda: _conv(groups=2), NotImplementedError, r"groups=2"),
    (lambda: F.conv2d(tg.zeros(1, 2, 5, 5), tg.zeros(3, 2, 3, 3), tg.zeros(2)), ValueError, r"bias must have shape \(3,\)"),
    (lambda: F.conv2d(tg.tensor(np.zeros((1, 2, 5, 5), dtype=int)), tg.zeros(3, 2, 3, 3)), TypeError, r"floating-point"),
    (lambda: F.conv_transpose2d(tg.zeros(1, 2, 3, 3), tg.zeros(2, 1, 3, 3), stride=2, output_padding=2),
     ValueError, r"output_padding must be smaller than either stride or dilation"),
    (lambda: F.conv_transpose2d(tg.zeros(1, 3, 3, 3), tg.zeros(2, 1, 3, 3)), ValueError, r"input has 3 channels"),
    (lambda: F.conv_transpose2d(tg.zeros(1, 2, 1, 1), tg.zeros(2, 1, 1, 1), padding=1), ValueError, r"output size"),
])
def test_bad_input_is_reported(call, error, message):
    with pytest.raises(error, match=message):
        call()
