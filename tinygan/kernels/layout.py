"""Three memory orders for an (N, C, H, W) array, and how the kernels accept each.

Every 4-D array tinygan passes between layers has the shape (N, C, H, W), as in torch.
Its numbers can sit in memory in three orders:

* batch-major, N then C then H then W: what NumPy makes by default (C order), image by
  image;
* channel-major, C then N then H then W: channel by channel, image by image within a
  channel.  The same array viewed as `x.transpose(1, 0, 2, 3)` is C-contiguous;
* batch-last, C then H then W then N: channel by channel, and within a channel pixel by
  pixel, the N images' values of one pixel side by side.  `x.transpose(1, 2, 3, 0)` is
  C-contiguous.  This is the order the convolutions multiply in: their matrices are
  (C, H*W*N), so im2col copies, for every kernel tap and output pixel, a run of N
  adjacent numbers, which the compiler turns into SIMD copies (kernels/im2col.py).

In the first two, each plane x[n, c] of H*W numbers is contiguous; in the third, each
channel x[:, c] of H*W*N numbers is.  The batch-norm kernels, which add up long rows and
need the compiler to know that the numbers of a row are adjacent (else it cannot use SIMD:
about 4x slower, measured), take an array as the rows of a C-contiguous matrix, each row
a run of one channel's numbers, with the steps between rows (`plane_rows`): a plane per
row in the first two orders, a whole channel per row in the third.  An elementwise
kernel works on the flat memory (`flat`) whatever the order.  The convolutions hand their
results on batch-last, with no copy, and take their inputs in it without one, and batch
norm writes its output in its input's order: in a DCGAN step every activation and every
gradient between two convolutions stays batch-last (docs/performance.md).  Where an array
must change order (an op that works image by image next to a convolution), `in_order`
copies it with a tiled transpose, about twice as fast as NumPy's copy across these orders.

NumPy itself accepts any order: the values of x[n, c, h, w] are the same whichever
order the memory is in, only the strides differ.
"""

from __future__ import annotations

import numba
import numpy as np

from . import kernel

BATCH_MAJOR, CHANNEL_MAJOR, BATCH_LAST = "batch-major", "channel-major", "batch-last"
# Each order as the axes of (N, C, H, W) from the slowest-moving to the fastest in memory:
# x.transpose(MEMORY_AXES[order]) is C-contiguous.  Where two orders are the same memory
# (one image, or one channel, ...) the first in this table names it.
MEMORY_AXES = {BATCH_MAJOR: (0, 1, 2, 3), CHANNEL_MAJOR: (1, 0, 2, 3), BATCH_LAST: (1, 2, 3, 0)}


def order(x: np.ndarray) -> str | None:
    """The memory order of x: one of the three for a 4-D array, batch-major for any other
    C-contiguous array, None for other strides."""
    if x.flags.c_contiguous:
        return BATCH_MAJOR
    if x.ndim == 4:
        for name in (CHANNEL_MAJOR, BATCH_LAST):
            if x.transpose(MEMORY_AXES[name]).flags.c_contiguous:
                return name
    return None


def _laid_out_as(x: np.ndarray, memory_order: str) -> bool:
    """True when x's memory already is in memory_order, whatever order() names it."""
    if memory_order == BATCH_MAJOR or x.ndim != 4:
        return memory_order == BATCH_MAJOR and x.flags.c_contiguous
    return x.transpose(MEMORY_AXES[memory_order]).flags.c_contiguous


def is_channel_major(x: np.ndarray) -> bool:
    """True for a 4-D array laid out C, N, H, W (and not also batch-major, as when N or C is 1)."""
    return order(x) == CHANNEL_MAJOR


def is_batch_last(x: np.ndarray) -> bool:
    """True for a 4-D array laid out C, H, W, N (and not also batch-major or channel-major)."""
    return order(x) == BATCH_LAST


def empty(shape, dtype, memory_order: str = BATCH_MAJOR) -> np.ndarray:
    """An uninitialised array of `shape` in one of the three orders (4-D; other ranks: batch-major only)."""
    if memory_order == BATCH_MAJOR:
        return np.empty(shape, dtype=dtype)
    if len(shape) != 4 or memory_order not in MEMORY_AXES:
        raise ValueError(f"layout.empty: {memory_order!r} order needs a 4-D shape and one of "
                         f"{list(MEMORY_AXES)}, got shape {tuple(shape)}")
    axes = MEMORY_AXES[memory_order]
    return np.empty(tuple(shape[a] for a in axes), dtype=dtype).transpose(np.argsort(axes))


def empty_like(x: np.ndarray) -> np.ndarray:
    """An uninitialised array of x's shape and dtype, in x's memory order if it is one of the three."""
    return empty(x.shape, x.dtype, order(x) or BATCH_MAJOR)


def like(x: np.ndarray, model: np.ndarray) -> np.ndarray:
    """x (same shape) in model's memory order: x itself if it already is, else a copy."""
    return in_order(x, order(model) or BATCH_MAJOR)


def in_order(x: np.ndarray, memory_order: str) -> np.ndarray:
    """x in the given memory order: x itself if it already is, else a copy.

    Into or out of batch-last the copy transposes each channel's (N, H*W) matrix, which
    NumPy's copy does number by number (~4x slower than a copy); a parallel kernel does it
    in tiles instead.  Other copies are NumPy's.
    """
    if _laid_out_as(x, memory_order):  # (with one image, or one channel, orders coincide)
        return x
    out = empty(x.shape, x.dtype, memory_order)
    if x.ndim == 4 and x.size and BATCH_LAST in (memory_order, order(x)):
        n, c = x.shape[:2]
        pixels = x.shape[2] * x.shape[3]
        if memory_order == BATCH_LAST:  # (C, N, H*W) -> (C, H*W, N)
            _transpose_kernel(x.transpose(1, 0, 2, 3).reshape(c, n, pixels), out.transpose(1, 2, 3, 0).reshape(c, pixels, n))
        else:  # x is batch-last: (C, H*W, N) -> out's (C, N, H*W)
            _transpose_kernel(x.transpose(1, 2, 3, 0).reshape(c, pixels, n), out.transpose(1, 0, 2, 3).reshape(c, n, pixels))
        return out
    np.copyto(out, x)
    return out


def batch_last_memory(x: np.ndarray) -> np.ndarray:
    """An (N, C, H, W) x as its batch-last memory, a C-contiguous (C, H, W, N) array: a view
    when x is batch-last, else a copy (in_order)."""
    return in_order(x, BATCH_LAST).transpose(1, 2, 3, 0)


def from_batch_last_memory(memory: np.ndarray, shape) -> np.ndarray:
    """The (N, C, H, W) = shape array whose batch-last memory is the C-contiguous `memory`
    (of any shape with that many numbers, e.g. a product's (C, H*W*N)): a view."""
    n, c, h, w = shape
    return memory.reshape(c, h, w, n).transpose(3, 0, 1, 2)


TILE = 32  # a 32 x 32 tile of float32 is 4 KB: both its rows and its columns stay in the cache


@kernel
def _transpose_kernel(source, target):
    """target[c, j, i] = source[c, i, j], tile by tile (either may be a strided view; the
    inner loop runs along target's last axis, which in_order always makes the contiguous one)."""
    channels, rows, columns = source.shape
    row_tiles, column_tiles = (rows + TILE - 1) // TILE, (columns + TILE - 1) // TILE
    for task in numba.prange(channels * column_tiles):
        c, first_column = task // column_tiles, (task % column_tiles) * TILE
        for first_row in range(0, row_tiles * TILE, TILE):
            for j in range(first_column, min(first_column + TILE, columns)):
                for i in range(first_row, min(first_row + TILE, rows)):
                    target[c, j, i] = source[c, i, j]


def flat(x: np.ndarray) -> np.ndarray:
    """The numbers of x in any of the three orders as a 1-D view, in memory order (no copy)."""
    memory_order = order(x)
    if memory_order is None:
        raise ValueError(f"flat: expected a batch-major, channel-major or batch-last array, got strides {x.strides}")
    return x.transpose(MEMORY_AXES[memory_order]).reshape(-1) if x.ndim == 4 else x.reshape(-1)


def dense(x: np.ndarray) -> np.ndarray:
    """x if it is in one of the three orders, else a batch-major copy (any other strides)."""
    return x if order(x) is not None else np.ascontiguousarray(x)


def planes(x: np.ndarray) -> np.ndarray:
    """An (N, C, H, W) x in any of the three orders viewed as (N, C, H*W), without a copy (a
    batch-last x's planes are views too, but their numbers are N apart, not adjacent)."""
    return x.reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:])))  # no -1: N may be 0


def plane_rows(x: np.ndarray) -> tuple[np.ndarray, tuple[int, int], int]:
    """x (N, C, ...) in any of the three orders as the rows of a C-contiguous matrix, each row a
    run of one channel's numbers, without a copy: (rows, (run_step, channel_step), runs).

    Channel c's numbers are the rows r * run_step + c * channel_step for r < runs: its N
    planes in the first two orders (runs = N), its one row of H*W*N numbers batch-last
    (runs = 1).  A 2-D x is (N*C, 1).
    """
    n, c = x.shape[:2]
    length = int(np.prod(x.shape[2:]))
    memory_order = order(x)
    if memory_order == CHANNEL_MAJOR:
        return x.transpose(1, 0, 2, 3).reshape(c * n, length), (1, n), n
    if memory_order == BATCH_LAST:
        return x.transpose(1, 2, 3, 0).reshape(c, length * n), (0, 1), 1
    if memory_order is None:
        raise ValueError(f"plane_rows: expected a batch-major, channel-major or batch-last array, got strides {x.strides}")
    return x.reshape(n * c, length), (c, 1), n
