"""Reference answer for exercises/05_bilinear_backward.ipynb (one function per cell to fill in)."""
import numpy as np
from tinygan.ops.upsample import linear_source_index


def bilinear_table(in_size, out_size):  # as defined in the notebook
    return linear_source_index(in_size, out_size, None, False, np.float64)


def upsample_bilinear_backward(grad, input_size):
    """dL/dx for y = interpolate(x, size=grad.shape[2:], mode="bilinear", align_corners=False)."""
    n, c, out_h, out_w = grad.shape
    r0, r1, a0, a1 = bilinear_table(input_size[0], out_h)
    c0, c1, b0, b1 = bilinear_table(input_size[1], out_w)
    dx = np.zeros((n, c) + tuple(input_size), dtype=grad.dtype)
    for i in range(out_h):
        for j in range(out_w):
            g = grad[:, :, i, j]
            # The four pixels the forward mixed, each credited with its own weight; at the
            # border two of them are the same pixel, and += adds both shares.
            dx[:, :, r0[i], c0[j]] += a0[i] * b0[j] * g
            dx[:, :, r0[i], c1[j]] += a0[i] * b1[j] * g
            dx[:, :, r1[i], c0[j]] += a1[i] * b0[j] * g
            dx[:, :, r1[i], c1[j]] += a1[i] * b1[j] * g
    return dx
