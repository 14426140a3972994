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
                   max_stride: int = 3):
    """Valid max_pool2d / avg_pool2d settings: a dict with input_shape, kernel_size, stride, padding.

    Padding is at most half the kernel on each axis (torch's rule), and the input is drawn
    after the kernel so that the kernel always fits the padded input.  stride is sometimes
    None (it then defaults to kernel_size).  Everything but input_shape is a keyword argument
    of both tinygan's and torch's pooling functions.
    """
    kernel = draw(pairs(1, max_kernel))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    stride = draw(st.one_of(st.none(), pairs(1, max_stride)))
    smallest = [max(1, k - 2 * p) for k, p in zip(kernel, padding)]
    height, width = (draw(st.integers(low, low + max_size - 1)) for low in smallest)
    batch, channels = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels))
    return dict(input_shape=(batch, channels, height, width), kernel_size=_maybe_one_int(draw, kernel),
                stride=_maybe_one_int(draw, stride), padding=_maybe_one_int(draw, padding))


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
