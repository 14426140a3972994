"""Reference answers for exercises/01_activations.ipynb (one function per cell to fill in)."""
import numpy as np


def leaky_relu_backward(grad, x, negative_slope):
    """dL/dx for y = leaky_relu(x, negative_slope), given grad = dL/dy (same shape as x)."""
    return np.where(x > 0, grad, negative_slope * grad)


def sigmoid_backward(grad, y):
    """dL/dx for y = sigmoid(x), from grad = dL/dy and the forward's output y."""
    return grad * y * (1 - y)


def tanh_backward(grad, y):
    """dL/dx for y = tanh(x), from grad = dL/dy and the forward's output y."""
    return grad * (1 - y * y)
