"""Reference answers for exercises/02_im2col_col2im.ipynb (one function per cell to fill in)."""
import numpy as np


def im2col(x, kernel_size, stride, padding):
    """x (N, C, H, W) -> cols (C*k*k, N*OH*OW): column (n, oh, ow) is the window of output pixel (oh, ow) of image n."""
    n, c, h, w = x.shape
    k, s, p = kernel_size, stride, padding
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.empty((c, k, k, n, oh, ow), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            taps = padded[:, :, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s]  # (N, C, OH, OW)
            cols[:, i, j] = taps.transpose(1, 0, 2, 3)
    return cols.reshape(c * k * k, n * oh * ow)


def col2im(cols, x_shape, kernel_size, stride, padding):
    """cols (C*k*k, N*OH*OW) -> the (N, C, H, W) image x_shape, each entry added onto the pixel it came from."""
    n, c, h, w = x_shape
    k, s, p = kernel_size, stride, padding
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    padded = np.zeros((n, c, h + 2 * p, w + 2 * p), dtype=cols.dtype)
    taps = cols.reshape(c, k, k, n, oh, ow)
    for i in range(k):
        for j in range(k):
            padded[:, :, i:i + s * (oh - 1) + 1:s, j:j + s * (ow - 1) + 1:s] += taps[:, i, j].transpose(1, 0, 2, 3)
    return padded[:, :, p:p + h, p:p + w]
