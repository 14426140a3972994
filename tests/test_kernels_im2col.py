"""The Numba im2col/col2im kernels equal their NumPy references, in both float dtypes and every memory order.

The kernels put the batch innermost (columns (oh, ow, n), images batch-last); the
references can build either column order, and the textbook one (n, oh, ow) is the same
columns permuted.
"""
import numpy as np
from hypothesis import example, given

from tinygan.kernels import layout
from tinygan.kernels.im2col import (col2im, im2col, output_size, reference_col2im, reference_im2col, tap_readers,
                                     tap_rows)
from tinygan.ops.conv import conv_padding
from tinygan.testing import conv2d_configs, float_dtypes, seeds
from helpers import random_array


def geometry(config):
    """What conv2d passes the kernels: the top/left padding, and out_size from the total padding.

    With padding='same' and an even kernel the bottom/right padding is one more than the
    top/left: the kernels only see it through out_size, and must read zeros there.
    """
    kernel, stride, dilation = config["weight_shape"][2:], config["stride"], config["dilation"]
    before, after = conv_padding("test", config["padding"], kernel, stride, dilation)
    out = tuple((config["input_shape"][2 + a] + before[a] + after[a] - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1
                for a in (0, 1))
    if before == after:  # symmetric padding: the same as the rule every convolution states
        assert out == tuple(output_size(config["input_shape"][2 + a], kernel[a], stride[a], before[a], dilation[a])
                            for a in (0, 1))
    return kernel, stride, before, dilation, out


# The window covering the whole image (DCGAN's first and last layers), as the kernels see it.
WHOLE_IMAGE = dict(input_shape=(3, 4, 5, 2), weight_shape=(2, 4, 5, 2), stride=(1, 1), padding=(0, 0), dilation=(1, 1))
# padding='same' with even kernels: one more zero after than before, on both axes.
SAME_EVEN = dict(input_shape=(2, 2, 4, 5), weight_shape=(1, 2, 2, 4), stride=(1, 1), padding="same", dilation=(1, 1))


@given(config=conv2d_configs(max_size=9), dtype=float_dtypes(), seed=seeds())
@example(config=WHOLE_IMAGE, dtype=np.float32, seed=0)
@example(config=SAME_EVEN, dtype=np.float32, seed=0)
def test_im2col_kernel_equals_reference(config, dtype, seed):
    x = random_array(config["input_shape"], seed, dtype=dtype)
    want = reference_im2col(x, *geometry(config), batch_innermost=True)
    for memory_order in layout.MEMORY_AXES:  # the kernel reads any order (copying all but batch-last)
        arranged = layout.empty(x.shape, dtype, memory_order)
        arranged[...] = x
        cols = im2col(arranged, *geometry(config))
        assert cols.dtype == dtype
        np.testing.assert_array_equal(cols, want)
    # The textbook order, image by image, is the same columns permuted.
    n, (oh, ow) = x.shape[0], geometry(config)[-1]
    textbook = reference_im2col(x, *geometry(config))
    np.testing.assert_array_equal(textbook, want.reshape(-1, oh * ow, n).transpose(0, 2, 1).reshape(textbook.shape))


# Few channels and many images: col2im's tasks take slices of the batch, the last one shorter.
MANY_IMAGES = dict(input_shape=(37, 1, 6, 5), weight_shape=(2, 1, 3, 2), stride=(2, 1), padding=(1, 1), dilation=(1, 2))


@given(config=conv2d_configs(max_size=9), dtype=float_dtypes(), seed=seeds())
@example(config=WHOLE_IMAGE, dtype=np.float64, seed=0)
@example(config=MANY_IMAGES, dtype=np.float32, seed=0)
@example(config=SAME_EVEN, dtype=np.float64, seed=0)
def test_col2im_kernel_equals_reference(config, dtype, seed):
    shape = config["input_shape"]
    kernel, *_, out = geometry(config)
    cols = random_array((shape[1] * kernel[0] * kernel[1], shape[0] * out[0] * out[1]), seed, dtype=dtype)
    image = col2im(cols, shape, *geometry(config))
    assert image.dtype == dtype
    assert image.transpose(1, 2, 3, 0).flags.c_contiguous  # batch-last memory, the next product's operand
    np.testing.assert_allclose(image, reference_col2im(cols, shape, *geometry(config), batch_innermost=True),
                               rtol=1e-6, atol=1e-6)


@given(config=conv2d_configs(), seed=seeds())
def test_col2im_is_the_adjoint_of_im2col(config, seed):  # whatever the order of the columns, both use the same
    x = random_array(config["input_shape"], seed)
    cols = im2col(x, *geometry(config))
    other = random_array(cols.shape, seed + 1)
    np.testing.assert_allclose(np.sum(cols * other), np.sum(x * col2im(other, x.shape, *geometry(config))),
                               rtol=1e-10, atol=1e-10)


def test_the_tap_maps_worked_in_the_docs():
    # docs/convolution.md, by hand: tap row a of window row i reads input row i s + a d - p; -1 in the padding.
    np.testing.assert_array_equal(tap_rows(5, 3, 1, 0, 1, 3), [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    # A 4-row image, kernel 3, stride 2, padding 1: 2 window rows, the first starting in the padding.
    np.testing.assert_array_equal(tap_rows(4, 3, 2, 1, 1, 2), [[-1, 1], [0, 2], [1, 3]])
    # Turned around for col2im: which (tap row, window row) pairs read input row y.
    pairs, first = tap_readers(4, 3, 2, 1, 1, 2)
    readers = [pairs[first[y]:first[y + 1]].tolist() for y in range(4)]
    assert readers == [[[1, 0]], [[0, 1], [2, 0]], [[1, 1]], [[2, 1]]]
