"""`Linear`: the fully connected layer  y = x W^T + b."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..checks import integer
from . import init
from .module import Module, Parameter


def reset_weight_and_bias(weight: Parameter, bias: Parameter | None) -> None:
    """torch's default init for Linear and convolutions.

    weight ~ kaiming_uniform_(a=sqrt(5))  =  U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    bias   ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    with fan_in = weight.shape[1] * kh * kw (see init.calculate_fan_in_and_fan_out).
    """
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b  for x (..., in_features);  weight (out_features, in_features), bias (out_features,)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32):
        super().__init__()
        self.in_features = integer("Linear", "in_features", in_features, minimum=1)
        self.out_features = integer("Linear", "out_features", out_features, minimum=1)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
