"""tinygan: a deep-learning framework from scratch on NumPy, to learn how a DCGAN works.

    import tinygan as tg
    x = tg.tensor([[1.0, -2.0]], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    x.grad  # array([[ 2., -4.]], dtype=float32)
"""
import os as _os
import sys as _sys

if "numpy" not in _sys.modules and not _os.environ.get("TINYGAN_EXPERIMENT_NO_ENV"):
    # OpenBLAS's worker threads busy-wait for ~0.1 s after every matrix product. On a
    # small machine they then fight the Numba kernels that run right after each GEMM
    # for the same cores (measured: im2col after a GEMM 3x slower).  A short timeout
    # lets them sleep at once.  It only takes effect if set before NumPy loads OpenBLAS,
    # and a value the user chose is kept.
    _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

# The same fight from the other side: GNU OpenMP, which runs the parallel Numba kernels,
# lets its idle threads spin before they sleep, taking the cores the next matrix product
# needs.  Measured on 2 cores: a parallel kernel call on a tiny array costs ~5 ms instead
# of ~10 us, a DCGAN step (ngf=32) 60 -> 39 ms, the tiny training tests 80 s -> 4 s.
# PASSIVE makes idle threads sleep at once.  It is read when OpenMP starts (at the first
# parallel kernel call), so setting it here is early enough; a user's value is kept.
if not _os.environ.get("TINYGAN_EXPERIMENT_NO_ENV"):
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .runtime import choose_threading_layer as _choose_threading_layer

_choose_threading_layer()

from .autograd import Function, is_grad_enabled, no_grad
from .gradcheck import gradcheck
from .serialization import load, save
from .random import manual_seed
from .tensor import Tensor, cat, ones, ones_like, rand, randn, stack, tensor, zeros, zeros_like

__version__ = "0.1.0"

__all__ = ["Tensor", "Function", "tensor", "zeros", "ones", "zeros_like", "ones_like", "randn",
           "rand", "cat", "stack", "manual_seed", "no_grad", "is_grad_enabled", "gradcheck"]
__all__ += ["save", "load"]
