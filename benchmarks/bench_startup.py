"""Numba compile time on first use, and start-up time once the compiled kernels are cached.

Runs a tiny forward+backward of every kernel-backed op (conv2d, conv_transpose2d,
max/avg pooling, nearest/bilinear interpolation) in a fresh Python process twice, with
an empty Numba cache directory: the first run compiles every kernel, the second loads
them from the cache (`cache=True`).  Also times `tinygan train --help`-style imports.

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache_dir:
        first = run_once(cache_dir)
        cached = run_once(cache_dir)
    print("| run | process wall s | import tinygan s | first use of every kernel (2 dtypes) s |")
    print("|---|---|---|---|")
    print(f"| empty Numba cache (compiles) | {first[0]:.2f} | {first[1]:.2f} | {first[2]:.2f} |")
    print(f"| cached (cache=True) | {cached[0]:.2f} | {cached[1]:.2f} | {cached[2]:.2f} |")
    return first, cached


if __name__ == "__main__":
    main()
