"""Numba-compiled kernels for the hot loops, one module per family.

Each kernel sits beside a plain NumPy `reference_*` version of the same computation:
the reference is what a reader should read first, and what the tests compare the
kernel against.  Kernels are compiled on first use and cached on disk (`cache=True`).
"""
import numba as _numba


def kernel(function=None, *, reassociate: bool = False):
    """Compile a hot loop with Numba: cached on disk, its `numba.prange` loops run in parallel.

    Parallel loops run on the OpenMP runtime that tinygan/runtime.py chooses at import.

    `@kernel(reassociate=True)` is for kernels that sum long runs of numbers.  Without it
    the compiler must add them in the order written, so each addition waits for the one
    before it (about 4 cycles) and the loop runs one number at a time.  Allowing it to
    reorder the additions (LLVM's fast-math flag `reassoc`, and nothing else: NaN and inf
    still propagate) lets it keep several partial sums side by side in SIMD registers:
    measured 1.7-5.2x faster on batch norm's sums (benchmarks/bench_reassociate.py), with
    results that differ only in the last bits of float64 sums.
    """
    options = dict(cache=True, parallel=True)
    if reassociate:
        options["fastmath"] = {"reassoc"}
    compile_ = _numba.njit(**options)
    return compile_(function) if function is not None else compile_
