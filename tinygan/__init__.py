"""tinygan: a deep-learning framework from scratch on NumPy, to learn how a DCGAN works.

    import tinygan as tg
    x = tg.tensor([[1.0, -2.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad  # array([[ 2., -4.]], dtype=float32)
"""
from .autograd import Function, is_grad_enabled, no_grad
from .gradcheck import gradcheck
from .serialization import load, save
from .tensor import (Tensor, cat, manual_seed, ones, ones_like, rand, randn, stack, tensor, zeros,
                     zeros_like)

__version__ = "0.1.0"

__all__ = ["Tensor", "Function", "tensor", "zeros", "ones", "zeros_like", "ones_like", "randn",
           "rand", "cat", "stack", "manual_seed", "no_grad", "is_grad_enabled", "gradcheck"]
__all__ += ["save", "load"]
