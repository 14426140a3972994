"""Pooling layers: summarise each window of every channel, or undo a max pool.

    MaxPool2d:          y[n, c, i, j] = max over the window starting at (i*s - p, j*s - p)
    AvgPool2d:          y[n, c, i, j] = mean over that window (padding zeros count, by torch's default)
    MaxUnpool2d:        put each pooled maximum back where MaxPool2d(return_indices=True) found it
    AdaptiveAvgPool2d:  average windows chosen so that the output has a given size

The stride defaults to the kernel size, so windows tile the input without overlap.
Arguments are checked when the layer is built (as the other layers do) and kept as given,
so the reprs read like torch's.  The arithmetic lives in ops/pool.py.
"""
from __future__ import annotations

from .. import functional as F
from ..checks import flag, integer, pair
from ..ops.pool import adaptive_output_size
from .module import Module


def _check_window(layer, kernel_size, stride, padding):
    pair(layer, "kernel_size", kernel_size, minimum=1)
    if stride is not None:
        pair(layer, "stride", stride, minimum=1)
    pair(layer, "padding", padding, minimum=0)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        _check_window("MaxPool2d", kernel_size, stride, padding)
        pair("MaxPool2d", "dilation", dilation, minimum=1)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding, self.dilation = padding, dilation
        self.return_indices = flag("MaxPool2d", "return_indices", return_indices)
        self.ceil_mode = flag("MaxPool2d", "ceil_mode", ceil_mode)

    def forward(self, input):
        """The pooled input, or (pooled, indices) with return_indices=True."""
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override=None):
        super().__init__()
        _check_window("AvgPool2d", kernel_size, stride, padding)
        if divisor_override is not None:
            integer("AvgPool2d", "divisor_override", divisor_override, minimum=1)
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = flag("AvgPool2d", "ceil_mode", ceil_mode)
        self.count_include_pad = flag("AvgPool2d", "count_include_pad", count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, input):
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool2d(Module):
    """The partial inverse of MaxPool2d: forward(input, indices, output_size=None) puts each
    value of input at the position `indices` names, zeros elsewhere.  Give it the pooling's
    kernel_size, stride and padding, and output_size when the pooled input's size was not
    (H_in - 1) * stride - 2 * padding + kernel_size (a floor-mode pool may have dropped rows)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        # torch keeps these as pairs, which its repr shows.
        self.kernel_size = pair("MaxUnpool2d", "kernel_size", kernel_size, minimum=1)
        self.stride = self.kernel_size if stride is None else pair("MaxUnpool2d", "stride", stride, minimum=1)
        self.padding = pair("MaxUnpool2d", "padding", padding, minimum=0)

    def forward(self, input, indices, output_size=None):
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, whatever the input size: output_size=1 is the
    global average pool of a classifier head, (N, C, H, W) -> (N, C, 1, 1)."""

    def __init__(self, output_size):
        super().__init__()
        # No input yet: any size stands in for the sides that None keeps.
        adaptive_output_size("AdaptiveAvgPool2d", output_size, input_size=(1, 1))
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
