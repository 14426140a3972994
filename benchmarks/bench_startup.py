"""Numba compile time on first use, and start-up time once the compiled kernels are cached.

Runs a tiny forward+backward of every kernel-backed op (conv2d, conv_transpose2d,
max/avg pooling, nearest/bilinear interpolation, batch norm, relu/leaky_relu) in a fresh
Python process twice, with an empty Numba cache directory: the first run compiles every
kernel, the second loads them from the cache (`cache=True`).  Then the same for the
command line: `tinygan train` for one step (start-up, data, models, one step, checkpoint).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_startup.py
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

WARM_EVERY_KERNEL = """
import time
start = time.perf_counter()
import numpy as np
import tinygan as tg
import tinygan.functional as F
imported = time.perf_counter()
for dtype in (np.float32, np.float64):
    x = tg.tensor(np.ones((1, 2, 6, 6), dtype=dtype), requires_grad=True)
    w = tg.tensor(np.ones((2, 2, 3, 3), dtype=dtype), requires_grad=True)
    y = (F.conv2d(x, w, padding=1) + F.conv_transpose2d(x, w, padding=1)).sum()
    y = y + F.max_pool2d(x, 2).sum() + F.avg_pool2d(x, 2).sum()
    y = y + F.interpolate(x, scale_factor=2, mode="nearest").sum()
    y = y + F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False).sum()
    y = y + F.batch_norm(F.relu(x), None, None, training=True).sum() + F.leaky_relu(x, 0.2).sum()
    y.backward()
done = time.perf_counter()
print(f"{imported - start:.3f} {done - imported:.3f}")
"""


def run_once(cache_dir: str) -> tuple[float, float, float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    start = time.perf_counter()
    output = subprocess.run([sys.executable, "-c", WARM_EVERY_KERNEL], env=env, check=True,
                            capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    import_seconds, kernels_seconds = map(float, output.split())
    return wall, import_seconds, kernels_seconds


def time_train_command(cache_dir: str, out_dir: str) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tinygan", "train", "--max-steps", "1", "--no-progress", "--out", out_dir],
                   env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache_dir:
        first = run_once(cache_dir)
        cached = run_once(cache_dir)
    with tempfile.TemporaryDirectory() as cache_dir, tempfile.TemporaryDirectory() as out:
        train_first = time_train_command(cache_dir, os.path.join(out, "a"))
        train_cached = time_train_command(cache_dir, os.path.join(out, "b"))
    print("| run | process wall s | import tinygan s | first use of every kernel (2 dtypes) s |")
    print("|---|---|---|---|")
    print(f"| empty Numba cache (compiles) | {first[0]:.2f} | {first[1]:.2f} | {first[2]:.2f} |")
    print(f"| cached (cache=True) | {cached[0]:.2f} | {cached[1]:.2f} | {cached[2]:.2f} |")
    print(f"\n`tinygan train --max-steps 1`: {train_first:.2f} s with an empty Numba cache, "
          f"{train_cached:.2f} s cached")
    return first, cached, train_first, train_cached


if __name__ == "__main__":
    main()
