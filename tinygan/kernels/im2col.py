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
does the same in one parallel pass, looking up where each tap reads in a precomputed
map (`tap_offsets`).  tests/test_kernels_im2col.py proves them equal.
"""
from __future__ import annotations

import functools

import numba
import numpy as np

from . import kernel, layout


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
@functools.lru_cache(maxsize=64)  # a network asks for the same few maps every step
def tap_offsets(image_hw, kernel, stride, padding, dilation, out_size) -> np.ndarray:
    """Where every kernel tap of every window reads, as offsets into one flattened image plane.

        offsets[(i, j), (oh, ow)] = y * W + x,   y = oh*sh + i*dh - ph,   x = ow*sw + j*dw - pw

    or -1 where (y, x) falls into the zero padding.  Shape (kh*kw, OH*OW): one row per row
    block of cols, one column per window.  The map is the same for every image and every
    channel, so the kernels compute it once (here, in NumPy) and then only look it up:
    im2col reads `plane[offsets[tap, p]]`, col2im adds back into the same place.  Looking
    up a precomputed offset is what makes them fast: the windows of a DCGAN layer are
    7 pixels wide, so loops over one window's row (with its stride and padding worked out
    per row) spend more time starting and stopping than copying.
    """
    (h, w), (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = image_hw, kernel, stride, padding, dilation, out_size
    ys = np.arange(kh)[:, None] * dh + np.arange(oh)[None, :] * sh - ph  # (kh, OH): the row tap i reads for window row oh
    xs = np.arange(kw)[:, None] * dw + np.arange(ow)[None, :] * sw - pw  # (kw, OW)
    inside = ((ys >= 0) & (ys < h))[:, None, :, None] & ((xs >= 0) & (xs < w))[None, :, None, :]
    offsets = ys[:, None, :, None] * w + xs[None, :, None, :]  # (kh, kw, OH, OW)
    offsets = np.where(inside, offsets, -1).reshape(kh * kw, oh * ow)
    offsets.setflags(write=False)  # shared by every call with this geometry
    return offsets


def _offsets(*pairs) -> np.ndarray:
    """tap_offsets for pairs given as any sequences (its cache needs tuples)."""
    return tap_offsets(*(tuple(int(v) for v in pair) for pair in pairs))


@kernel
def _im2col_kernel(planes, cols, offsets):
    n_images, channels, _ = planes.shape
    taps, plane = offsets.shape
    # One parallel task per row (c, tap) of cols: rows are disjoint, and each row is
    # written front to back, which keeps the writes streaming through the cache.
    for row in numba.prange(channels * taps):
        c, tap = row // taps, row % taps
        for n in range(n_images):
            source = planes[n, c]
            out = cols[row, n * plane:(n + 1) * plane]
            for p in range(plane):
                k = offsets[tap, p]
                out[p] = source[k] if k >= 0 else 0


IMAGES_PER_COL2IM_TASK = 8


@kernel
def _col2im_kernel(cols, planes, offsets):
    n_images, channels, _ = planes.shape
    taps, plane = offsets.shape
    blocks = (n_images + IMAGES_PER_COL2IM_TASK - 1) // IMAGES_PER_COL2IM_TASK
    # One parallel task per channel and block of images: every write of a task lands in
    # its own planes, so the sums need no locks even though windows overlap.  Each plane
    # is zeroed and then summed into while it sits in the cache; the rows of cols are read
    # front to back.
    for task in numba.prange(channels * blocks):
        c = task // blocks
        first = (task % blocks) * IMAGES_PER_COL2IM_TASK
        for n in range(first, min(first + IMAGES_PER_COL2IM_TASK, n_images)):
            target = planes[n, c]
            target[:] = 0
            for tap in range(taps):
                row = cols[c * taps + tap, n * plane:(n + 1) * plane]
                for p in range(plane):
                    k = offsets[tap, p]
                    if k >= 0:  # the padding's entries have nowhere to go
                        target[k] += row[p]


def window_is_whole_image(image_hw, kernel, stride, padding, dilation, out_size) -> bool:
    """True when the one window covers the unpadded image exactly (DCGAN's first and last layers).

    Then each column of cols is simply one flattened image, and the convolution is a
    fully connected layer (ops/conv.py computes it as one).
    """
    return (tuple(out_size) == (1, 1) and tuple(kernel) == tuple(image_hw) and tuple(padding) == (0, 0)
            and tuple(dilation) == (1, 1))


def im2col(x, kernel, stride, padding, dilation, out_size):
    """(N, C, H, W) -> cols (C*kh*kw, N*OH*OW), in x's dtype (Numba kernel).

    x may be batch-major or channel-major (kernels/layout.py): the kernel reads plane by plane.
    """
    offsets = _offsets(x.shape[2:], kernel, stride, padding, dilation, out_size)
    cols = np.empty((x.shape[1] * offsets.shape[0], x.shape[0] * offsets.shape[1]), dtype=x.dtype)
    _im2col_kernel(layout.planes(layout.dense(x)), cols, offsets)
    return cols


def col2im(cols, input_shape, kernel, stride, padding, dilation, out_size, channel_major=False):
    """cols (C*kh*kw, N*OH*OW) -> the (N, C, H, W) image that sums them back (Numba kernel),
    batch-major or, with channel_major=True, channel-major (kernels/layout.py)."""
    offsets = _offsets(input_shape[2:], kernel, stride, padding, dilation, out_size)
    image = layout.empty(input_shape, cols.dtype, channel_major)
    _col2im_kernel(np.ascontiguousarray(cols), layout.planes(image), offsets)
    return image
