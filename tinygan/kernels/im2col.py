"""im2col and col2im: the data movement that turns a convolution into one matrix product.

For an input x of shape (N, C, H, W) and a kh x kw kernel, `im2col` builds the matrix

    cols[(c, i, j), (n, oh, ow)] = x_padded[n, c, oh*sh + i*dh, ow*sw + j*dw]

of shape (C*kh*kw, N*OH*OW): column (n, oh, ow) holds the receptive field of output
pixel (oh, ow) of image n, so a convolution is  W.reshape(O, C*kh*kw) @ cols.
Positions that fall into the zero padding read as 0.

`padding` is the zero padding *before* the image (top, left): it places the first
window.  The padding after it is never passed: out_size (how many windows) already says
how far the windows reach, and whatever lies past the image reads as 0.  So asymmetric
padding (conv2d's padding='same' with an even kernel) needs nothing special here.

`col2im` is its adjoint: it adds every entry of such a matrix back onto the pixel it
came from.  Overlapping windows (stride < kernel) make several columns read the same
pixel, so col2im *sums* -- which is exactly the chain rule for a pixel used many times,
and exactly what a transposed convolution does with its input.

Each operation comes twice: `reference_*`, plain NumPy (a strided view for im2col,
one slice-add per kernel tap for col2im), and the Numba kernel the ops use, which
does the same in one parallel pass.  tests/test_kernels_im2col.py proves them equal.
"""
from __future__ import annotations

import numba
import numpy as np

from . import kernel


def output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """Output length of a convolution along one axis: floor((size + 2p - d(k-1) - 1) / s) + 1."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


# ---------------------------------------------------------------------- NumPy reference
def _padded_window_view(x, kernel, stride, padding, dilation, out_size):
    """A (N, C, kh, kw, OH, OW) strided view of the zero-padded x: no data is copied."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel, stride, padding, dilation, out_size
    # Pad enough on the far side for every window, even when out_size asks for more
    # windows than fit (transposed convolution with output_padding).
    extra_h = max(0, (oh - 1) * sh + dh * (kh - 1) + 1 - (x.shape[2] + 2 * ph))
    extra_w = max(0, (ow - 1) * sw + dw * (kw - 1) + 1 - (x.shape[3] + 2 * pw))
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w)))
    n, c = x.shape[:2]
    s_n, s_c, s_h, s_w = padded.strides
    return np.lib.stride_tricks.as_strided(
        padded, shape=(n, c, kh, kw, oh, ow),
        strides=(s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw), writeable=False)


def reference_im2col(x, kernel, stride, padding, dilation, out_size):
    """im2col in NumPy: a strided window view, rearranged into (C*kh*kw, N*OH*OW) by one copy."""
    windows = _padded_window_view(x, kernel, stride, padding, dilation, out_size)
    n, c, kh, kw, oh, ow = windows.shape
    return np.ascontiguousarray(windows.transpose(1, 2, 3, 0, 4, 5)).reshape(c * kh * kw, n * oh * ow)


def reference_col2im(cols, input_shape, kernel, stride, padding, dilation, out_size):
    """col2im in NumPy: for each kernel tap (i, j), add its row block onto the pixels it read."""
    n, c, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel, stride, padding, dilation, out_size
    extra_h = max(0, (oh - 1) * sh + dh * (kh - 1) + 1 - (h + 2 * ph))
    extra_w = max(0, (ow - 1) * sw + dw * (kw - 1) + 1 - (w + 2 * pw))
    padded = np.zeros((n, c, h + 2 * ph + extra_h, w + 2 * pw + extra_w), dtype=cols.dtype)
    taps = cols.reshape(c, kh, kw, n, oh, ow).transpose(3, 0, 1, 2, 4, 5)  # (N, C, kh, kw, OH, OW)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            columns = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            padded[:, :, rows, columns] += taps[:, :, i, j]
    return padded[:, :, ph:ph + h, pw:pw + w]


# ---------------------------------------------------------------------- Numba kernels
@numba.njit(cache=True, inline="always")
def _valid_range(out_len, stride, offset, size):
    """The outputs o in [lo, hi) whose source o*stride + offset lies inside [0, size).

    Computing the range once per kernel tap keeps the inner loops free of bounds tests:
    everything outside it reads the zero padding.
    """
    lo = max(0, -((offset) // stride))  # ceil(-offset / stride), for stride > 0
    hi = min(out_len, (size - 1 - offset) // stride + 1)
    return lo, max(lo, hi)


@kernel
def _im2col_kernel(x, cols, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    n_images, channels, height, width = x.shape
    plane = oh * ow
    # One parallel task per row (c, i, j) of cols: rows are disjoint, and each row is
    # written front to back, which keeps the writes streaming through the cache.
    for row in numba.prange(channels * kh * kw):
        c = row // (kh * kw)
        i = (row // kw) % kh
        j = row % kw
        y_lo, y_hi = _valid_range(oh, sh, i * dh - ph, height)
        x_lo, x_hi = _valid_range(ow, sw, j * dw - pw, width)
        for n in range(n_images):
            out = cols[row, n * plane:(n + 1) * plane]
            out[:] = 0
            for y in range(y_lo, y_hi):
                source = x[n, c, y * sh + i * dh - ph]
                for x_ in range(x_lo, x_hi):
                    out[y * ow + x_] = source[x_ * sw + j * dw - pw]


IMAGES_PER_COL2IM_TASK = 8


@kernel
def _col2im_kernel(cols, image, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    n_images, channels, height, width = image.shape
    plane = oh * ow
    blocks = (n_images + IMAGES_PER_COL2IM_TASK - 1) // IMAGES_PER_COL2IM_TASK
    # One parallel task per channel and block of images: every write of a task lands in
    # its own planes, so the sums need no locks even though windows overlap.  Within a
    # task each row of cols is read as one contiguous run (all the block's images), and
    # the planes it adds into stay in cache.
    for task in numba.prange(channels * blocks):
        c = task // blocks
        first = (task % blocks) * IMAGES_PER_COL2IM_TASK
        last = min(first + IMAGES_PER_COL2IM_TASK, n_images)
        for i in range(kh):
            y_lo, y_hi = _valid_range(oh, sh, i * dh - ph, height)
            for j in range(kw):
                x_lo, x_hi = _valid_range(ow, sw, j * dw - pw, width)
                row = (c * kh + i) * kw + j
                for n in range(first, last):
                    for y in range(y_lo, y_hi):
                        target_y = y * sh + i * dh - ph
                        start = n * plane + y * ow
                        for x_ in range(x_lo, x_hi):
                            image[n, c, target_y, x_ * sw + j * dw - pw] += cols[row, start + x_]


def window_is_whole_image(image_hw, kernel, stride, padding, dilation, out_size) -> bool:
    """True when the one window covers the unpadded image exactly (DCGAN's first and last layers).

    Then each column of cols is simply one flattened image, and the convolution is a
    fully connected layer (ops/conv.py computes it as one).
    """
    return (tuple(out_size) == (1, 1) and tuple(kernel) == tuple(image_hw) and tuple(padding) == (0, 0)
            and tuple(dilation) == (1, 1))


def im2col(x, kernel, stride, padding, dilation, out_size):
    """(N, C, H, W) -> cols (C*kh*kw, N*OH*OW), in x's dtype (Numba kernel)."""
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel, stride, padding, dilation, out_size
    cols = np.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
    _im2col_kernel(np.ascontiguousarray(x), cols, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    return cols


def col2im(cols, input_shape, kernel, stride, padding, dilation, out_size):
    """cols (C*kh*kw, N*OH*OW) -> the (N, C, H, W) image that sums them back (Numba kernel)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel, stride, padding, dilation, out_size
    image = np.zeros(input_shape, dtype=cols.dtype)
    _col2im_kernel(np.ascontiguousarray(cols), image, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    return image
