"""Reference answer for exercises/03_conv2d_backward.ipynb (one function per cell to fill in)."""
from tinygan.exercises import col2im, im2col


def conv2d_backward(grad, x, weight, stride, padding):
    """(dL/dx, dL/dweight, dL/dbias) for y = conv2d(x, weight, bias, stride, padding), given grad = dL/dy."""
    out_channels, k = weight.shape[0], weight.shape[2]
    cols = im2col(x, k, stride, padding)                               # (C*k*k, N*OH*OW)
    weight_rows = weight.reshape(out_channels, -1)                     # W2: (O, C*k*k)
    grad_rows = grad.transpose(1, 0, 2, 3).reshape(out_channels, -1)   # G:  (O, N*OH*OW)
    dweight = (grad_rows @ cols.T).reshape(weight.shape)
    dbias = grad_rows.sum(axis=1)
    dx = col2im(weight_rows.T @ grad_rows, x.shape, k, stride, padding)
    return dx, dweight, dbias
