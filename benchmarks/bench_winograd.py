"""The Winograd path of the stride-2 4x4 layers against im2col, by batch size and width.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_winograd.py

For the DCGAN's two big layers (D's 64 -> 128 conv2d on 14x14, G's 256 -> 128
conv_transpose2d on 7x7) and narrower versions of them, times one forward and backward
(input and weight gradients, the weight's read) both ways, in one process, best of 15:
`winograd.applies` is switched off for the im2col column and its thresholds for the
Winograd column; "taken" is what the thresholds decide.  Inputs are batch-last, as a step
hands them over.  Where the ratio is above 1, `winograd.applies` should say no: this is
what MIN_CHANNELS and MIN_COLUMNS are set from.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_time, machine_description, print_table  # noqa: E402

import tinygan as tg  # noqa: E402
import tinygan.functional as F  # noqa: E402
from tinygan.kernels import layout, winograd  # noqa: E402

LAYERS = [  # (op, batch, in channels, size, out channels)
    *[("conv_transpose2d", batch, 256, 7, 128) for batch in (1, 8, 16, 32, 64)],
    *[("conv2d", batch, 64, 14, 128) for batch in (1, 8, 16, 32, 64)],
    ("conv2d", 64, 8, 14, 16), ("conv2d", 64, 16, 14, 32), ("conv2d", 64, 32, 14, 64),
    ("conv_transpose2d", 64, 16, 7, 8), ("conv_transpose2d", 64, 32, 7, 16), ("conv_transpose2d", 64, 64, 7, 32),
    ("conv2d", 64, 1, 28, 64), ("conv2d", 64, 4, 14, 8), ("conv_transpose2d", 64, 128, 14, 1),
    ("conv_transpose2d", 64, 8, 7, 4),
]


def forward_backward(op, batch, in_channels, size, out_channels, rng):
    shape = (batch, in_channels, size, size)
    x = tg.tensor(layout.from_batch_last_memory(
        rng.standard_normal((in_channels, size, size, batch)).astype(np.float32), shape), requires_grad=True)
    weight_shape = (out_channels, in_channels, 4, 4) if op == "conv2d" else (in_channels, out_channels, 4, 4)
    weight = tg.tensor((rng.standard_normal(weight_shape) / 16).astype(np.float32), requires_grad=True)

    def run():
        y = getattr(F, op)(x, weight, stride=2, padding=1)
        y.backward(np.ones(y.shape, np.float32))
        weight.grad  # a conv2d weight gradient is computed when read
        x.grad = weight.grad = None
    return run


def main() -> None:
    machine = machine_description()
    print(f"{machine['cpu']}; BLAS {machine['blas']}\n")
    rng = np.random.default_rng(0)
    takes_path, thresholds = winograd.applies, (winograd.MIN_CHANNELS, winograd.MIN_COLUMNS)
    rows = []
    for op, batch, in_channels, size, out_channels in LAYERS:
        run = forward_backward(op, batch, in_channels, size, out_channels, rng)
        times = {}
        for path in ("im2col", "winograd"):
            # forced either way: the Winograd rows whatever its thresholds say
            winograd.applies = (lambda *args: False) if path == "im2col" else takes_path
            winograd.MIN_CHANNELS, winograd.MIN_COLUMNS = (1, 1) if path == "winograd" else thresholds
            try:
                run()  # a first call compiles what this shape needs
                times[path] = best_time(run, repeats=15)  # ms
            finally:
                winograd.applies = takes_path
                winograd.MIN_CHANNELS, winograd.MIN_COLUMNS = thresholds
        image = (size, size) if op == "conv2d" else (2 * size, 2 * size)  # the strided conv's input
        rows.append({"layer": f"{op} {in_channels}->{out_channels} on {size}x{size}", "batch": batch,
                     "im2col ms": round(times["im2col"], 3), "winograd ms": round(times["winograd"], 3),
                     "winograd / im2col": round(times["winograd"] / times["im2col"], 2),
                     "taken": takes_path((4, 4), (2, 2), (1, 1), (1, 1), (1, 1), 1, (in_channels, out_channels),
                                         image, batch)})
    print_table(rows, ["layer", "batch", "im2col ms", "winograd ms", "winograd / im2col", "taken"])


if __name__ == "__main__":
    main()
