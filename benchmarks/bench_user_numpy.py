"""A NumPy product of the user's own between steps: what it costs tinygan's step, and torch's.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_user_numpy.py

A training script may compute something of its own with NumPy between steps: a metric, a
projection of the samples, a small linear model.  NumPy hands a large enough product to
OpenBLAS's own threads, and those keep spinning for about 0.1 s after it (unless
OPENBLAS_THREAD_TIMEOUT was exported before NumPy was imported), on the cores the next
training step needs.  tinygan never wakes those threads itself (kernels/gemm.py), but it
cannot put to sleep threads that the script woke.

Each row runs the plain DCGAN step (dcgan_step_worker.py) of both frameworks, in
alternating blocks of 4 steps in one process (the median block of 6), with before every
step:

* nothing;
* a 512 x 512 float32 product `x @ x` with NumPy's default threads (~0.6 ms of work);
* the same product inside `threadpoolctl.threadpool_limits(1, "blas")`, on one thread,
  so that OpenBLAS wakes no thread of its own (~2 ms of work).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dcgan_step_worker as worker  # noqa: E402  (imports NumPy, torch, then tinygan)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import machine_description, print_table, write_json  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

BLOCKS, STEPS_PER_BLOCK = 6, 4


def user_products() -> dict:
    """The script's own work before each step, by row name (None: none)."""
    x = np.random.default_rng(0).random((512, 512), dtype=np.float32)

    def one_thread():
        with threadpool_limits(1, user_api="blas"):
            x @ x

    return {"nothing": None, "x @ x, NumPy's default threads": lambda: x @ x, "x @ x, one BLAS thread": one_thread}


def block_ms(step, before, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        if before is not None:
            before()
        step()
    return 1000 * (time.perf_counter() - start) / steps


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", help="also write the rows and the machine description here")
    args = parser.parse_args(argv)

    torch.set_num_threads(os.cpu_count() or 1)
    ours, G, D = worker.tinygan_step_function("plain", batch=64, width=64, nz=100)
    theirs = worker.torch_step_function(G, D, batch=64, width=64, nz=100)
    for step in (ours, theirs, ours, theirs):  # warm-up: compilation, first-touch, caches
        step()
    extras = user_products()
    times = {(row, name): [] for row in extras for name in ("tinygan", "torch")}
    for _ in range(BLOCKS):  # every row and both frameworks in each round: a slow moment hits all
        for row, before in extras.items():
            for name, step in (("tinygan", ours), ("torch", theirs)):
                times[row, name].append(block_ms(step, before, STEPS_PER_BLOCK))
    rows = []
    for row in extras:
        ms = {name: statistics.median(times[row, name]) for name in ("tinygan", "torch")}
        rows.append({"before each step": row, "tinygan ms": ms["tinygan"], "torch ms": ms["torch"],
                     "ratio": ms["tinygan"] / ms["torch"]})
    machine = machine_description()
    print(machine)
    print_table(rows, ["before each step", "tinygan ms", "torch ms", "ratio"])
    write_json(args.json, {"machine": machine, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
