"""Reference answer for exercises/07_conv_transpose_as_col2im.ipynb (one function per cell to fill in)."""
from tinygan.exercises import col2im


def conv_transpose2d(x, weight, stride, padding):
    """y = conv_transpose2d(x, weight, stride=stride, padding=padding): x (N, C, H, W), weight (C, O, k, k)."""
    n, c, h, w = x.shape
    out_channels, k = weight.shape[1], weight.shape[2]
    out_h, out_w = (h - 1) * stride - 2 * padding + k, (w - 1) * stride - 2 * padding + k
    pixels = x.transpose(1, 0, 2, 3).reshape(c, n * h * w)   # X: (C, N*H*W)
    cols = weight.reshape(c, out_channels * k * k).T @ pixels  # one painted patch per column
    return col2im(cols, (n, out_channels, out_h, out_w), k, stride, padding)
