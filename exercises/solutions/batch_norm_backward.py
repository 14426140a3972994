"""Reference answer for exercises/06_batch_norm_backward.ipynb (one function per cell to fill in)."""
import numpy as np


def batch_norm_backward(grad, x, weight, eps=1e-5):
    """(dL/dx, dL/dweight, dL/dbias) for y = batch_norm(x, weight, bias) in training mode, given grad = dL/dy."""
    axes = (0, 2, 3)  # everything but the channel
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)  # biased, as the forward normalises with
    s = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * s
    dbias = grad.sum(axis=axes)
    dweight = (grad * xhat).sum(axis=axes)
    gamma = weight.reshape(1, -1, 1, 1)
    dx = gamma * s * (grad - grad.mean(axis=axes, keepdims=True)
                      - xhat * (grad * xhat).mean(axis=axes, keepdims=True))
    return dx, dweight, dbias
