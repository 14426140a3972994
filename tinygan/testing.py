"""Hypothesis strategies for testing tinygan -- and your own ops.

    from hypothesis import given
    from tinygan.testing import shapes, float_arrays

    @given(shapes(max_dims=3).flatmap(float_arrays))
    def test_my_op(x): ...

The layer strategies (`conv2d_configs`, ...) draw only *valid* configurations: shapes
where the kernel fits the padded input, output_padding smaller than stride or
dilation, groups that divide the channels, padding='same' only with stride 1, and so on, so every example exercises the op rather than its error path.
Requires hypothesis (`pip install tinygan[test]`).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .checks import pair
from .kernels.pooling import first_empty_window, pool_output_length


def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 5):
    """Array shapes, e.g. (), (3,), (2, 1, 4)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 4, max_side: int = 4):
    """A tuple of `num_shapes` shapes that broadcast together, e.g. ((3, 1), (2, 1, 4))."""
    return hnp.mutually_broadcastable_shapes(num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims,
                                             max_side=max_side).map(lambda result: result.input_shapes)


def float_dtypes():
    """float32 or float64."""
    return st.sampled_from([np.float32, np.float64])


def float_arrays(shape, dtype=np.float64, min_value: float = -3.0, max_value: float = 3.0):
    """Arrays of finite floats in [min_value, max_value]."""
    elements = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, width=np.dtype(dtype).itemsize * 8)
    return hnp.arrays(dtype, shape, elements=elements)


def seeds():
    """Seeds for np.random.default_rng: draw data fast from a seed instead of element by element."""
    return st.integers(0, 2**32 - 1)


# ---------------------------------------------------------------------- layer configurations
def pairs(min_value: int, max_value: int):
    """(h, w) pairs of ints, often unequal: strides like (4, 2) are part of the contract."""
    return st.tuples(st.integers(min_value, max_value), st.integers(min_value, max_value))


def _grouped_channels(draw, max_channels: int, max_groups: int):
    """(groups, in_channels, out_channels) with groups dividing both channel counts.

    Each side has between 1 and max(1, max_channels // groups) channels per group, so groups
    above max_channels / 2 always give a depthwise convolution (one input channel per group).
    """
    groups = draw(st.integers(1, max_groups))
    per_group = st.integers(1, max(1, max_channels // groups))
    return groups, groups * draw(per_group), groups * draw(per_group)


def conv_options(config: dict) -> dict:
    """The keyword arguments of a drawn conv2d or conv_transpose2d configuration (all but the shapes):
    F.conv2d(x, w, **conv_options(config))."""
    return {key: value for key, value in config.items() if not key.endswith("_shape")}


@st.composite
def conv2d_configs(draw, max_batch: int = 2, max_channels: int = 4, max_size: int = 6, max_kernel: int = 3,
                   max_stride: int = 3, max_padding: int = 2, max_dilation: int = 2, max_groups: int = 4,
                   padding_strings: bool = True):
    """Valid conv2d settings: a dict with input_shape, weight_shape, stride, padding, dilation, groups.

    groups divides both channel counts (weight_shape is (out, in/groups, kh, kw)); large groups
    are depthwise.  With padding_strings, padding is sometimes 'valid' or 'same' (then
    stride is 1, and kernels of 2 draw torch's asymmetric padding).  The input is drawn
    *after* the kernel, so that the dilated kernel always fits the padded input (the case
    conv2d rejects with a ValueError is tested separately).
    """
    kernel, dilation = draw(pairs(1, max_kernel)), draw(pairs(1, max_dilation))
    paddings = pairs(0, max_padding)
    if padding_strings:
        paddings = st.one_of(paddings, st.sampled_from(["same", "valid"]))
    padding = draw(paddings)
    stride = (1, 1) if padding == "same" else draw(pairs(1, max_stride))
    reach = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    total_padding = ([r - 1 for r in reach] if padding == "same" else [0, 0] if padding == "valid"
                     else [2 * p for p in padding])
    height, width = (draw(st.integers(max(1, r - t), max(1, r - t) + max_size - 1))
                     for r, t in zip(reach, total_padding))
    batch = draw(st.integers(1, max_batch))
    groups, in_channels, out_channels = _grouped_channels(draw, max_channels, max_groups)
    return dict(input_shape=(batch, in_channels, height, width),
                weight_shape=(out_channels, in_channels // groups) + kernel,
                stride=stride, padding=padding, dilation=dilation, groups=groups)


def transposed_output_size(size, kernel, stride, padding, output_padding, dilation):
    """(H - 1) s - 2p + d (k - 1) + output_padding + 1, per axis."""
    return tuple((h - 1) * s - 2 * p + d * (k - 1) + o + 1
                 for h, k, s, p, o, d in zip(size, kernel, stride, padding, output_padding, dilation))


@st.composite
def conv_transpose2d_configs(draw, max_batch: int = 2, max_channels: int = 4, max_size: int = 5,
                             max_kernel: int = 4, max_stride: int = 3, max_padding: int = 2, max_dilation: int = 2,
                             max_groups: int = 4):
    """Valid conv_transpose2d settings: input_shape, weight_shape (in, out/groups, kh, kw), stride,
    padding, output_padding (smaller than stride or dilation), dilation and groups (dividing both
    channel counts; large groups are depthwise)."""
    kernel, stride, dilation = draw(pairs(1, max_kernel)), draw(pairs(1, max_stride)), draw(pairs(1, max_dilation))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    size = draw(pairs(1, max_size))
    padding = draw(pairs(0, max_padding).filter(
        lambda p: min(transposed_output_size(size, kernel, stride, p, output_padding, dilation)) > 0))
    batch = draw(st.integers(1, max_batch))
    groups, in_channels, out_channels = _grouped_channels(draw, max_channels, max_groups)
    return dict(input_shape=(batch, in_channels) + size, weight_shape=(in_channels, out_channels // groups) + kernel,
                stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)


@st.composite
def batch_norm_configs(draw, max_batch: int = 4, max_channels: int = 3, max_size: int = 3):
    """Valid batch_norm settings: input_shape ((N, C) or (N, C, H, W) with >= 2 values per
    channel), training, momentum, eps, affine."""
    spatial = draw(st.sampled_from([(), "hw"]))
    channels = draw(st.integers(1, max_channels))
    if spatial:
        shape = (draw(st.integers(1, max_batch)), channels, draw(st.integers(1, max_size)), draw(st.integers(1, max_size)))
    else:
        shape = (draw(st.integers(2, max_batch)), channels)
    if shape[0] * int(np.prod(shape[2:])) < 2:
        shape = (2,) + shape[1:]
    return dict(input_shape=shape, training=draw(st.booleans()), momentum=draw(st.sampled_from([0.1, 0.5, 1.0])),
                eps=draw(st.sampled_from([1e-5, 1e-3])), affine=draw(st.booleans()))


def _maybe_one_int(draw, pair):
    """An equal (h, w) pair is sometimes given as one number, as users write `kernel_size=2`."""
    return pair[0] if pair is not None and pair[0] == pair[1] and draw(st.booleans()) else pair


@st.composite
def pool2d_configs(draw, max_batch: int = 2, max_channels: int = 3, max_size: int = 6, max_kernel: int = 4,
                   max_stride: int = 3, ceil_mode: bool = False, overlapping: bool = True, max_dilation: int = 1):
    """Valid max_pool2d / avg_pool2d settings: a dict with input_shape, kernel_size, stride, padding
    (and ceil_mode, True or False, when `ceil_mode=True` is asked for; dilation, for max_pool2d
    only, when max_dilation > 1).

    Padding is at most half the kernel on each axis (torch's rule), and the input is drawn
    after the kernel so that at least one window fits: the kernel's reach fits the padded
    input, or with ceil_mode hangs over it by at most stride - 1, and no dilated window holds
    only padding.  stride is sometimes None (it then defaults to kernel_size); overlapping=False
    draws strides of at least the kernel, so no two windows share a pixel.  Everything but
    input_shape is a keyword argument of both tinygan's and torch's pooling functions.
    """
    kernel = draw(pairs(1, max_kernel))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    if overlapping:
        stride = draw(st.one_of(st.none(), pairs(1, max_stride)))
    else:
        stride = draw(st.one_of(st.none(), st.tuples(*(st.integers(k, k + max_stride - 1) for k in kernel))))
    ceil = draw(st.booleans()) if ceil_mode else False
    dilation = draw(pairs(1, max_dilation))
    steps = kernel if stride is None else stride

    def sizes(k, s, p, d):
        # ceil(room / s) + 1 >= 1 needs room = size + 2p - reach > -s.
        low = max(1, d * (k - 1) + 1 - 2 * p - (s - 1 if ceil else 0))
        return st.integers(low, low + max_size - 1).filter(
            lambda n: first_empty_window(n, pool_output_length(n, k, s, p, ceil, d), k, s, p, d) is None)

    height, width = (draw(sizes(*axis)) for axis in zip(kernel, steps, padding, dilation))
    batch, channels = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels))
    config = dict(input_shape=(batch, channels, height, width), kernel_size=_maybe_one_int(draw, kernel),
                  stride=_maybe_one_int(draw, stride), padding=_maybe_one_int(draw, padding))
    if ceil_mode:
        config["ceil_mode"] = ceil
    if max_dilation > 1:
        config["dilation"] = _maybe_one_int(draw, dilation)
    return config


@st.composite
def avg_pool2d_configs(draw, **sizes):
    """Valid avg_pool2d settings: pool2d_configs(ceil_mode=True) plus count_include_pad (True or
    False) and divisor_override (None or a positive int).  `sizes` go to pool2d_configs."""
    config = draw(pool2d_configs(ceil_mode=True, **sizes))
    config["count_include_pad"] = draw(st.booleans())
    config["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 9)))
    return config


@st.composite
def max_unpool2d_configs(draw, overlapping: bool = True, **sizes):
    """Valid max_pool2d(..., return_indices=True) -> max_unpool2d round trips: pool2d_configs(
    ceil_mode=True) (input_shape is the *pooled* input's) plus output_size for the unpool.

    output_size is None (torch's default, (H_in - 1) s - 2p + k, when that holds every index),
    or sides within a stride of that default (torch's rule) with room for every index of the
    pooled input's planes, given as (H, W) or (N, C, H, W).  overlapping=False keeps each
    index unique (torch leaves unspecified which value a shared index keeps).
    """
    config = draw(pool2d_configs(ceil_mode=True, overlapping=overlapping, **sizes))
    batch, channels, height, width = config["input_shape"]
    kernel = pair("max_unpool2d_configs", "kernel_size", config["kernel_size"])
    stride = kernel if config["stride"] is None else pair("max_unpool2d_configs", "stride", config["stride"])
    padding = pair("max_unpool2d_configs", "padding", config["padding"])
    pooled = [pool_output_length(n, k, s, p, config["ceil_mode"])
              for n, k, s, p in zip((height, width), kernel, stride, padding)]
    default = tuple((n - 1) * s - 2 * p + k for n, s, p, k in zip(pooled, stride, padding, kernel))
    sides = draw(st.tuples(*(st.integers(max(1, d - s + 1), d + s - 1) for d, s in zip(default, stride)))
                 .filter(lambda hw: hw[0] * hw[1] >= height * width))
    choices = [sides, (batch, channels) + sides] + ([None] if sides == default else [])
    config["output_size"] = draw(st.sampled_from(choices))
    return config


@st.composite
def adaptive_avg_pool2d_configs(draw, max_batch: int = 2, max_channels: int = 3, max_size: int = 7,
                                max_out: int = 5):
    """Valid adaptive_avg_pool2d settings: a dict with input_shape and output_size -- an int, an
    (h, w) pair, or a pair with one None (that side kept).  Output sides may exceed the input's."""
    height, width = draw(pairs(1, max_size))
    shape = (draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)), height, width)
    out = draw(pairs(1, max_out))
    output_size = draw(st.sampled_from([out, (None, out[1]), (out[0], None)]))
    return dict(input_shape=shape, output_size=_maybe_one_int(draw, output_size) if None not in output_size
                else output_size)


def scale_factors(min_value: float = 0.25, max_value: float = 3.0):
    """Scale factors: integers, the usual fractions (0.5, 1.5, ...), and arbitrary floats in between."""
    usual = st.sampled_from([1, 2, 3, 0.5, 1.5, 2.5, 0.75, 1 / 3])
    return st.one_of(usual, st.floats(min_value, max_value)).filter(lambda s: min_value <= s <= max_value)


@st.composite
def interpolate_configs(draw, modes=("nearest", "bilinear"), max_batch: int = 2, max_channels: int = 2,
                        max_size: int = 5, max_out: int = 9):
    """Valid interpolate settings: a dict with input_shape, mode, and either size or scale_factor.

    Bilinear configurations carry align_corners (True or False); scale-factor ones sometimes
    recompute_scale_factor=True.  Scale factors are drawn so that every output side,
    floor(side * scale_factor), is at least 1.  Everything but input_shape is a keyword
    argument of both tinygan's and torch's interpolate.
    """
    mode = draw(st.sampled_from(modes))
    height, width = draw(pairs(1, max_size))
    config = dict(input_shape=(draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)), height, width),
                  mode=mode)
    if mode == "bilinear":
        config["align_corners"] = draw(st.booleans())
    if draw(st.booleans()):
        config["size"] = _maybe_one_int(draw, draw(pairs(1, max_out)))
        return config

    def fits(side):  # floor(side * s) >= 1
        return scale_factors().filter(lambda s: side * s >= 1)

    if draw(st.booleans()):
        config["scale_factor"] = draw(fits(min(height, width)))
    else:
        config["scale_factor"] = (draw(fits(height)), draw(fits(width)))
    if draw(st.booleans()):
        config["recompute_scale_factor"] = True
    return config


def distinct_arrays(shape, dtype=np.float64, gap: float = 0.1):
    """Arrays whose elements all differ by at least `gap`: a shuffled, centred range times gap.

    For checking ops with a kink where elements tie (max, max pooling): a central difference
    with eps << gap never changes which element is the largest.
    """
    size = int(np.prod(shape))
    centre = (size - 1) / 2
    return st.permutations(range(size)).map(
        lambda order: ((np.array(order, dtype=np.float64) - centre) * gap).astype(dtype).reshape(shape))
