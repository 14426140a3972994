"""Weight initialisation (torch.nn.init): fill a tensor in place with chosen statistics.

Every function writes into `tensor.data` (the tensor keeps its dtype and identity), draws
from tinygan's `default_generator()` so `tinygan.manual_seed` makes models repeatable,
and returns the tensor.  Numbers are drawn in float64 and rounded once to the tensor's dtype.

Why the scales: a layer computes sums of `fan_in` products w*x.  If the w are independent
with variance s^2, the sum's variance is fan_in * s^2 * E[x^2], so choosing

    s = gain / sqrt(fan)          (kaiming / He;  fan = fan_in or fan_out)
    s = gain * sqrt(2 / (fan_in + fan_out))          (xavier / Glorot, a compromise)

keeps activations (fan_in) or gradients (fan_out) at the same scale from layer to layer.
`gain` undoes the shrinking of the nonlinearity that follows (sqrt(2) for ReLU, which
zeroes half its inputs).  A uniform(-b, b) has standard deviation b / sqrt(3), so the
uniform versions use b = sqrt(3) * s.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..autograd import no_grad
from ..random import default_generator
from ..tensor import Tensor


def _array(op: str, tensor) -> np.ndarray:
    """The array to fill in place: a Tensor's .data, or an ndarray itself."""
    if isinstance(tensor, Tensor):
        return tensor.data
    if isinstance(tensor, np.ndarray):
        return tensor
    raise TypeError(f"init.{op}: expected a Tensor (or ndarray) to fill in place, got {type(tensor).__name__}")


def _fill(op: str, tensor, values_from_generator):
    """Write values_from_generator(rng, shape) (float64) into the tensor, keeping its dtype."""
    array = _array(op, tensor)
    if not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"init.{op}: only floating-point tensors can be initialised, got dtype {array.dtype}")
    with no_grad():
        array[...] = values_from_generator(default_generator(), array.shape)
    return tensor


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (torch.nn.init.calculate_gain).

        linear, conv*, sigmoid: 1      tanh: 5/3      relu: sqrt(2)      selu: 3/4
        leaky_relu with slope a (default 0.01): sqrt(2 / (1 + a^2))
    """
    unit_gain = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid")
    if nonlinearity in unit_gain:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{', '.join(unit_gain + ('tanh', 'relu', 'selu', 'leaky_relu'))}")


def calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight, as torch computes them.

    For a weight of shape (A, B, k1, k2, ...):  fan_in = B * k1 * k2 * ...,
    fan_out = A * k1 * k2 * ...  A Linear weight (out, in) has fan_in = in; a Conv2d
    weight (out, in/groups, kh, kw) has fan_in = in/groups * kh * kw.  A ConvTranspose2d
    weight is (in, out/groups, kh, kw), so by the same rule its "fan_in" is
    out/groups * kh * kw -- torch's convention, kept so initialisations match.
    """
    shape = _array("calculate_fan_in_and_fan_out", tensor).shape
    if len(shape) < 2:
        raise ValueError(f"init: fan in and fan out cannot be computed for a tensor with fewer than "
                         f"2 dimensions, got shape {shape}")
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out  # torch's (private) spelling


def _fan(op: str, tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init.{op}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    """Fill with U(a, b)."""
    if not a <= b:
        raise ValueError(f"init.uniform_: need a <= b, got a={a}, b={b}")
    return _fill("uniform_", tensor, lambda rng, shape: rng.uniform(a, b, size=shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    """Fill with N(mean, std^2)."""
    if std < 0:
        raise ValueError(f"init.normal_: std must be >= 0, got {std}")
    return _fill("normal_", tensor, lambda rng, shape: rng.normal(mean, std, size=shape))


def constant_(tensor, val: float):
    """Fill with the value `val`."""
    return _fill("constant_", tensor, lambda rng, shape: val)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain: float = 1.0):
    """Fill with U(-b, b), b = gain * sqrt(6 / (fan_in + fan_out))  (std = gain * sqrt(2 / (fan_in + fan_out)))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill("xavier_uniform_", tensor, lambda rng, shape: rng.uniform(-bound, bound, size=shape))


def xavier_normal_(tensor, gain: float = 1.0):
    """Fill with N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill("xavier_normal_", tensor, lambda rng, shape: rng.normal(0.0, std, size=shape))


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """Fill with U(-b, b), b = sqrt(3) * gain / sqrt(fan),  gain = calculate_gain(nonlinearity, a).

    With torch's layer default a = sqrt(5) this gives b = 1 / sqrt(fan_in):
    gain = sqrt(2 / (1 + 5)) = sqrt(1/3), and sqrt(3) * sqrt(1/3) = 1.
    """
    fan = _fan("kaiming_uniform_", tensor, mode)
    if fan == 0:
        return tensor  # nothing to scale by: torch warns and leaves a zero-element tensor alone
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _fill("kaiming_uniform_", tensor, lambda rng, shape: rng.uniform(-bound, bound, size=shape))


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """Fill with N(0, std^2), std = gain / sqrt(fan),  gain = calculate_gain(nonlinearity, a)."""
    fan = _fan("kaiming_normal_", tensor, mode)
    if fan == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return _fill("kaiming_normal_", tensor, lambda rng, shape: rng.normal(0.0, std, size=shape))


__all__ = ["calculate_gain", "calculate_fan_in_and_fan_out", "uniform_", "normal_", "constant_", "zeros_",
           "ones_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_"]
