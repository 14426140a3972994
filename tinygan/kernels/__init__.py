"""Numba-compiled kernels for the hot loops, one module per family.

Each kernel sits beside a plain NumPy `reference_*` version of the same computation:
the reference is what a reader should read first, and what the tests compare the
kernel against.  Kernels are compiled on first use and cached on disk (`cache=True`).
"""
import os as _os

import numba as _numba

# Experiment switch (temporary): compile the loops with parallel=True (prange over threads) or serial.
PARALLEL = _os.environ.get("TINYGAN_EXPERIMENT_PARALLEL", "1") == "1"


def kernel(function):
    """Compile a hot loop with Numba (cached on disk)."""
    return _numba.njit(cache=True, parallel=PARALLEL)(function)
