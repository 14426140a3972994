"""Numba-compiled kernels for the hot loops, one module per family.

Each kernel sits beside a plain NumPy `reference_*` version of the same computation:
the reference is what a reader should read first, and what the tests compare the
kernel against.  Kernels are compiled on first use and cached on disk (`cache=True`).
"""
import functools as _functools

import numba as _numba
import numpy as _np

# A kernel whose largest array has fewer elements than this runs on the calling thread
# alone.  Starting a parallel loop wakes the other threads, which sleep between kernels
# (runtime.py explains why they must): measured ~40-50 us on a 2-core machine, more than
# a small kernel's whole work.  At 2**18 elements one thread and two break about even
# for the kernels with the most work per element (Adam, batch norm); one pass that only
# reads and writes memory (an activation) is better on one thread up to ~2**21
# (`@kernel(parallel_from=...)`; benchmarks/bench_small_kernels.py measures both).
PARALLEL_FROM = 1 << 18


def kernel(function=None, *, reassociate: bool = False, parallel_from: int = PARALLEL_FROM):
    """Compile a hot loop with Numba: cached on disk, its `numba.prange` loops run in parallel,
    or on the calling thread alone when its largest array has fewer than `parallel_from` elements.

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

    def compile_(python_function):
        return _Kernel(_numba.njit(**options)(python_function), parallel_from)

    return compile_(function) if function is not None else compile_


class _Kernel:
    """A compiled kernel, called like the function it compiles; small calls run on one thread."""

    def __init__(self, compiled, parallel_from: int):
        self.compiled, self.parallel_from = compiled, parallel_from
        # The plain Python function, as on a Numba dispatcher (with NUMBA_DISABLE_JIT=1 njit
        # hands back the function itself, which is then also what runs).
        self.py_func = getattr(compiled, "py_func", compiled)
        _functools.update_wrapper(self, self.py_func)

    def __call__(self, *arrays_and_numbers):
        largest = max((a.size for a in arrays_and_numbers if isinstance(a, _np.ndarray)), default=0)
        if largest >= self.parallel_from:
            return self.compiled(*arrays_and_numbers)
        threads = _numba.get_num_threads()
        _numba.set_num_threads(1)  # for this thread's next parallel loops only
        try:
            return self.compiled(*arrays_and_numbers)
        finally:
            _numba.set_num_threads(threads)
