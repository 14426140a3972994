"""`Conv2d` and `ConvTranspose2d`: learned 2-D (transposed) convolutions over (N, C, H, W).

Weight layouts are torch's: Conv2d (out, in/groups, kh, kw), ConvTranspose2d
(in, out/groups, kh, kw) -- the transposed convolution is the adjoint (backward) of a
convolution from out to in channels, so it reuses that convolution's weight layout.
With groups=g each output channel sees only the in/g input channels of its group, which
is why the weight's second axis is in/g (or out/g) and its fan-in in/g * kh * kw.

Conv2d also takes padding='valid' (none) or 'same' (output size = input size, stride 1
only) and, like torch, keeps the string in `self.padding`.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..checks import integer, pair
from ..ops.conv import conv_padding
from .linear import reset_weight_and_bias
from .module import Module, Parameter


class _ConvNd(Module):
    """What both convolutions share: argument checks, parameters, init and repr."""

    def __init__(self, layer, in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                 bias, output_padding, padding_mode, dtype, transposed):
        super().__init__()
        self.in_channels = integer(layer, "in_channels", in_channels, minimum=1)
        self.out_channels = integer(layer, "out_channels", out_channels, minimum=1)
        self.groups = integer(layer, "groups", groups, minimum=1)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{layer}: in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must both be divisible by groups ({groups})")
        if padding_mode != "zeros":
            raise ValueError(f"{layer}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        self.kernel_size = pair(layer, "kernel_size", kernel_size, 1)
        self.stride = pair(layer, "stride", stride, 1)
        self.dilation = pair(layer, "dilation", dilation, 1)
        if isinstance(padding, str) and not transposed:
            # Checked now (an unknown string, 'same' with a stride), kept as the string, as torch does.
            conv_padding(layer, padding, self.kernel_size, self.stride, self.dilation)
            self.padding = padding
        else:
            self.padding = pair(layer, "padding", padding, 0)
        self.output_padding = pair(layer, "output_padding", output_padding, 0)
        self.padding_mode = padding_mode
        self.transposed = transposed
        if transposed:
            weight_shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            weight_shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(weight_shape, dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        reset_weight_and_bias(self.weight, self.bias)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """out[n, o] = bias[o] + sum over c, i, j of weight[o, c, i, j] * x_padded[n, g(o) + c, s*y + d*i, s*x + d*j]

    where c runs over the in/groups channels of o's group, which starts at g(o) = (o // (out/groups)) * in/groups.
    Output size per spatial axis: floor((H + 2p - d (k - 1) - 1) / s) + 1; padding='same' gives H.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", dtype=np.float32):
        super().__init__("Conv2d", in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
                         bias, 0, padding_mode, dtype, transposed=False)

    def forward(self, input):
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """The adjoint of Conv2d: each input pixel scatters a weighted copy of the kernel into the output.

    Output size per spatial axis: (H - 1) s - 2p + d (k - 1) + output_padding + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, padding_mode: str = "zeros", dtype=np.float32):
        super().__init__("ConvTranspose2d", in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, output_padding, padding_mode, dtype, transposed=True)
        for axis, name in enumerate(("height", "width")):
            if self.output_padding[axis] >= max(self.stride[axis], self.dilation[axis]):
                raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller than "
                                 f"stride {self.stride} or dilation {self.dilation} along the {name}")

    def forward(self, input):
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)
