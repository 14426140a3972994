"""torch.nn.functional-style names for every op, gathered from the op families in `ops/`.

    import tinygan.functional as F
    y = F.conv2d(x, w, b, stride=2, padding=1)
"""
from .ops.activation import leaky_relu, relu, sigmoid, tanh
from .ops.linalg import linear, matmul

__all__ = ["relu", "leaky_relu", "sigmoid", "tanh", "linear", "matmul"]
