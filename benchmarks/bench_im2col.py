"""im2col and col2im alone, at the shapes a DCGAN step gives them (batch 64, widths 64).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_im2col.py

For each call: the Numba kernel (what the ops run), the NumPy reference beside it, and a
plain copy of a matrix the size of `cols` (np.copyto into an existing one: the floor for
any pass that writes or reads all of it).  Best of 20 calls each, in milliseconds.  The
image is handed over as a step hands it: batch-last (kernels/layout.py), the order the
kernels read in place, where the checkout has that order.  Only the public
`im2col`/`col2im` are used, so the script also times an older checkout
(`PYTHONPATH=that/checkout python benchmarks/bench_im2col.py`), whose kernels read any
order at the same speed.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_time, machine_description, print_table  # noqa: E402

from tinygan.kernels.im2col import col2im, im2col, reference_col2im, reference_im2col  # noqa: E402

try:
    from tinygan.kernels import layout  # a checkout from before the memory orders has none
except ImportError:
    layout = None

K4_S2_P1 = ((4, 4), (2, 2), (1, 1), (1, 1))  # every stride-2 layer of the DCGAN

# (what calls it, the image it reads or writes, the windows' output size)
CALLS = [
    ("D conv 1->64, forward (x3 a step)", (64, 1, 28, 28), (14, 14)),
    ("D conv 64->128, forward (x3) / its input gradient's col2im (x3)", (64, 64, 14, 14), (7, 7)),
    ("G convT 256->128, forward's col2im / backward's im2col", (64, 128, 14, 14), (7, 7)),
]


def main() -> None:
    machine = machine_description()
    print(f"{machine['cpu']}; BLAS {machine['blas']}; Numba {machine['numba threading']}")
    rng = np.random.default_rng(0)
    rows = []
    for name, shape, out_size in CALLS:
        geometry = (*K4_S2_P1, out_size)
        image = rng.standard_normal(shape).astype(np.float32)
        if hasattr(layout, "BATCH_LAST"):  # (False for None, and for a checkout with two orders)
            image = layout.like(image, layout.empty(shape, image.dtype, layout.BATCH_LAST))
        cols = im2col(image, *geometry)
        floor = np.empty_like(cols)
        copy_ms = best_time(lambda: np.copyto(floor, cols), repeats=20)
        rows.append({"call": name, "cols MB": round(cols.nbytes / 1e6, 1), "copy ms": copy_ms,
                     "im2col ms": best_time(lambda: im2col(image, *geometry), repeats=20),
                     "col2im ms": best_time(lambda: col2im(cols, shape, *geometry), repeats=20),
                     "reference im2col ms": best_time(lambda: reference_im2col(image, *geometry), repeats=5),
                     "reference col2im ms": best_time(lambda: reference_col2im(cols, shape, *geometry), repeats=5)})
    print_table(rows, list(rows[0]))


if __name__ == "__main__":
    main()
