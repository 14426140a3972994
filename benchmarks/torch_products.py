"""Where torch's speed on the DCGAN comes from: its matrix products, or its convolutions?

For each big product of the DCGAN step (tinygan's shapes, benchmarks/bench_layers.py), the
rate of NumPy's BLAS (what tinygan's products run on) and of torch.mm (MKL in the pip
wheels); then the forward of the two big stride-2 layers in torch (oneDNN, which computes a
convolution directly, never building an im2col matrix) against tinygan's forward and
the product inside it alone, tinygan given its input batch-last, as a step hands it over
(bench_layers.py).  Best of 20, in one process, both on 2 threads.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/torch_products.py
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_layers import as_a_step_hands_it, conv_gemm_shapes, conv_layers  # noqa: E402
from common import best_time, machine_description, print_table, try_import_torch  # noqa: E402

import tinygan.functional as F  # noqa: E402
from tinygan.kernels.gemm import gemm  # noqa: E402

REPEATS = 20
BIG_LAYERS = ("G convT 4w->2w k4 s2 (7->14)", "D conv w->2w k4 s2 (14->7)")


def layer_products(kind, x_shape, w_shape, stride, padding, input_grad):
    """The layer's (m, k, n) products, forward first, as bench_layers.conv_gemm_shapes lists them."""
    if kind == "conv":
        out_hw = tuple((size + 2 * padding - k) // stride + 1 for size, k in zip(x_shape[2:], w_shape[2:]))
    else:
        out_hw = x_shape[2:]  # the transposed convolution's products run over its input's pixels
    return conv_gemm_shapes(kind, x_shape, w_shape, out_hw, input_grad)


def main() -> None:
    torch = try_import_torch(threads=2)
    if torch is None:
        sys.exit("torch_products.py compares against torch, which is not installed")
    machine = machine_description()
    print(f"{machine['cpu']}; BLAS {machine['blas']}; torch {torch.backends.cpu.get_cpu_capability()}\n")
    rng = np.random.default_rng(0)
    layers = [layer for layer in conv_layers(batch=64, width=64) if layer[0] in BIG_LAYERS]

    products = []
    for name, *layer in layers:
        for m, k, n in layer_products(*layer):
            a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            gflop = 2 * m * k * n / 1e9
            products.append({"layer": name, "product (m, k, n)": f"({m}, {k}, {n})",
                             "tinygan gemm GFLOP/s": gflop / best_time(lambda: gemm(a, b), REPEATS) * 1e3,
                             "torch.mm GFLOP/s": gflop / best_time(lambda: torch.mm(ta, tb), REPEATS) * 1e3})
    print_table(products, ["layer", "product (m, k, n)", "tinygan gemm GFLOP/s", "torch.mm GFLOP/s"])

    forwards = []
    for name, kind, x_shape, w_shape, stride, padding, input_grad in layers:
        x = rng.standard_normal(x_shape).astype(np.float32)
        w = (0.02 * rng.standard_normal(w_shape)).astype(np.float32)
        ours = F.conv2d if kind == "conv" else F.conv_transpose2d
        theirs = torch.nn.functional.conv2d if kind == "conv" else torch.nn.functional.conv_transpose2d
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        x_ours = as_a_step_hands_it(x)
        m, k, n = layer_products(kind, x_shape, w_shape, stride, padding, input_grad)[0]  # the forward's
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        forwards.append({"layer (forward only)": name,
                         "torch ms": best_time(lambda: theirs(xt, wt, stride=stride, padding=padding), REPEATS),
                         "tinygan ms": best_time(lambda: ours(x_ours, w, stride=stride, padding=padding), REPEATS),
                         "its product alone ms": best_time(lambda: gemm(a, b), REPEATS)})
    print()
    print_table(forwards, ["layer (forward only)", "torch ms", "tinygan ms", "its product alone ms"])


if __name__ == "__main__":
    main()
