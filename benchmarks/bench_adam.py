"""One Adam step over the DCGAN's parameters (G and D, ngf = ndf = 64): fused kernel, NumPy sweeps, torch.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_adam.py

`tinygan` is `optim.Adam.step()` as the trainer calls it (kernels/optim.py, one pass per
parameter); `numpy sweeps` is the same step with the kernel swapped for its NumPy reference
(`reference_adam_update`, the arithmetic written out); `torch` is torch.optim.Adam (2 threads,
its default foreach implementation) on the same shapes.

Then the trainer's other per-step pass over G's weights: the weight average's update
(train/average.py, `--ema`), with `kernels.optim.lerp_` and with its NumPy reference.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import best_time, machine_description, try_import_torch  # noqa: E402

import tinygan  # noqa: E402
from tinygan import optim  # noqa: E402
from tinygan.kernels import optim as kernels  # noqa: E402
from tinygan.models import Discriminator, Generator  # noqa: E402
from tinygan.train import average  # noqa: E402


def parameters():
    tinygan.manual_seed(0)
    params = list(Generator().parameters()) + list(Discriminator().parameters())
    rng = np.random.default_rng(0)
    for param in params:
        param.grad = rng.standard_normal(param.shape).astype(np.float32)
    return params


def main() -> None:
    machine = machine_description()
    print(f"{machine['cpu']}; BLAS {machine['blas']}; Numba {machine['numba threading']}")
    params = parameters()
    count = sum(p.data.size for p in params)
    adam = optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))
    fused = best_time(adam.step, repeats=50, warmup=3)
    optim.adam_update = kernels.reference_adam_update
    try:
        sweeps = best_time(adam.step, repeats=50, warmup=3)
    finally:
        optim.adam_update = kernels.adam_update
    rows = [("tinygan (fused kernel)", fused), ("numpy sweeps (reference)", sweeps)]
    torch = try_import_torch()
    if torch is not None:
        tensors = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in params]
        for tensor, param in zip(tensors, params):
            tensor.grad = torch.from_numpy(param.grad.copy())
        torch_adam = torch.optim.Adam(tensors, lr=2e-4, betas=(0.5, 0.999))
        rows.append(("torch.optim.Adam", best_time(torch_adam.step, repeats=50, warmup=3)))
    print(f"Adam step over {len(params)} parameters, {count / 1e6:.2f} M numbers (best of 50):")
    for name, ms in rows:
        print(f"  {name:28s} {ms:6.2f} ms")

    generator, copy = Generator(), Generator()
    moving = average.WeightAverage(generator, copy, 0.999)
    update = lambda: moving.update(10_000)  # noqa: E731  (past the warm-up: d = decay)
    fused = best_time(update, repeats=50, warmup=3)
    average.lerp_ = kernels.reference_lerp_
    try:
        sweeps = best_time(update, repeats=50, warmup=3)
    finally:
        average.lerp_ = kernels.lerp_
    count = sum(p.data.size for p in generator.parameters())
    print(f"Weight average update over G's {count / 1e6:.2f} M weights (best of 50):")
    print(f"  {'tinygan (fused kernel)':28s} {fused:6.2f} ms\n  {'numpy (reference)':28s} {sweeps:6.2f} ms")


if __name__ == "__main__":
    main()
