"""`gradcheck`: compare an op's hand-written backward with central differences.

For a function f of tensors and a random upstream gradient u (the same shape as f's
output), backward computes  d<u, f(x)>/dx.  The same number can be estimated with no
calculus at all, one input element at a time:

    d<u, f>/dx_i  ~  ( <u, f(x + eps e_i)> - <u, f(x - eps e_i)> ) / (2 eps)

The error of this central difference is O(eps^2), so in float64 with eps = 1e-6 the two
agree to many digits when the backward is right -- and disagree loudly when it is not.
"""
from __future__ import annotations

import numpy as np

from .autograd import no_grad
from .tensor import Tensor


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check fn's backward against central differences, in float64.

    fn:      a function of `inputs` returning one Tensor.
    inputs:  a sequence of Tensors (those with requires_grad=True are checked) and
             any other arguments, passed to fn in order.
    Returns True, or raises AssertionError naming the input, the element index, and
    the numerical and analytical values of the worst mismatch.
    """
    # Fresh C-ordered float64 copies: the nudges below go through a flat view of each.
    inputs = [Tensor(np.array(x.data, dtype=np.float64, order="C"), requires_grad=x.requires_grad)
              if isinstance(x, Tensor) else x for x in inputs]
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")

    output = fn(*inputs)
    if not isinstance(output, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(output).__name__}")
    upstream = np.random.default_rng(seed).standard_normal(output.shape)
    output.backward(upstream)

    def objective() -> float:
        with no_grad():
            return float(np.sum(fn(*inputs).data * upstream))

    for i in checked:
        x = inputs[i]
        analytical = np.zeros_like(x.data) if x.grad is None else x.grad
        numerical = np.zeros_like(x.data)
        flat = x.data.reshape(-1)  # a view (C order): nudging it nudges the input
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = objective()
            flat[j] = original - eps
            minus = objective()
            flat[j] = original
            numerical.reshape(-1)[j] = (plus - minus) / (2 * eps)
        error = np.abs(analytical - numerical) - (atol + rtol * np.abs(numerical))
        if np.any(error > 0):
            worst = np.unravel_index(np.argmax(error), error.shape)
            raise AssertionError(
                f"gradcheck: input {i} (shape {x.shape}), element {tuple(int(k) for k in worst)}: "
                f"numerical {numerical[worst]:.8g} vs analytical {analytical[worst]:.8g} "
                f"({int(np.sum(error > 0))} of {error.size} elements outside atol={atol}, rtol={rtol})")
    return True
