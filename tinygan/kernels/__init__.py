"""Numba-compiled kernels for the hot loops, one module per family.

Each kernel sits beside a plain NumPy `reference_*` version of the same computation:
the reference is what a reader should read first, and what the tests compare the
kernel against.  Kernels are compiled on first use and cached on disk (`cache=True`).
"""
