"""Reference answer for exercises/04_max_pool_backward.ipynb (one function per cell to fill in)."""
import numpy as np


def max_pool2d_backward(grad, x, kernel_size, stride):
    """dL/dx for y = max_pool2d(x, kernel_size, stride) (no padding), given grad = dL/dy."""
    n, c = x.shape[:2]
    k, s = kernel_size, stride
    planes_n, planes_c = np.indices((n, c))  # address every (n, c) plane at once
    dx = np.zeros_like(x)
    for oh in range(grad.shape[2]):
        for ow in range(grad.shape[3]):
            window = x[:, :, oh * s:oh * s + k, ow * s:ow * s + k].reshape(n, c, k * k)
            row, col = np.divmod(window.argmax(axis=2), k)
            # Each (n, c) appears once in this statement, so += adds every contribution.
            dx[planes_n, planes_c, oh * s + row, ow * s + col] += grad[:, :, oh, ow]
    return dx
