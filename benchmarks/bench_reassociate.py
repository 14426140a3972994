"""Batch norm's sum kernels compiled with and without `@kernel(reassociate=True)`, at the DCGAN's shapes.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_reassociate.py

Both versions are the same Python function (`kernels/batchnorm.py`), compiled by Numba
twice: once in written order, once with LLVM allowed to reorder the additions (see
kernels/__init__.py).  Best of 30 calls each; the largest difference between their
variances is printed too, to show what reordering costs in accuracy.
"""
from __future__ import annotations

import os
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine_description  # noqa: E402

from tinygan.kernels import batchnorm  # noqa: E402

SHAPES = {"G BatchNorm2d 256 @7x7": (64, 256, 49), "G BatchNorm2d 128 @14x14": (64, 128, 196),
          "D BatchNorm2d 128 @7x7": (64, 128, 49)}


def best_ms(function, *args, repeats: int = 30) -> float:
    function(*args)  # compile
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - started)
    return 1e3 * best


def main() -> None:
    machine = machine_description()
    print(f"{machine['cpu']}; Numba {machine['numba threading']}")
    in_order = {name: numba.njit(parallel=True)(getattr(batchnorm, name).py_func)
                for name in ("_channel_mean_var_kernel", "_backward_kernel")}
    rng = np.random.default_rng(0)
    print("| layer | statistics, in order | reassociated | backward, in order | reassociated | max |var difference| |")
    print("|---|---|---|---|---|---|")
    for name, shape in SHAPES.items():
        x, grad = rng.random(shape, dtype=np.float32), rng.random(shape, dtype=np.float32)
        channels = shape[1]
        mean, var = np.empty(channels), np.empty(channels)
        mean2, var2 = np.empty(channels), np.empty(channels)
        scale, grad_x = np.ones(channels, np.float32), np.empty_like(x)
        sums = (np.empty(channels), np.empty(channels))
        stats = (best_ms(in_order["_channel_mean_var_kernel"], x, mean, var),
                 best_ms(batchnorm._channel_mean_var_kernel, x, mean2, var2))
        backward = (best_ms(in_order["_backward_kernel"], grad, x, scale, True, grad_x, *sums),
                    best_ms(batchnorm._backward_kernel, grad, x, scale, True, grad_x, *sums))
        print(f"| {name} | {stats[0]:.3f} ms | {stats[1]:.3f} ms | {backward[0]:.3f} ms | {backward[1]:.3f} ms "
              f"| {np.abs(var - var2).max():.1e} |")


if __name__ == "__main__":
    main()
