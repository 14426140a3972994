"""When is a parallel kernel worth waking the other threads?  One thread against all, by size.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_small_kernels.py

Calls each kernel the way a training step does: after ~100 us of other work, so that the
threads of Numba's OpenMP pool have gone to sleep (runtime.py has them sleep at once).
Then a parallel loop pays for waking them.  Times the compiled kernel itself (bypassing
the size rule of kernels/__init__.py) with all threads and with `numba.set_num_threads(1)`;
median of 60 calls each.  kernels/__init__.py's PARALLEL_FROM, and the higher threshold of
the memory-bound activation kernels, come from this table.

The second table does the same for matrix products (kernels/gemm.py): split between the
calling thread and the sleeping helper, or multiplied by the calling thread alone; its
MIN_SPLIT_WORK comes from there, and (its "never by depth" column, for the one deep product
with a small result) why such products are cut along k.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import numba
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine_description, print_table  # noqa: E402

from tinygan.kernels import PARALLEL_FROM, activation, batchnorm, gemm, im2col, layout, optim  # noqa: E402

GAP_SECONDS = 100e-6
STRIDE_2 = ((4, 4), (2, 2), (1, 1), (1, 1))  # the DCGAN's k4 s2 p1 windows


def median_us(call, threads: int, calls: int = 60) -> float:
    saved = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        return after_a_gap_us(call, calls)
    finally:
        numba.set_num_threads(saved)


def after_a_gap_us(call, calls: int = 60) -> float:
    call()  # compile, first touch
    times = []
    for _ in range(calls):
        until = time.perf_counter() + GAP_SECONDS
        while time.perf_counter() < until:  # other work: the pool's threads fall asleep
            pass
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1e6 * statistics.median(times)


def cases():
    """(name, kernel, its arguments) at small and DCGAN sizes."""
    rng = np.random.default_rng(0)
    for size in (2_048, 32_768, 131_072, 524_288, 1_254_400):  # Adam: D's and G's weights range over these
        p, g, m, v = (rng.random(size, dtype=np.float32) for _ in range(4))
        yield "adam", optim._adam_kernel, (p, g, m, v, 0.5, 0.999, 1e-4, 0.9, 1e-8)
    for size in (32_768, 200_704, 802_816, 1_605_632, 3_211_264):
        x, out = rng.random(size, dtype=np.float32), np.empty(size, np.float32)
        yield "leaky_relu forward", activation._leaky_relu_forward_kernel, (x, out, np.float32(0.2), np.float32(0))
    for shape in ((8, 32, 7, 7), (64, 128, 7, 7), (64, 128, 14, 14)):
        x = rng.random(shape, dtype=np.float32)
        rows, steps, runs = layout.plane_rows(x)
        yield "batch norm statistics", batchnorm._channel_mean_var_kernel, (rows, steps, runs, np.empty(shape[1]),
                                                                          np.empty(shape[1]))
    for shape, out_size in (((8, 1, 28, 28), (14, 14)), ((64, 1, 28, 28), (14, 14)), ((8, 16, 14, 14), (7, 7)),
                            ((64, 64, 14, 14), (7, 7))):
        images = rng.random((shape[1], shape[2], shape[3], shape[0]), dtype=np.float32)  # batch-last, as a step has it
        maps = im2col._per_axis(im2col.tap_rows, shape[2:], *STRIDE_2, out_size)
        cols = np.empty((shape[1] * 16, shape[0] * out_size[0] * out_size[1]), np.float32)
        yield "im2col", im2col._im2col_kernel, (images, cols, *maps)


def main() -> None:
    machine = machine_description()
    print(f"{machine['cpu']}; Numba {machine['numba threading']}; PARALLEL_FROM = {PARALLEL_FROM}")
    threads = numba.get_num_threads()
    rows = []
    for name, wrapped, arguments in cases():
        call = lambda: wrapped.compiled(*arguments)  # noqa: E731  (the compiled kernel: no size rule)
        size = max(a.size for a in arguments if isinstance(a, np.ndarray))  # what the rule looks at
        one, every = median_us(call, 1), median_us(call, threads)
        picks = "1 thread" if size < wrapped.parallel_from else f"{threads} threads"
        rows.append({"kernel": name, "largest array": size, "1 thread us": round(one, 1),
                     f"{threads} threads us": round(every, 1),
                     "faster": "1 thread" if one < every else f"{threads} threads", "the rule picks": picks})
    print_table(rows, list(rows[0]))

    pool, rng, rows, rule = gemm._pool(), np.random.default_rng(0), [], gemm.MIN_SPLIT_WORK
    shapes = ((64, 64, 64), (128, 128, 128), (64, 100, 1568), (128, 512, 392), (256, 256, 784), (256, 512, 784),
              (64, 16, 12544), (128, 12544, 16), (64, 12544, 16, "T"))
    # The last three: thin products of the DCGAN's 1-channel layers; "T": b is a transposed view,
    # as in D's first weight gradient, G @ cols.T.
    for m, k, n, *transposed in shapes:
        a = rng.random((m, k), dtype=np.float32)
        b = rng.random((n, k), dtype=np.float32).T if transposed else rng.random((k, n), dtype=np.float32)
        small = gemm._too_small_to_split(a, b)
        with pool.blas:  # BLAS held to one thread, as every product in tinygan runs
            one = after_a_gap_us(lambda: np.matmul(a, b))
        deep, gemm.MIN_SPLIT_WORK = gemm.DEEP_PRODUCT, 0  # split every product
        try:
            split = after_a_gap_us(lambda: pool.multiply(a, b))
            gemm.DEEP_PRODUCT = 1 << 62  # never along the depth: rows or columns only
            by_side = after_a_gap_us(lambda: pool.multiply(a, b))
        finally:
            gemm.MIN_SPLIT_WORK, gemm.DEEP_PRODUCT = rule, deep
        name = f"({m}x{k}) @ ({k}x{n})" + (" (transposed view)" if transposed else "")
        rows.append({"product": name, "multiply-adds": m * k * n, "numbers": m * k + k * n + m * n,
                     "1 thread us": round(one, 1),
                     "split us": round(split, 1), "split, never by depth us": round(by_side, 1),
                     "faster": "1 thread" if one < split else "split",
                     "the rule picks": "1 thread" if small else "split"})
    print_table(rows, list(rows[0]))


if __name__ == "__main__":
    main()
