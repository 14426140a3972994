"""The checks behind the exercise notebooks (exercises/*.ipynb): say *what* is wrong, not just that it is.

A learner fills in a function; a check cell runs it and tinygan's own op on the same small
random inputs and compares the two.  When they differ, the learner gets an `ExerciseFailed`
whose message is a hint naming the first thing that differs, tried in this order:

    not_implemented  the cell still raises NotImplementedError: fill it in and run it
    not_an_array     the function returned None (a forgotten `return`) or something that is no array
    transposed       the result is the right one with its axes swapped
    shape            the shapes differ: expected vs got (also `expect_shape`, and the shared
                     im2col/col2im on arguments that do not fit together)
    nan              a NaN or an infinity where the right answer is finite
    factor           the result is c times the right one everywhere (c = 2: a term counted twice?)
    element          the first wrong element (row-major order), by how much, and how many are wrong
    gradcheck        the backward disagrees with central differences (tinygan.gradcheck's message)

It lives inside the package, not beside the notebooks, so that `from tinygan import exercises`
works wherever Jupyter was started and whatever the working directory, through the same
install that provides tinygan itself, and so that the tests import exactly what the notebooks
import.  The notebooks only wire a learner's function to its reference; the logic of every
hint is here, once, and tests/test_exercises.py checks each kind on deliberately wrong answers.

The last section holds the few helpers several notebooks share: `im2col` and `col2im` with
the square-kernel signatures of exercise 2, built on tinygan's NumPy references.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .autograd import Function, no_grad
from .gradcheck import gradcheck
from .kernels.im2col import output_size, reference_col2im, reference_im2col
from .tensor import Tensor

RTOL, ATOL = 1e-6, 1e-9  # float64 answers computed in another order agree to ~1e-15

# What a constant factor usually means, for the ratios a wrong backward most often has.
COMMON_FACTORS = {
    2.0: "did you add a contribution twice?",
    0.5: "did you average two terms that should be added, or halve something that should not be?",
    -1.0: "the sign is flipped: check the sign of each term",
}


class ExerciseFailed(Exception):
    """A check found a difference; `kind` is one of the kinds in the module docstring."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"HINT: {message}")
        self.kind = kind


@dataclass(frozen=True)
class Diagnosis:
    """What `diagnose` found: a kind from the module docstring and the hint for the learner."""

    kind: str
    message: str


def _as_array(value):
    return value.data if isinstance(value, Tensor) else value


def _index(flat_position: int, shape: tuple) -> tuple:
    return tuple(int(i) for i in np.unravel_index(flat_position, shape))


def _factor_advice(ratio: float, factor_hints: dict | None) -> str:
    """The hint for a result that is `ratio` times the right one: an exercise's own first."""
    for table in (factor_hints or {}, COMMON_FACTORS):
        for factor, advice in table.items():
            if np.isclose(ratio, factor, rtol=1e-3, atol=1e-6):
                return advice
    return "a constant factor is missing or extra (a 1/m, a slope, a weight?)"


def diagnose(got, expected, name: str = "your result", rtol: float = RTOL, atol: float = ATOL,
             factor_hints: dict | None = None) -> Diagnosis | None:
    """None if `got` matches `expected` (np.isclose everywhere), else what differs first.

    factor_hints maps a ratio (e.g. 2.0) to the exercise's own question for it
    ("did you count each overlapping window twice?"); common ratios have a generic one.
    """
    got, expected = _as_array(got), np.asarray(_as_array(expected))
    if got is None:
        return Diagnosis("not_an_array", f"{name} is None: did you forget to `return` it?")
    if not isinstance(got, (np.ndarray, numbers.Number)):
        return Diagnosis("not_an_array", f"{name} should be a NumPy array of shape {expected.shape}, "
                                         f"got a {type(got).__name__}")
    got = np.asarray(got)
    close = lambda a: a.shape == expected.shape and np.allclose(a, expected, rtol=rtol, atol=atol, equal_nan=True)
    if got.shape != expected.shape or not close(got):
        # A transposed answer has either every axis reversed (a matrix) or the last two swapped.
        swapped = (got.T,) + ((np.swapaxes(got, -1, -2),) if got.ndim >= 2 else ())
        if got.size > 1 and any(close(candidate) for candidate in swapped):
            return Diagnosis("transposed", f"{name} has shape {got.shape} and is the right answer transposed "
                                           f"(expected shape {expected.shape}): rows and columns are swapped")
    if got.shape != expected.shape:
        return Diagnosis("shape", _shape_message(name, expected.shape, got.shape))
    broken = ~np.isfinite(got) & np.isfinite(expected)
    if broken.any():
        where = _index(np.flatnonzero(broken)[0], got.shape)
        return Diagnosis("nan", f"{name} has {int(broken.sum())} NaN or infinite value(s), the first at index "
                                f"{where} ({got[where]}) where the answer is {expected[where]:.6g}: look for a "
                                f"division by zero, a log of 0, or an overflowing exp")
    if close(got):
        return None
    if got.ndim == 0:  # one number: any wrong value is "a factor" of the right one, so say it plainly
        return Diagnosis("element", f"{name} is {got:.6g} but should be {expected:.6g} (off by {got - expected:.3g})")
    wrong = ~np.isclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if not np.any(got) and np.any(expected):
        return Diagnosis("factor", f"{name} is zero everywhere, the right one is not: did you fill in the "
                                   f"array you return (and add into it, not into a copy)?")
    if np.any(expected != 0):
        ratio = float(np.sum(got * expected) / np.sum(expected * expected))  # least-squares fit got ~ ratio * expected
        # A ratio near 1 is no factor, only rounding (e.g. float32): report the element instead.
        if not np.isclose(ratio, 1, rtol=1e-3) and np.allclose(got, ratio * expected, rtol=1e-4, atol=atol):
            return Diagnosis("factor", f"{name} is {ratio:.4g}x the right one everywhere: "
                                       f"{_factor_advice(ratio, factor_hints)}")
    where = _index(np.flatnonzero(wrong)[0], got.shape)
    return Diagnosis("element", f"{name}: element {where} is {got[where]:.6g} but should be {expected[where]:.6g} "
                                f"(off by {got[where] - expected[where]:.3g}); {int(wrong.sum())} of {got.size} elements "
                                f"{'is' if wrong.sum() == 1 else 'are'} wrong, this is the first in row-major order")


def _shape_message(name: str, expected: tuple, got: tuple) -> str:
    extra = (" -- the same number of elements, so perhaps a reshape or transpose in the wrong order"
             if np.prod(expected) == np.prod(got) else "")
    return f"{name} has the wrong shape: expected {tuple(expected)}, got {tuple(got)}{extra}"


def expect_shape(got, shape, name: str = "your result") -> None:
    """Raise the `shape` hint unless `got` has `shape`: for a check about to compute with it,
    where a wrong shape would fail with NumPy's broadcasting error instead of a hint."""
    __tracebackhide__ = True
    if np.shape(_as_array(got)) != tuple(shape):
        raise ExerciseFailed("shape", _shape_message(name, tuple(shape), np.shape(_as_array(got))))


def expect_close(got, expected, name: str = "your result", **options) -> None:
    """Raise ExerciseFailed with diagnose()'s hint unless `got` matches `expected`."""
    __tracebackhide__ = True  # IPython and pytest show the hint, not this module's frames
    found = diagnose(got, expected, name, **options)
    if found is not None:
        raise ExerciseFailed(found.kind, found.message)


def _not_written(name: str) -> ExerciseFailed:
    return ExerciseFailed("not_implemented", f"{name} is not written yet: fill in the cell above (replace "
                                             f"`raise NotImplementedError` with your code) and run it")


def answer(fn, *args, **kwargs):
    """Call the learner's fn; a NotImplementedError becomes the hint to fill in its cell."""
    __tracebackhide__ = True  # IPython and pytest show the hint, not this module's frames
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise _not_written(getattr(fn, "__name__", "the function")) from None


def unpack(value, names) -> list:
    """A function's result as a list with one entry per name (one name: the value itself), or the hint."""
    if len(names) == 1:
        return [value]
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        raise ExerciseFailed("not_an_array", f"return {len(names)} values ({', '.join(names)}) as a tuple, "
                                             f"got {type(value).__name__}")
    return list(value)


def check_against(fn, reference, cases, names=("result",), **options) -> None:
    """Compare fn(*case) with reference(*case) for every case; print OK or raise the first hint.

    names labels the outputs when fn returns a tuple (e.g. ("dx", "dweight", "dbias")).
    """
    __tracebackhide__ = True
    fn_name = getattr(fn, "__name__", "your function")
    for number, case in enumerate(cases):
        got = unpack(answer(fn, *case), names)
        arguments = ", ".join(f"array{a.shape}" if isinstance(a, np.ndarray) else repr(a) for a in map(_as_array, case))
        for out, want, name in zip(got, unpack(reference(*case), names), names):
            expect_close(out, want, f"{name} of {fn_name}({arguments})", **options)
    print(f"OK: {fn_name} agrees with tinygan on {len(cases)} case(s)")


def reference_backward(op, grad, *arrays):
    """tinygan's own backward: the gradient of sum(grad * op(*arrays)) with respect to each array.

    One array gives one gradient, several give a tuple, in order.
    """
    tensors = [Tensor(np.array(a), requires_grad=True) for a in arrays]
    op(*tensors).backward(grad)
    grads = tuple(t.grad for t in tensors)
    return grads[0] if len(grads) == 1 else grads


def function_with_backward(forward, backward, name: str | None = None):
    """A tinygan Function whose forward is `forward(*arrays)` (arrays, or a tinygan op) and whose backward is yours.

    backward(grad, *arrays) returns the gradient of each input (a lone array for one input):
    wired this way, your backward runs inside autograd and tg.gradcheck can test it.
    """
    name = name or getattr(backward, "__name__", "your backward")

    class WithYourBackward(Function):
        @staticmethod
        def forward(ctx, *arrays):
            ctx.save_for_backward(*arrays)
            with no_grad():  # forward may be a tinygan op: its result is all this Function needs
                return _as_array(forward(*arrays))

        @staticmethod
        def backward(ctx, grad):
            try:
                grads = backward(grad, *ctx.saved_tensors)
            except NotImplementedError:
                raise _not_written(name) from None
            grads = tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)
            for number, (g, a) in enumerate(zip(grads, ctx.saved_tensors)):
                if np.shape(g) != a.shape:  # autograd would fail on it later, far from the cause
                    raise ExerciseFailed("shape", f"the gradient of input {number} must have that input's "
                                                  f"shape {a.shape}, got {np.shape(g)}")
            return grads

    WithYourBackward.__name__ = f"WithYourBackward[{name}]"
    return WithYourBackward.apply


def check_gradcheck(forward, backward, inputs, name: str | None = None) -> None:
    """Run tg.gradcheck on `forward` with your `backward`; print OK or raise the hint.

    inputs: float64 arrays; each gets a gradient checked against central differences.
    name: what to call the backward in messages (default: its __name__).
    """
    __tracebackhide__ = True
    name = name or getattr(backward, "__name__", "your backward")
    op = function_with_backward(forward, backward, name)
    tensors = [Tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in inputs]
    try:
        gradcheck(op, tensors)
    except AssertionError as error:
        raise ExerciseFailed("gradcheck", f"{name} disagrees with central differences: {error}") from None
    print(f"OK: {name} passes tg.gradcheck (central differences)")


# ---------------------------------------------------------------------- helpers the notebooks share
def conv_output_size(size: int, kernel_size: int, stride: int, padding: int) -> int:
    """floor((size + 2 padding - kernel_size) / stride) + 1: how many windows fit along one axis."""
    return output_size(size, kernel_size, stride, padding, 1)


# The learner's own code calls these two, so a wrong argument gets a hint here, before
# NumPy fails on it deep inside the reference with a message about reshapes.
def im2col(x, kernel_size: int, stride: int, padding: int):
    """tinygan's im2col with a square kernel: (N, C, H, W) -> (C*k*k, N*OH*OW), rows (c, i, j), columns (n, oh, ow)."""
    __tracebackhide__ = True
    if np.ndim(x) != 4:
        raise ExerciseFailed("shape", f"im2col takes a batch of images (N, C, H, W), got shape {np.shape(x)}")
    k, s, p = kernel_size, stride, padding
    out = tuple(conv_output_size(n, k, s, p) for n in x.shape[2:])
    return reference_im2col(x, (k, k), (s, s), (p, p), (1, 1), out)


def col2im(cols, x_shape, kernel_size: int, stride: int, padding: int):
    """tinygan's col2im with a square kernel: add every column back onto the pixels of x_shape it came from."""
    __tracebackhide__ = True
    k, s, p = kernel_size, stride, padding
    if len(x_shape) != 4:
        raise ExerciseFailed("shape", f"col2im's x_shape is the image's (N, C, H, W), got {tuple(x_shape)}")
    n, c, h, w = x_shape
    out = (conv_output_size(h, k, s, p), conv_output_size(w, k, s, p))
    fits = (c * k * k, n * out[0] * out[1])
    if np.shape(cols) != fits:
        raise ExerciseFailed("shape", f"col2im: an image of shape {tuple(x_shape)} with kernel {k}, stride {s}, "
                                      f"padding {p} has {out[0]}x{out[1]} windows, so its cols must have shape "
                                      f"(C*k*k, N*OH*OW) = {fits}, got {np.shape(cols)}: either cols or the image "
                                      f"shape asked for is wrong")
    return reference_col2im(cols, tuple(x_shape), (k, k), (s, s), (p, p), (1, 1), out)


__all__ = ["ExerciseFailed", "Diagnosis", "diagnose", "expect_close", "expect_shape", "answer", "check_against",
           "unpack", "reference_backward", "function_with_backward", "check_gradcheck", "conv_output_size", "im2col",
           "col2im"]
