"""The Numba im2col/col2im kernels equal their NumPy references, in both float dtypes."""
import numpy as np
from hypothesis import example, given

from tinygan.kernels.im2col import col2im, im2col, output_size, reference_col2im, reference_im2col, tap_offsets
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
    cols = im2col(x, *geometry(config))
    assert cols.dtype == dtype
    np.testing.assert_array_equal(cols, reference_im2col(x, *geometry(config)))


# More images than one col2im task takes (IMAGES_PER_COL2IM_TASK): blocks and a ragged last block.
MANY_IMAGES = dict(input_shape=(19, 3, 6, 5), weight_shape=(2, 3, 3, 2), stride=(2, 1), padding=(1, 1), dilation=(1, 2))


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
    np.testing.assert_allclose(image, reference_col2im(cols, shape, *geometry(config)), rtol=1e-6, atol=1e-6)


@given(config=conv2d_configs(), seed=seeds())
def test_col2im_is_the_adjoint_of_im2col(config, seed):
    x = random_array(config["input_shape"], seed)
    cols = im2col(x, *geometry(config))
    other = random_array(cols.shape, seed + 1)
    np.testing.assert_allclose(np.sum(cols * other), np.sum(x * col2im(other, x.shape, *geometry(config))),
                               rtol=1e-10, atol=1e-10)


def test_the_offset_map_worked_in_the_docs():
    # docs/convolution.md, by hand: tap (a, b) of window (i, j) reads pixel (i s + a - p, j s + b - p)
    # of the plane, flattened as y * W + x; -1 in the padding.
    plain = tap_offsets((5, 5), (3, 3), (1, 1), (0, 0), (1, 1), (3, 3))
    np.testing.assert_array_equal(plain[:3], [[0, 1, 2, 5, 6, 7, 10, 11, 12],
                                              [1, 2, 3, 6, 7, 8, 11, 12, 13],
                                              [2, 3, 4, 7, 8, 9, 12, 13, 14]])
    np.testing.assert_array_equal(plain[:, 1], [1, 2, 3, 6, 7, 8, 11, 12, 13])  # the outlined window, less one
    padded = tap_offsets((4, 4), (3, 3), (2, 2), (1, 1), (1, 1), (2, 2))
    np.testing.assert_array_equal(padded[0], [-1, -1, -1, 5])  # windows (0,0), (0,1), (1,0) start in the padding
    np.testing.assert_array_equal(padded[4], [0, 2, 8, 10])  # the centre tap never does
