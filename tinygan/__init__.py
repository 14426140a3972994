"""tinygan: a deep-learning framework from scratch on NumPy, to learn how a DCGAN works.

    import tinygan as tg
    x = tg.tensor([[1.0, -2.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad  # array([[ 2., -4.]], dtype=float32)
"""
# Before anything compiles a kernel: Numba's parallel kernels get an OpenMP runtime of their
# own, whose idle threads sleep at once instead of spinning on the cores NumPy's matrix
# products need next, whatever the script imported first; and malloc keeps the memory of
# freed large arrays for the next step (runtime.py; docs/performance.md).
from .runtime import choose_threading_layer as _choose_threading_layer, keep_freed_memory as _keep_freed_memory

_choose_threading_layer()
_keep_freed_memory()

from .autograd import Function, is_grad_enabled, no_grad
from .gradcheck import gradcheck
from .serialization import load, save
from .random import manual_seed
from .tensor import Tensor, cat, ones, ones_like, rand, randn, stack, tensor, zeros, zeros_like

__version__ = "0.1.0"

__all__ = ["Tensor", "Function", "tensor", "zeros", "ones", "zeros_like", "ones_like", "randn",
           "rand", "cat", "stack", "manual_seed", "no_grad", "is_grad_enabled", "gradcheck"]
__all__ += ["save", "load"]
