"""Numba-compiled kernels for the hot loops, one module per family.

Each kernel sits beside a plain NumPy `reference_*` version of the same computation:
the reference is what a reader should read first, and what the tests compare the
kernel against.  Kernels are compiled on first use and cached on disk (`cache=True`).
"""
import numba as _numba


def kernel(function):
    """Compile a hot loop with Numba: cached on disk, its `numba.prange` loops run in parallel.

    Parallel loops run on the OpenMP runtime that tinygan/runtime.py chooses at import.
    """
    return _numba.njit(cache=True, parallel=True)(function)
