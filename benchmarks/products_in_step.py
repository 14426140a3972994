"""How much of a DCGAN training step the matrix products take, in the step and alone.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/products_in_step.py

Times `DCGANTrainer.train_step` (the defaults: batch 64, widths 64) with every product of
`kernels/gemm.py` timed where it runs, then runs each of one step's products again alone,
with fresh operands of the same shapes and memory layouts (best of 5, so warm in cache).
The difference between the two is what the rest of the step (im2col/col2im, batch norm,
...) costs the products by evicting their operands; the step minus the products in it is
what is not a product at all.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine_description  # noqa: E402

from tinygan.kernels import gemm  # noqa: E402
from tinygan.train import DCGANTrainer, TrainConfig, load_training_digits  # noqa: E402

WARMUP_STEPS, STEPS, REPEATS = 5, 10, 5


def operand_like(shape, strides) -> np.ndarray:
    """Random float32 numbers of `shape`, with the last two axes swapped in memory if `strides` has them so."""
    rng = np.random.default_rng(0)
    if len(shape) >= 2 and strides[-1] > strides[-2]:
        return np.swapaxes(rng.random((*shape[:-2], shape[-1], shape[-2]), dtype=np.float32), -1, -2)
    return rng.random(shape, dtype=np.float32)


def main() -> None:
    machine = machine_description()
    print(f"{machine['cpu']}; BLAS {machine['blas']}")
    config = TrainConfig()
    trainer = DCGANTrainer(config, *load_training_digits(config))
    for _ in range(WARMUP_STEPS):
        trainer.train_next_batch()

    calls = []
    multiply = gemm._Pool.multiply

    def timed(pool, a, b):
        started = time.perf_counter()
        out = multiply(pool, a, b)
        calls.append((a.shape, a.strides, b.shape, b.strides, time.perf_counter() - started))
        return out

    gemm._Pool.multiply = timed
    try:
        started = time.perf_counter()
        for _ in range(STEPS):
            trainer.train_next_batch()
        step = (time.perf_counter() - started) / STEPS
    finally:
        gemm._Pool.multiply = multiply
    per_step = len(calls) // STEPS
    in_step = sum(call[-1] for call in calls) / STEPS

    pool, alone = gemm._pool(), 0.0
    for a_shape, a_strides, b_shape, b_strides, _ in calls[:per_step]:
        a, b = operand_like(a_shape, a_strides), operand_like(b_shape, b_strides)
        best = float("inf")
        for _ in range(REPEATS):
            started = time.perf_counter()
            pool.multiply(a, b)
            best = min(best, time.perf_counter() - started)
        alone += best
    print(f"step {1e3 * step:.1f} ms; its {per_step} products: {1e3 * in_step:.1f} ms in the step, "
          f"{1e3 * alone:.1f} ms alone (warm operands)")


if __name__ == "__main__":
    main()
