"""Two memory orders for an (N, C, H, W) array, and how the kernels accept either.

Every 4-D array tinygan passes between layers has the shape (N, C, H, W), as in torch.
Its numbers can sit in memory in two orders:

* batch-major, N then C then H then W: what NumPy makes by default (C order), image by
  image;
* channel-major, C then N then H then W: channel by channel, the order of the matrices the
  convolutions multiply, (C, N*H*W).  The same array viewed as `x.transpose(1, 0, 2, 3)` is
  C-contiguous.

In both, each plane x[n, c] of H*W numbers is contiguous, so a kernel that works plane
by plane reads either at full speed.  im2col and col2im take the view `x.reshape(N, C,
H*W)` (`planes`), which NumPy makes without a copy.  The batch-norm kernels, which add
up long rows and need the compiler to know that the numbers of a row are adjacent (else
it cannot use SIMD: about 4x slower, measured), take the planes as the rows of a
C-contiguous (N*C, H*W) matrix and the steps between rows (`plane_rows`).  An elementwise
kernel works on the flat memory (`flat`) whatever the order.  The convolutions multiply in
channel-major order, so conv2d hands its result on in it instead of copying it into
batch-major order, both take their inputs in it when given so, and batch norm writes its
output in it: in a DCGAN step that saves sixteen copies (eight of activations, eight of
gradients; docs/performance.md).

NumPy itself accepts any order: the values of x[n, c, h, w] are the same whichever
order the memory is in, only the strides differ.
"""
from __future__ import annotations

import numpy as np


def is_channel_major(x: np.ndarray) -> bool:
    """True for a 4-D array laid out C, N, H, W (and not also batch-major, as when N or C is 1)."""
    return x.ndim == 4 and not x.flags.c_contiguous and x.transpose(1, 0, 2, 3).flags.c_contiguous


def empty(shape, dtype, channel_major: bool) -> np.ndarray:
    """An uninitialised (N, C, H, W) array, channel-major or batch-major."""
    if not channel_major:
        return np.empty(shape, dtype=dtype)
    n, c, *rest = shape
    return np.empty((c, n, *rest), dtype=dtype).transpose(1, 0, 2, 3)


def empty_like(x: np.ndarray) -> np.ndarray:
    """An uninitialised array of x's shape and dtype, in x's memory order if it is one of the two."""
    return empty(x.shape, x.dtype, is_channel_major(x))


def like(x: np.ndarray, model: np.ndarray) -> np.ndarray:
    """x (same shape) in model's memory order: x itself if it already is, else a copy."""
    if is_channel_major(model) == is_channel_major(x) and (x.flags.c_contiguous or is_channel_major(x)):
        return x
    out = empty(x.shape, x.dtype, is_channel_major(model))
    np.copyto(out, x)
    return out


def flat(x: np.ndarray) -> np.ndarray:
    """The numbers of a batch-major or channel-major x as a 1-D view, in memory order (no copy)."""
    if is_channel_major(x):
        return x.transpose(1, 0, 2, 3).reshape(-1)
    if not x.flags.c_contiguous:
        raise ValueError(f"flat: expected a batch-major or channel-major array, got strides {x.strides}")
    return x.reshape(-1)


def dense(x: np.ndarray) -> np.ndarray:
    """x if it is batch-major or channel-major, else a batch-major copy (any other strides)."""
    return x if x.flags.c_contiguous or is_channel_major(x) else np.ascontiguousarray(x)


def planes(x: np.ndarray) -> np.ndarray:
    """A batch-major or channel-major (N, C, H, W) x viewed as (N, C, H*W): no copy."""
    return x.reshape(x.shape[0], x.shape[1], int(np.prod(x.shape[2:])))  # no -1: N may be 0


def plane_rows(x: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """A batch-major or channel-major (N, C, ...) x as a C-contiguous (N*C, L) matrix of its
    planes, and (batch_step, channel_step): plane x[n, c] is row n*batch_step + c*channel_step.
    No copy (a 2-D x is (N*C, 1))."""
    n, c = x.shape[:2]
    length = int(np.prod(x.shape[2:]))
    if is_channel_major(x):
        return x.transpose(1, 0, 2, 3).reshape(c * n, length), (1, n)
    if not x.flags.c_contiguous:
        raise ValueError(f"plane_rows: expected a batch-major or channel-major array, got strides {x.strides}")
    return x.reshape(n * c, length), (c, 1)
