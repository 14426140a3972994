"""im2col and col2im: the data movement that turns a convolution into one matrix product.

For an input x of shape (N, C, H, W) and a kh x kw kernel, `im2col` builds the matrix

    cols[(c, i, j), (n, oh, ow)] = x_padded[n, c, oh*sh + i*dh, ow*sw + j*dw]

of shape (C*kh*kw, N*OH*OW): one column per output pixel (oh, ow) of image n, holding its
receptive field, so a convolution is  W.reshape(O, C*kh*kw) @ cols.  Positions that fall
into the zero padding read as 0.

In which order the columns come does not matter to the product: permuting the columns of
cols permutes the columns of the result the same way.  The textbook order is image by
image, column (n, oh, ow), and the exercises use it.  The kernels here put the batch
innermost, column (oh, ow, n), and read and write images batch-last, (C, H, W, N) in
memory (kernels/layout.py): then every tap of every output pixel copies a run of N
adjacent numbers, which the compiler turns into SIMD copies, where image by image each
number is looked up on its own (docs/performance.md measures both).  The result of the
product, (O, OH*OW*N), is then the next layer's input, batch-last, with no copy.

`padding` is the zero padding *before* the image (top, left): it places the first
window.  The padding after it is never passed: out_size (how many windows) already says
how far the windows reach, and whatever lies past the image reads as 0.  So asymmetric
padding (conv2d's padding='same' with an even kernel) needs nothing special here.

`col2im` is its adjoint: it adds every entry of such a matrix back onto the pixel it
came from.  Overlapping windows (stride < kernel) make several columns read the same
pixel, so col2im *sums* -- which is exactly the chain rule for a pixel used many times,
and exactly what a transposed convolution does with its input.

Each operation comes twice: `reference_*`, plain NumPy (a strided view for im2col,
one slice-add per kernel tap for col2im), in either column order, and the Numba kernel
the ops use, which does the same in one parallel pass, batch innermost, looking up which
row and column each tap reads in a precomputed map (`tap_rows`).
tests/test_kernels_im2col.py proves them equal.
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


def reference_im2col(x, kernel, stride, padding, dilation, out_size, batch_innermost=False):
    """im2col in NumPy: a strided window view, rearranged into (C*kh*kw, N*OH*OW) by one copy.

    Columns (n, oh, ow), or with batch_innermost=True (oh, ow, n), the kernel's order."""
    windows = _padded_window_view(x, kernel, stride, padding, dilation, out_size)
    n, c, kh, kw, oh, ow = windows.shape
    columns = (4, 5, 0) if batch_innermost else (0, 4, 5)
    return np.ascontiguousarray(windows.transpose(1, 2, 3, *columns)).reshape(c * kh * kw, n * oh * ow)


def reference_col2im(cols, input_shape, kernel, stride, padding, dilation, out_size, batch_innermost=False):
    """col2im in NumPy: for each kernel tap (i, j), add its row block onto the pixels it read.

    cols in either column order (see reference_im2col); the image comes back batch-major."""
    n, c, h, w = input_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel, stride, padding, dilation, out_size
    extra_h = max(0, (oh - 1) * sh + dh * (kh - 1) + 1 - (h + 2 * ph))
    extra_w = max(0, (ow - 1) * sw + dw * (kw - 1) + 1 - (w + 2 * pw))
    padded = np.zeros((n, c, h + 2 * ph + extra_h, w + 2 * pw + extra_w), dtype=cols.dtype)
    if batch_innermost:
        taps = cols.reshape(c, kh, kw, oh, ow, n).transpose(5, 0, 1, 2, 3, 4)  # (N, C, kh, kw, OH, OW)
    else:
        taps = cols.reshape(c, kh, kw, n, oh, ow).transpose(3, 0, 1, 2, 4, 5)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
            columns = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            padded[:, :, rows, columns] += taps[:, :, i, j]
    return padded[:, :, ph:ph + h, pw:pw + w]


# ---------------------------------------------------------------------- Numba kernels
@functools.lru_cache(maxsize=64)  # a network asks for the same few maps every step
def tap_rows(size, kernel, stride, padding, dilation, out_size) -> np.ndarray:
    """Along one axis, which input row (or column) every kernel tap of every window reads:

        where[i, o] = o*s + i*d - p,   or -1 where that falls into the zero padding

    of shape (k, out_size).  im2col's output pixel (oh, ow) for tap (i, j) reads the image at
    (where_h[i, oh], where_w[j, ow]), and col2im adds back into the same place.  The map is
    the same for every image and every channel, so it is computed once (here, in NumPy)
    and only looked up in the kernels.
    """
    where = np.arange(kernel)[:, None] * dilation + np.arange(out_size)[None, :] * stride - padding
    where = np.where((where >= 0) & (where < size), where, -1)
    where.setflags(write=False)  # shared by every call with this geometry
    return where


def _per_axis(axis_map, image_hw, kernel, stride, padding, dilation, out_size):
    """(axis_map for the rows, axis_map for the columns), from (h, w) pairs (ints: the maps are cached)."""
    return tuple(axis_map(*(int(v[axis]) for v in (image_hw, kernel, stride, padding, dilation, out_size)))
                 for axis in (0, 1))


@kernel
def _im2col_kernel(images, cols, rows_of, columns_of):
    channels, n_images = images.shape[0], images.shape[3]
    kh, out_h = rows_of.shape
    kw, out_w = columns_of.shape
    taps = kh * kw
    # One parallel task per row (c, i, j) of cols, written front to back: for every output
    # pixel, the N numbers of the input pixel its tap reads, or N zeros in the padding.
    for row in numba.prange(channels * taps):
        c, tap = row // taps, row % taps
        i, j = tap // kw, tap % kw
        out = cols[row]
        for a in range(out_h):
            y = rows_of[i, a]
            for b in range(out_w):
                x = columns_of[j, b]
                start = (a * out_w + b) * n_images
                if y >= 0 and x >= 0:
                    source = images[c, y, x]
                    for n in range(n_images):
                        out[start + n] = source[n]
                else:
                    for n in range(n_images):
                        out[start + n] = 0


@functools.lru_cache(maxsize=64)
def tap_readers(size, kernel, stride, padding, dilation, out_size) -> tuple[np.ndarray, np.ndarray]:
    """tap_rows turned around: for every input row y, the (tap row i, window row o) pairs that
    read it, as pairs[first[y]:first[y + 1]] (an (M, 2) array sorted by y, and first of
    length size + 1)."""
    where = tap_rows(size, kernel, stride, padding, dilation, out_size)
    taps, windows = np.nonzero(where >= 0)
    rows = where[taps, windows]
    order = np.argsort(rows, kind="stable")
    pairs = np.stack([taps[order], windows[order]], axis=1).astype(np.int64)
    first = np.searchsorted(rows[order], np.arange(size + 1)).astype(np.int64)
    for array in (pairs, first):
        array.setflags(write=False)
    return pairs, first


@kernel
def _col2im_kernel(cols, images, row_pairs, row_first, column_pairs, column_first, kw, out_w, images_per_task):
    channels, height, width, n_images = images.shape
    taps = cols.shape[0] // channels if channels else 0
    parts = (n_images + images_per_task - 1) // images_per_task
    # One parallel task per channel and slice of the batch (slices only so that a layer with
    # few channels still has a task for every thread).  Each task finishes every pixel of its
    # channel and slice in one visit: it zeroes the pixel's run and adds the runs of every
    # (tap, window) that read that pixel, which tap_readers lists, while the run is in the
    # cache.  So the writes need no locks, though windows overlap, and no pass zeroes the
    # whole image before the taps are added into it one by one.
    for task in numba.prange(channels * parts):
        c, part = task // parts, task % parts
        first = part * images_per_task
        count = min(first + images_per_task, n_images) - first
        for y in range(height):
            for x in range(width):
                pixel = images[c, y, x, first:first + count]
                pixel[:] = 0
                for r in range(row_first[y], row_first[y + 1]):
                    i, a = row_pairs[r, 0], row_pairs[r, 1]
                    for q in range(column_first[x], column_first[x + 1]):
                        j, b = column_pairs[q, 0], column_pairs[q, 1]
                        start = (a * out_w + b) * n_images + first
                        run = cols[c * taps + i * kw + j, start:start + count]
                        for n in range(count):  # (a loop from 0, over slices: the compiler makes it SIMD)
                            pixel[n] += run[n]


def window_is_whole_image(image_hw, kernel, stride, padding, dilation, out_size) -> bool:
    """True when the one window covers the unpadded image exactly (DCGAN's first and last layers).

    Then each column of cols is simply one flattened image, and the convolution is a
    fully connected layer: im2col and col2im return views of the image's batch-last memory.
    """
    return (tuple(out_size) == (1, 1) and tuple(kernel) == tuple(image_hw) and tuple(padding) == (0, 0)
            and tuple(dilation) == (1, 1))


def im2col(x, kernel, stride, padding, dilation, out_size):
    """(N, C, H, W) -> cols (C*kh*kw, OH*OW*N), columns (oh, ow, n) (Numba kernel).

    x may be in any memory order; a batch-last x is read in place, any other is copied into
    that order first.  When the one window covers the whole image (window_is_whole_image),
    cols is x's own memory, (C*H*W, N): a view of a batch-last x.
    """
    images = layout.batch_last_memory(x)
    if window_is_whole_image(x.shape[2:], kernel, stride, padding, dilation, out_size):
        return images.reshape(images.shape[0] * images.shape[1] * images.shape[2], x.shape[0])  # no -1: N may be 0
    cols = np.empty((images.shape[0] * kernel[0] * kernel[1], out_size[0] * out_size[1] * x.shape[0]), dtype=x.dtype)
    _im2col_kernel(images, cols, *_per_axis(tap_rows, x.shape[2:], kernel, stride, padding, dilation, out_size))
    return cols


def col2im(cols, input_shape, kernel, stride, padding, dilation, out_size):
    """cols (C*kh*kw, OH*OW*N), columns (oh, ow, n) -> the (N, C, H, W) image that sums them
    back, batch-last (Numba kernel; a view of cols when the one window covers the whole image)."""
    n, channels, height, width = input_shape
    if window_is_whole_image((height, width), kernel, stride, padding, dilation, out_size):
        return layout.from_batch_last_memory(np.ascontiguousarray(cols), input_shape)
    image = layout.empty(input_shape, cols.dtype, layout.BATCH_LAST)
    # Enough tasks for the threads even with one channel (a DCGAN's last layer), each a
    # slice of at least 16 images; one task per channel when there are channels enough.
    parts = max(1, min(-(-16 // max(channels, 1)), n // 16))
    readers = _per_axis(tap_readers, (height, width), kernel, stride, padding, dilation, out_size)
    _col2im_kernel(np.ascontiguousarray(cols), layout.batch_last_memory(image), *readers[0], *readers[1],
                   int(kernel[1]), int(out_size[1]), -(-n // parts) if n else 1)
    return image
