"""Matrix products on tinygan's own threads, with NumPy's BLAS held to one thread.

The reference is one line, `a @ b`.  The kernel computes the same product, but splits it
into blocks of rows, of columns or of its depth (see _Job) that the calling thread and a
few helper threads multiply at once, each with NumPy's BLAS limited to a single thread;
products too small to be worth waking a helper for stay on the calling thread.  Why not
let OpenBLAS use its own threads, as `a @ b` does?  Because of what they do *after* a
product: OpenBLAS's idle workers keep spinning for about a tenth of a second (unless
OPENBLAS_THREAD_TIMEOUT was exported before NumPy was imported, which no user does), on
the very cores the next Numba kernel needs, and a DCGAN step is a GEMM, a kernel, a GEMM,
a kernel...  Measured on
2 cores: the same step 100 ms with quiet BLAS threads and 120 ms with spinning ones.  The
helper threads here sleep on a semaphore the moment their block is done, and the products
run nearly as fast as with OpenBLAS's two threads (docs/performance.md has the numbers).

Blocks are handed out one at a time from a shared counter (more blocks than threads), so
that when another program takes one of the cores, the other thread simply does more of
the blocks instead of the whole product waiting for the slow one.
"""
from __future__ import annotations

import os
import threading

import numpy as np

# A product smaller than both of these is not worth splitting: it runs on the calling
# thread, with BLAS held to one thread.  Waking the sleeping helper costs ~40-50 us on a
# 2-core machine, and one thread does 2**24 multiply-adds in ~150 us: splitting starts
# to pay between 10 and 26 million.  A thin product (k = 16: the DCGAN's 1-channel
# layers) is limited by memory rather than arithmetic, and two threads move its ~2**20
# numbers at least as fast as one (benchmarks/bench_small_kernels.py measures both kinds).
MIN_SPLIT_WORK = 1 << 24  # multiply-adds
MIN_SPLIT_NUMBERS = 1 << 19  # entries of a, b and the result together
BLOCKS_PER_THREAD = 2
# A product is split along its depth k when its result has at most SMALL_RESULT entries
# and k is at least DEEP_PRODUCT times the result's longer side (see _Job).
SMALL_RESULT = 256 * 256
DEEP_PRODUCT = 8


def reference_gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """What `gemm` computes: the (batched) matrix product."""
    return a @ b


def gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b for matrices or equal-length stacks of them: (m, k) @ (k, n), (g, m, k) @ (g, k, n).

    An inner dimension of 1 (an outer product) is a broadcast multiply instead: OpenBLAS
    runs outer products at ~1 GFLOP/s (it is tuned for real matrix products), the multiply
    two orders of magnitude faster on the same shapes.
    """
    if a.ndim < 2 or b.ndim < 2:  # a vector: NumPy's own rules, and too small to split
        return np.matmul(a, b)
    if a.shape[-1] == 1:
        return a * b
    return _pool().multiply(a, b)


class _Pool:
    """The calling thread plus `helpers` sleeping threads, multiplying blocks of one product."""

    def __init__(self, helpers: int):
        self.helpers = helpers
        self.blas = _single_threaded_blas()
        self._start = threading.Semaphore(0)
        self._finished = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._job = None
        for _ in range(helpers):
            threading.Thread(target=self._serve, daemon=True, name="tinygan-gemm").start()

    def multiply(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        stacked = a.ndim == b.ndim == 3 and a.shape[0] == b.shape[0]
        with self._lock, self.blas:  # one product at a time, should several threads call tinygan
            if not (stacked or a.ndim == b.ndim == 2) or self.helpers == 0 or _too_small_to_split(a, b):
                return np.matmul(a, b)  # other broadcasting, one core, or too small to be worth splitting
            a3, b3 = (a, b) if stacked else (a[None], b[None])
            out = np.empty((a3.shape[0], a3.shape[1], b3.shape[2]), dtype=np.result_type(a, b))
            job = self._job = _Job(a3, b3, out, blocks=(self.helpers + 1) * BLOCKS_PER_THREAD)
            for _ in range(self.helpers):
                self._start.release()
            try:
                job.run()
            finally:  # wait for the helpers even if this thread failed: they write into `out`
                for _ in range(self.helpers):
                    self._finished.acquire()
                self._job = None
            if job.error is not None:  # a helper's failure must not pass as a half-computed product
                raise job.error
            job.finish()
        return out if stacked else out[0]

    def _serve(self) -> None:
        while True:
            self._start.acquire()
            job = self._job
            try:
                job.run()
            except BaseException as error:  # handed to the calling thread, which raises it
                job.error = error
            finally:
                self._finished.release()


def _too_small_to_split(a: np.ndarray, b: np.ndarray) -> bool:
    (m, k), n = a.shape[-2:], b.shape[-1]
    stack = a.shape[0] if a.ndim == 3 else 1
    return stack * m * k * n < MIN_SPLIT_WORK and stack * (m * k + k * n + m * n) < MIN_SPLIT_NUMBERS


class _Job:
    """A stack of products (g, m, k) @ (g, k, n) cut into 2-D blocks, taken one at a time.

    Each block is a plain 2-D product: NumPy runs those with the GIL released, so the
    threads really multiply at the same time.  How to cut:

    * by rows or by columns of the result, whichever side is longer: each block then
      re-packs only the other operand;
    * by depth (k), when the result is small and k long -- a weight gradient such as
      (64, 12544) @ (12544, 16).  Cut by rows, every block would re-pack the whole long
      operand for a few rows of output: two threads took 0.53 ms where one took 0.22.
      Cut by depth, each block multiplies a slice of k into its own partial result, and
      `finish` adds the partials up: 0.19 ms (benchmarks/bench_small_kernels.py).
    """

    def __init__(self, a, b, out, blocks: int):
        self.a, self.b, self.out = a, b, out
        groups, rows, columns = out.shape
        depth = a.shape[2]
        if rows * columns <= SMALL_RESULT and depth >= DEEP_PRODUCT * max(rows, columns):
            self.split, length = "depth", depth
        else:
            self.split, length = ("rows", rows) if rows >= columns else ("columns", columns)
        pieces = min(max(1, -(-blocks // groups)), length)  # at least `blocks` in all
        edges = [length * piece // pieces for piece in range(pieces + 1)]
        if self.split == "depth":
            self.partials = np.empty((groups, pieces, rows, columns), dtype=out.dtype)
        self.blocks = [(g, piece, edges[piece], edges[piece + 1]) for g in range(groups) for piece in range(pieces)]
        self._next = 0
        self._lock = threading.Lock()
        self.error = None

    def run(self) -> None:
        a, b, out = self.a, self.b, self.out
        while True:
            with self._lock:
                if self._next == len(self.blocks):
                    return
                g, piece, start, stop = self.blocks[self._next]
                self._next += 1
            if self.split == "rows":
                np.matmul(a[g, start:stop], b[g], out=out[g, start:stop])
            elif self.split == "columns":
                np.matmul(a[g], b[g, :, start:stop], out=out[g, :, start:stop])
            else:
                np.matmul(a[g, :, start:stop], b[g, start:stop], out=self.partials[g, piece])

    def finish(self) -> None:
        """After every block is done: add up the partial products of a depth split."""
        if self.split == "depth":
            np.sum(self.partials, axis=1, out=self.out)


class _single_threaded_blas:
    """A context holding NumPy's BLAS to one thread, then giving back what it had (threadpoolctl)."""

    def __init__(self):
        from threadpoolctl import ThreadpoolController

        self.libraries = ThreadpoolController().select(user_api="blas").lib_controllers
        self._saved = []

    def __enter__(self):
        self._saved = [library.num_threads for library in self.libraries]
        for library in self.libraries:
            library.set_num_threads(1)
        return self

    def __exit__(self, *exc_info):
        for library, threads in zip(self.libraries, self._saved):
            library.set_num_threads(threads)
        return False


_the_pool = None
_pool_lock = threading.Lock()


def _pool() -> _Pool:
    """The process's pool, started on first use (and anew in a forked child, which has no threads)."""
    global _the_pool
    if _the_pool is None:
        with _pool_lock:
            if _the_pool is None:
                from ..runtime import usable_cores
                _the_pool = _Pool(helpers=max(usable_cores() - 1, 0))
    return _the_pool


def _forget_pool_after_fork() -> None:
    global _the_pool
    _the_pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)

__all__ = ["gemm", "reference_gemm"]
