"""Argument checks shared by every layer of tinygan: ops, nn, optim, data and the command line.

Each check raises at the boundary with one message form -- the caller (an op, a layer, an
optimizer...), the argument, what was expected and what was given -- and one rule for the
error type:

    TypeError   the value has the wrong kind: a string where an int belongs, a list where a
                tensor belongs, an integer dtype where a float one belongs, two dtypes mixed
    ValueError  the kind is right but the value is not: a negative stride, a wrong rank

So `nn.Conv2d('3', 8, 3)` and `nn.Conv2d(3, 8, '3')` both raise TypeError, and
`nn.Conv2d(0, 8, 3)` a ValueError, each naming the argument.
"""
from __future__ import annotations

import numbers

import numpy as np

# The dtypes the Numba kernels are compiled for; NumPy-only ops accept any float dtype.
KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _at(where) -> str:
    """The message's prefix: 'conv2d: ', or nothing when the caller names the context itself."""
    return f"{where}: " if where else ""


def _int_text(minimum) -> str:
    return {None: "an int", 0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int >= {minimum}")


def integer(where: str, name: str, value, minimum: int | None = None) -> int:
    """`value` as an int (bools refused), at least `minimum` when one is given."""
    expected = _int_text(minimum)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{_at(where)}{name} must be {expected}, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{_at(where)}{name} must be {expected}, got {value!r}")
    return int(value)


def dim(where: str, name: str, value, ndim: int) -> int:
    """`value` as an axis of a tensor with `ndim` axes, in [0, ndim): torch's range is
    [-ndim, ndim).  Out of range is an IndexError, as in torch; modulo arithmetic would
    quietly pick another axis."""
    value = integer(where, name, value)
    if not -ndim <= value < ndim:
        raise IndexError(f"{_at(where)}{name}={value} is out of range for {ndim} dims "
                         f"(expected an int in [{-ndim}, {ndim - 1}])")
    return value % ndim


def flag(where: str, name: str, value) -> bool:
    """`value` as a bool: True or False (NumPy's bools too), never a truthy string such as 'no'."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{_at(where)}{name} must be True or False, got {value!r}")
    return bool(value)


def number(where: str, name: str, value, low: float = 0.0, below: float | None = None,
           high: float | None = None) -> float:
    """`value` as a float in [low, below), or in [low, high], or in [low, inf) with neither bound; NaN is refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{_at(where)}{name} must be a number, got {value!r}")
    # Written so that NaN fails every comparison.
    if not (value >= low and (below is None or value < below) and (high is None or value <= high)):
        bound = (f"in [{low}, {below})" if below is not None else f"in [{low}, {high}]" if high is not None
                 else f">= {low}")
        raise ValueError(f"{_at(where)}{name} must be {bound}, got {value!r}")
    return float(value)


def pair(where: str, name: str, value, minimum: int = 0) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, each >= minimum, as a tuple of two ints."""
    values = (value, value) if isinstance(value, numbers.Integral) else \
        tuple(value) if isinstance(value, (tuple, list)) else None
    if values is None or len(values) != 2 or \
            not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{_at(where)}{name} must be an int or a pair of ints (h, w), got {value!r}")
    if min(values) < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{_at(where)}{name} must be {bound}, got {value!r}")
    return int(values[0]), int(values[1])


def check_array(where: str, name: str, value) -> None:
    """Raise a TypeError unless `value` is an array (what an op sees of a Tensor)."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{_at(where)}{name} must be a Tensor, got {type(value).__name__} "
                        f"(wrap data with tinygan.tensor(...))")


def check_float(where: str, name: str, value, dtypes=None) -> None:
    """Raise a TypeError unless `value` is a floating-point array (of one of `dtypes`, if given).

    Ops that run Numba kernels pass `dtypes=KERNEL_DTYPES`: the kernels are compiled for
    float32 and float64 only, and float16 would otherwise fail deep inside Numba.
    """
    check_array(where, name, value)
    if not np.issubdtype(value.dtype, np.floating):
        raise TypeError(f"{_at(where)}{name} must be a floating-point tensor, got dtype {value.dtype}")
    if dtypes is not None and value.dtype not in dtypes:
        accepted = " or ".join(str(d) for d in dtypes)
        raise TypeError(f"{_at(where)}{name} must be {accepted}, got dtype {value.dtype} "
                        f"(convert it with .float() or .double())")


def check_same_dtype(where: str, reference: tuple, *others: tuple) -> None:
    """Raise a TypeError unless every (name, array) in `others` has the dtype of `reference`.

    torch refuses float32 input with a float64 weight rather than silently computing in
    float64 (NumPy would upcast), and so does tinygan.
    """
    ref_name, ref = reference
    for name, value in others:
        if value is None:
            continue
        check_array(where, name, value)
        if value.dtype != ref.dtype:
            raise TypeError(f"{_at(where)}{name} has dtype {value.dtype} but {ref_name} has dtype {ref.dtype}; "
                            f"they must match (convert one with .float() or .double())")


def check_rank(where: str, name: str, array: np.ndarray, ranks, meaning: str) -> None:
    """Raise a ValueError unless `array.ndim` is one of `ranks` (meaning, e.g., '(N, C, H, W)')."""
    ranks = (ranks,) if isinstance(ranks, int) else tuple(ranks)
    if array.ndim not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"{_at(where)}{name} must be {expected} {meaning}, got shape {array.shape}")


__all__ = ["KERNEL_DTYPES", "integer", "number", "pair", "check_array", "check_float", "check_same_dtype",
           "check_rank"]
