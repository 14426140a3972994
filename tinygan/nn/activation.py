"""Activation layers: thin modules around the functions in ops/activation.py.

`inplace=True` is accepted for compatibility with torch model code (nn.ReLU(True) is
common in DCGANs) and shown in the repr, but the result is always a new tensor:
overwriting an input the graph still needs would corrupt its gradient.
"""
from __future__ import annotations

from .. import functional as F
from .module import Module


class ReLU(Module):
    """y = max(0, x)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """y = x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """y = 1 / (1 + e^-x), stable for any x."""

    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    """y = tanh(x)."""

    def forward(self, input):
        return F.tanh(input)
