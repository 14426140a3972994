"""conv2d and conv_transpose2d: gradients, the adjoint identity, the definitions written as loops, groups,
padding='same', the article's worked examples, bad input."""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import tinygan as tg
import tinygan.functional as F
from tinygan.testing import conv2d_configs, conv_options, conv_transpose2d_configs, seeds
from helpers import random_array


def leaf(shape, seed):
    return tg.tensor(random_array(shape, seed), requires_grad=True)


# One window covering the whole image: im2col and col2im are views, the product that of a linear layer.
WHOLE_WINDOW_CONV = dict(input_shape=(3, 2, 4, 3), weight_shape=(1, 2, 4, 3), stride=(1, 2), padding=(0, 0),
                         dilation=(1, 1))
WHOLE_WINDOW_TRANSPOSED = dict(input_shape=(3, 4, 1, 1), weight_shape=(4, 2, 3, 2), stride=(2, 1), padding=(0, 0),
                               output_padding=(0, 0), dilation=(1, 1))
# The same paths with groups: 2 groups of (2 in -> 3 out), and depthwise (one channel per group).
WHOLE_WINDOW_CONV_GROUPED = dict(input_shape=(2, 4, 3, 2), weight_shape=(6, 2, 3, 2), stride=(1, 1), padding=(0, 0),
                                 dilation=(1, 1), groups=2)
WHOLE_WINDOW_TRANSPOSED_DEPTHWISE = dict(input_shape=(2, 3, 1, 1), weight_shape=(3, 1, 2, 3), stride=(1, 1),
                                         padding=(0, 0), output_padding=(0, 0), dilation=(1, 1), groups=3)
# groups > 1 with padding='same', an even kernel and dilation: torch's asymmetric padding
# (one more zero at the bottom/right) on both axes, with a different total per axis.
GROUPED_SAME_EVEN_DILATED = dict(input_shape=(2, 4, 5, 4), weight_shape=(6, 2, 2, 4), stride=(1, 1),
                                 padding="same", dilation=(2, 1), groups=2)
DEPTHWISE_STRIDED = dict(input_shape=(2, 3, 6, 5), weight_shape=(6, 1, 3, 2), stride=(2, 1), padding=(1, 0),
                         dilation=(1, 2), groups=3)
GROUPED_TRANSPOSED = dict(input_shape=(2, 4, 3, 2), weight_shape=(4, 3, 3, 2), stride=(2, 3), padding=(1, 0),
                          output_padding=(1, 2), dilation=(1, 1), groups=2)


def out_channels(config):
    """The output channels of a drawn configuration (the bias length)."""
    if "output_padding" in config:  # transposed: weight (in, out/groups, kh, kw)
        return config["weight_shape"][1] * config.get("groups", 1)
    return config["weight_shape"][0]


@given(config=conv2d_configs(), seed=seeds())
@example(config=WHOLE_WINDOW_CONV, seed=0)
@example(config=WHOLE_WINDOW_CONV_GROUPED, seed=0)
@example(config=GROUPED_SAME_EVEN_DILATED, seed=0)
@example(config=DEPTHWISE_STRIDED, seed=0)
def test_conv2d_gradcheck(config, seed):
    x, w, b = (leaf(config["input_shape"], seed), leaf(config["weight_shape"], seed + 1),
               leaf((out_channels(config),), seed + 2))
    options = conv_options(config)
    assert tg.gradcheck(lambda *t: F.conv2d(*t, **options), [x, w, b])


@given(config=conv_transpose2d_configs(), seed=seeds())
@example(config=WHOLE_WINDOW_TRANSPOSED, seed=0)
@example(config=WHOLE_WINDOW_TRANSPOSED_DEPTHWISE, seed=0)
@example(config=GROUPED_TRANSPOSED, seed=0)
def test_conv_transpose2d_gradcheck(config, seed):
    x, w, b = (leaf(config["input_shape"], seed), leaf(config["weight_shape"], seed + 1),
               leaf((out_channels(config),), seed + 2))
    options = conv_options(config)
    assert tg.gradcheck(lambda *t: F.conv_transpose2d(*t, **options), [x, w, b])


@given(config=conv2d_configs(max_size=8, padding_strings=False), seed=seeds())
@example(config=dict(input_shape=(1, 2, 7, 8), weight_shape=(3, 2, 3, 2), stride=(4, 2), padding=(1, 0), dilation=(1, 2)),
         seed=0)
@example(config=dict(DEPTHWISE_STRIDED, input_shape=(2, 3, 7, 5)), seed=0)
@example(config=dict(input_shape=(1, 4, 6, 6), weight_shape=(2, 2, 3, 3), stride=(2, 2), padding=(1, 1),
                     dilation=(1, 1), groups=2), seed=0)
def test_conv_transpose_is_the_adjoint_of_conv(config, seed):
    """<conv2d(x, w, groups=g), y> = <x, conv_transpose2d(y, w, groups=g)> with the same stride, padding,
    dilation and groups: conv2d's weight (O, C/g, kh, kw), read as a transposed weight, maps O channels back to C."""
    x = random_array(config["input_shape"], seed)
    w = random_array(config["weight_shape"], seed + 1)
    options = conv_options(config)
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
    options = conv_options(config)
    high = F.conv2d(tg.tensor(x), tg.tensor(w), **options).data
    low = F.conv2d(tg.tensor(x.astype(np.float32)), tg.tensor(w.astype(np.float32)), **options)
    assert low.dtype == np.float32
    np.testing.assert_allclose(low.data, high, rtol=1e-4, atol=1e-4)


@given(config=conv_transpose2d_configs(), seed=seeds())
def test_conv_transpose2d_float32_close_to_float64(config, seed):
    x, w = random_array(config["input_shape"], seed), random_array(config["weight_shape"], seed + 1)
    options = conv_options(config)
    high = F.conv_transpose2d(tg.tensor(x), tg.tensor(w), **options).data
    low = F.conv_transpose2d(tg.tensor(x.astype(np.float32)), tg.tensor(w.astype(np.float32)), **options)
    assert low.dtype == np.float32
    np.testing.assert_allclose(low.data, high, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------- the definitions, as plain loops
def padding_by_torchs_rule(padding, kernel, dilation):
    """((top, bottom), (left, right)) zeros: 'valid' none; 'same' d (k - 1) per axis, the larger half after."""
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in padding)


def conv2d_by_definition(x, w, b, stride, padding, dilation, groups=1):
    """y[n, o, i, j] = b[o] + sum_{c in o's group, p, q} w[o, c, p, q] x[n, c, i sh + p dh - top, j sw + q dw - left]."""
    (sh, sw), (dh, dw) = stride, dilation
    kh, kw = w.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0)) + padding_by_torchs_rule(padding, (kh, kw), dilation))
    out_h = (padded.shape[2] - dh * (kh - 1) - 1) // sh + 1
    out_w = (padded.shape[3] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], w.shape[0], out_h, out_w)) + b[None, :, None, None]
    per_out, per_in = w.shape[0] // groups, x.shape[1] // groups  # output o reads input group o // per_out
    for o in range(w.shape[0]):
        inputs = padded[:, (o // per_out) * per_in:(o // per_out + 1) * per_in]
        for i in range(out_h):
            for j in range(out_w):
                for p in range(kh):
                    for q in range(kw):
                        y[:, o, i, j] += inputs[:, :, i * sh + p * dh, j * sw + q * dw] @ w[o, :, p, q]
    return y


def conv_transpose2d_by_definition(x, w, b, stride, padding, output_padding, dilation, groups=1):
    """Each input pixel x[n, c, a, e] paints w[c, :, :, :] (dilated) onto its group's output channels at (a sh - ph, e sw - pw)."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    kh, kw = w.shape[2:]
    height, width = x.shape[2:]
    per_in, per_out = x.shape[1] // groups, w.shape[1]
    full = np.zeros((x.shape[0], per_out * groups, (height - 1) * sh + dh * (kh - 1) + 1 + oph,
                     (width - 1) * sw + dw * (kw - 1) + 1 + opw))
    for c in range(x.shape[1]):
        outputs = slice((c // per_in) * per_out, (c // per_in + 1) * per_out)
        for a in range(height):
            for e in range(width):
                for p in range(kh):
                    for q in range(kw):
                        full[:, outputs, a * sh + p * dh, e * sw + q * dw] += x[:, c, a, e, None] * w[c, :, p, q]
    # Padding crops the painted canvas (output_padding only ever adds rows at the bottom/right).
    return full[:, :, ph:full.shape[2] - ph, pw:full.shape[3] - pw] + b[None, :, None, None]


@given(config=conv2d_configs(), seed=seeds())
@example(config=GROUPED_SAME_EVEN_DILATED, seed=0)
@example(config=DEPTHWISE_STRIDED, seed=0)
def test_conv2d_equals_its_definition(config, seed):
    x, w = random_array(config["input_shape"], seed), random_array(config["weight_shape"], seed + 1)
    b = random_array(config["weight_shape"][:1], seed + 2)
    options = conv_options(config)
    np.testing.assert_allclose(F.conv2d(tg.tensor(x), tg.tensor(w), tg.tensor(b), **options).data,
                               conv2d_by_definition(x, w, b, **options), rtol=1e-10, atol=1e-10)


@given(config=conv_transpose2d_configs(), seed=seeds())
@example(config=GROUPED_TRANSPOSED, seed=0)
def test_conv_transpose2d_equals_its_definition(config, seed):
    x, w = random_array(config["input_shape"], seed), random_array(config["weight_shape"], seed + 1)
    b = random_array((out_channels(config),), seed + 2)
    options = conv_options(config)
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


# ---------------------------------------------------------------------- groups
def split_groups(config):
    """The definition of groups, spelled out with groups=1 convolutions: slice the input
    channels and the weight into `groups` blocks, convolve each block alone, stack the outputs."""
    groups = config.get("groups", 1)
    transposed = "output_padding" in config
    options = dict(conv_options(config), groups=1)
    op = F.conv_transpose2d if transposed else F.conv2d
    x, w = random_array(config["input_shape"], 0), random_array(config["weight_shape"], 1)
    in_step = x.shape[1] // groups
    w_step = w.shape[0] // groups  # the weight's first axis is the one groups split (in or out)
    blocks = [op(tg.tensor(x[:, k * in_step:(k + 1) * in_step]), tg.tensor(w[k * w_step:(k + 1) * w_step]),
                 **options).data for k in range(groups)]
    return op(tg.tensor(x), tg.tensor(w), **conv_options(config)).data, np.concatenate(blocks, axis=1)


@given(config=st.one_of(conv2d_configs(), conv_transpose2d_configs()))
@example(config=DEPTHWISE_STRIDED)
@example(config=GROUPED_SAME_EVEN_DILATED)
@example(config=GROUPED_TRANSPOSED)
@example(config=WHOLE_WINDOW_TRANSPOSED_DEPTHWISE)
def test_grouped_convolution_is_independent_convolutions_side_by_side(config):
    grouped, stacked = split_groups(config)
    np.testing.assert_allclose(grouped, stacked, rtol=1e-12, atol=1e-12)


def test_depthwise_by_hand():
    # Three channels, groups=3: channel c is filtered by weight[c, 0] alone.  A 2x2 box filter
    # (all ones) on channel 0, the identity (1 at the top-left) on channel 1, twice the
    # identity on channel 2.
    x = np.arange(3 * 3 * 3, dtype=np.float64).reshape(1, 3, 3, 3)
    w = np.zeros((3, 1, 2, 2))
    w[0, 0] = 1
    w[1, 0, 0, 0] = 1
    w[2, 0, 0, 0] = 2
    out = F.conv2d(tg.tensor(x), tg.tensor(w), groups=3).data[0]
    np.testing.assert_array_equal(out[0], [[0 + 1 + 3 + 4, 1 + 2 + 4 + 5], [3 + 4 + 6 + 7, 4 + 5 + 7 + 8]])
    np.testing.assert_array_equal(out[1], x[0, 1, :2, :2])
    np.testing.assert_array_equal(out[2], 2 * x[0, 2, :2, :2])
    # Perturb one input channel: only its own output channel moves.
    for c in range(3):
        nudged = x.copy()
        nudged[0, c] += 1
        changed = F.conv2d(tg.tensor(nudged), tg.tensor(w), groups=3).data[0] != out
        assert [bool(changed[k].any()) for k in range(3)] == [k == c for k in range(3)]


# ---------------------------------------------------------------------- padding='same' and 'valid'
def test_same_with_an_even_kernel_by_hand():
    # A 2x2 box filter needs 1 zero per axis to keep 3x3; torch puts it after (bottom/right),
    # so out[i, j] sums x[i:i+2, j:j+2] and the last row and column see the zeros.
    x = np.array([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]])[None, None]
    out = F.conv2d(tg.tensor(x), tg.tensor(np.ones((1, 1, 2, 2))), padding="same").data[0, 0]
    np.testing.assert_array_equal(out, [[12, 16, 9], [24, 28, 15], [15, 17, 9]])


@given(config=conv2d_configs(), seed=seeds())
@example(config=GROUPED_SAME_EVEN_DILATED, seed=0)
def test_padding_strings_follow_torchs_rule(config, seed):
    """'same': the input explicitly zero-padded by d(k-1) per axis, half (rounded down) before, then no
    padding -- and the output keeps the input's size.  'valid' is padding=0."""
    if not isinstance(config["padding"], str):
        return
    x, w = random_array(config["input_shape"], seed), random_array(config["weight_shape"], seed + 1)
    options = conv_options(config)
    out = F.conv2d(tg.tensor(x), tg.tensor(w), **options).data
    if config["padding"] == "valid":
        pads = ((0, 0), (0, 0))
    else:
        totals = [d * (k - 1) for d, k in zip(config["dilation"], w.shape[2:])]
        pads = tuple((t // 2, t - t // 2) for t in totals)
        assert out.shape[2:] == x.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0)) + pads)
    np.testing.assert_allclose(out, F.conv2d(tg.tensor(padded), tg.tensor(w), **dict(options, padding=0)).data,
                               rtol=1e-12, atol=1e-12)


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
    (lambda: _conv(w_shape=(3, 1, 3, 3), groups=2), ValueError,
     r"conv2d: groups=2 must divide the weight's first axis \(out_channels\), got weight of shape \(3, 1, 3, 3\)"),
    (lambda: _conv(x_shape=(1, 4, 5, 5), w_shape=(4, 3, 3, 3), groups=2), ValueError,
     r"conv2d: input has 4 channels but the weight \(4, 3, 3, 3\) expects 6 \(its axis 1 x groups=2\)"),
    (lambda: _conv(groups=0), ValueError, r"conv2d: groups must be a positive int, got 0"),
    (lambda: _conv(groups=2.0), TypeError, r"conv2d: groups must be a positive int, got float"),
    (lambda: _conv(padding="same", stride=2), ValueError,
     r"conv2d: padding='same' is not supported for strided convolutions \(it needs stride 1\), got stride=\(2, 2\)"),
    (lambda: _conv(padding="full"), ValueError, r"conv2d: padding must be an int, a pair of ints, 'same' or 'valid', got 'full'"),
    (lambda: F.conv_transpose2d(tg.zeros(1, 3, 3, 3), tg.zeros(3, 2, 3, 3), groups=2), ValueError,
     r"conv_transpose2d: groups=2 must divide the weight's first axis \(in_channels\)"),
    (lambda: F.conv_transpose2d(tg.zeros(1, 4, 3, 3), tg.zeros(4, 2, 3, 3), tg.zeros(2), groups=2), ValueError,
     r"conv_transpose2d: bias must have shape \(4,\), got \(2,\)"),
    (lambda: F.conv_transpose2d(tg.zeros(1, 4, 3, 3), tg.zeros(4, 2, 3, 3), padding="same"), TypeError,
     r"conv_transpose2d: padding must be an int or a pair"),
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


@pytest.mark.parametrize("op, x_shape, w_shape", [
    (F.conv2d, (0, 3, 5, 5), (4, 3, 5, 5)),  # the window is the whole image: im2col is a view
    (F.conv_transpose2d, (0, 3, 1, 1), (3, 4, 7, 7)),  # one pixel painting the whole output: col2im is a view
    (F.conv2d, (0, 3, 8, 8), (2, 3, 4, 4)),
])
def test_an_empty_batch_gives_empty_results_and_zero_weight_gradients(op, x_shape, w_shape):
    # torch's answer, worked out by hand: no images, so no outputs and nothing added to the weight's gradient
    x = tg.tensor(np.zeros(x_shape, np.float32), requires_grad=True)
    w = tg.tensor(np.ones(w_shape, np.float32), requires_grad=True)
    y = op(x, w)
    assert y.shape[0] == 0
    y.sum().backward()
    assert x.grad.shape == x_shape
    np.testing.assert_array_equal(w.grad, np.zeros(w_shape, np.float32))
