"""Forward+backward time of every DCGAN layer at the shapes the model uses (batch 64, width 64).

For each layer: tinygan, torch (when installed, 2 threads) and, for the convolutions, a
tutorial-style NumPy implementation (benchmarks/tutorial_numpy.py).  For convolutions
also the arithmetic rate (GFLOP/s) and the rate NumPy's BLAS reaches on the very same
GEMM shapes alone, so "% of GEMM" says how much time goes to data movement.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_layers.py --json benchmarks/results/layers.json
    python benchmarks/bench_layers.py --quick      # smoke test: tiny batch, 1 repeat

tinygan gets its arrays in the memory order a training step hands them over: the
activations and upstream gradients between layers batch-last (kernels/layout.py: what the
convolutions and batch norm produce), the noise and the real images batch-major (what a
user's script makes).  Small layers' times move by 2x and more from run to run on a busy
VM; the step benchmarks (bench_dcgan.py) are the ones to compare frameworks with.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tutorial_numpy  # noqa: E402
from common import best_time, machine_description, print_table, try_import_torch, write_json  # noqa: E402

import tinygan as tg  # noqa: E402
import tinygan.functional as F  # noqa: E402
from tinygan.kernels import layout  # noqa: E402


def as_a_step_hands_it(a: np.ndarray, from_the_user: bool = False) -> np.ndarray:
    """a's values in the memory order a training step gives the layer (see the docstring)."""
    if from_the_user or a.ndim != 4 or not hasattr(layout, "BATCH_LAST"):
        return a
    return layout.like(a, layout.empty(a.shape, a.dtype, layout.BATCH_LAST))


class _Activation(tg.autograd.Function):
    """The identity, whose backward drops the gradient it gets: a layer's input that is an
    activation, as in a step, rather than a leaf (whose .grad would be a batch-major copy)."""

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return (None,)


def conv_layers(batch: int, width: int, nz: int = 100):
    """(name, kind, input shape, weight shape, stride, padding, input needs grad) of the DCGAN's convolutions."""
    g4, g2, d1, d2 = width * 4, width * 2, width, width * 2
    return [
        ("G convT nz->4w k7 s1 (1->7)", "transposed", (batch, nz, 1, 1), (nz, g4, 7, 7), 1, 0, False),
        ("G convT 4w->2w k4 s2 (7->14)", "transposed", (batch, g4, 7, 7), (g4, g2, 4, 4), 2, 1, True),
        ("G convT 2w->1 k4 s2 (14->28)", "transposed", (batch, g2, 14, 14), (g2, 1, 4, 4), 2, 1, True),
        ("D conv 1->w k4 s2 (28->14)", "conv", (batch, 1, 28, 28), (d1, 1, 4, 4), 2, 1, False),
        ("D conv w->2w k4 s2 (14->7)", "conv", (batch, d1, 14, 14), (d2, d1, 4, 4), 2, 1, True),
        ("D conv 2w->1 k7 s1 (7->1)", "conv", (batch, d2, 7, 7), (1, d2, 7, 7), 1, 0, True),
    ]


def pointwise_layers(batch: int, width: int):
    """(name, input shape, tinygan fn, torch fn name) of the batch norms and activations."""
    return [
        ("G BatchNorm2d 4w @7x7", (batch, width * 4, 7, 7), "batch_norm"),
        ("G BatchNorm2d 2w @14x14", (batch, width * 2, 14, 14), "batch_norm"),
        ("G ReLU 4w x7x7", (batch, width * 4, 7, 7), "relu"),
        ("G Tanh 1x28x28", (batch, 1, 28, 28), "tanh"),
        ("D LeakyReLU(0.2) w x14x14", (batch, width, 14, 14), "leaky_relu"),
        ("D BatchNorm2d 2w @7x7", (batch, width * 2, 7, 7), "batch_norm"),
        ("D Sigmoid", (batch, 1, 1, 1), "sigmoid"),
    ]


def conv_gemm_shapes(kind, x_shape, w_shape, out_hw, input_grad):
    """The (m, k, n) GEMMs a forward+backward performs, as tinygan lays them out."""
    n = x_shape[0]
    if kind == "conv":
        out_c, in_c, kh, kw = w_shape
        rows, columns = in_c * kh * kw, n * out_hw[0] * out_hw[1]
        gemms = [(out_c, rows, columns), (out_c, columns, rows)]
        return gemms + ([(rows, out_c, columns)] if input_grad else [])
    in_c, out_c, kh, kw = w_shape
    rows, columns = out_c * kh * kw, n * x_shape[2] * x_shape[3]
    gemms = [(rows, in_c, columns), (in_c, columns, rows)]
    return gemms + ([(in_c, rows, columns)] if input_grad else [])


def gemm_milliseconds(shapes, dtype, repeats):
    rng = np.random.default_rng(0)
    pairs = [(rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, n)).astype(dtype)) for m, k, n in shapes]
    return best_time(lambda: [a * b if a.shape[1] == 1 else a @ b for a, b in pairs], repeats)


def bench_conv(name, kind, x_shape, w_shape, stride, padding, input_grad, torch, repeats):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = (0.02 * rng.standard_normal(w_shape)).astype(np.float32)
    ours_fn = F.conv2d if kind == "conv" else F.conv_transpose2d

    # the first layer of each network reads the user's noise or images; the others, activations
    x_t = tg.Tensor(as_a_step_hands_it(x, from_the_user=not input_grad), requires_grad=input_grad)
    w_t = tg.tensor(w, requires_grad=True)
    out = ours_fn(x_t, w_t, stride=stride, padding=padding)
    grad = rng.standard_normal(out.shape).astype(np.float32)
    grad_ours = as_a_step_hands_it(grad)

    def ours():
        w_t.grad = None
        x = _Activation.apply(x_t) if input_grad else x_t
        ours_fn(x, w_t, stride=stride, padding=padding).backward(tg.Tensor(grad_ours))
        w_t.grad  # a conv2d weight gradient is computed when read (autograd.DeferredGradient): torch's is timed too

    row = {"layer": name, "tinygan ms": best_time(ours, repeats)}
    if torch is not None:
        torch_fn = torch.nn.functional.conv2d if kind == "conv" else torch.nn.functional.conv_transpose2d
        xt = torch.tensor(x, requires_grad=input_grad)
        wt = torch.tensor(w, requires_grad=True)
        gt = torch.tensor(grad)

        def theirs():
            xt.grad = wt.grad = None
            torch_fn(xt, wt, stride=stride, padding=padding).backward(gt)
        row["torch ms"] = best_time(theirs, repeats)
        row["ratio"] = row["tinygan ms"] / row["torch ms"]

    if kind == "conv":
        tutorial = lambda: tutorial_numpy.conv2d_forward_backward(x, w, stride, padding, grad)
    else:
        tutorial = lambda: tutorial_numpy.conv_transpose2d_forward_backward(x, w, stride, padding, out.shape, grad)
    row["numpy-tutorial ms"] = best_time(tutorial, max(1, repeats // 2))
    row["speed-up vs tutorial"] = row["numpy-tutorial ms"] / row["tinygan ms"]

    out_hw = out.shape[2:] if kind == "conv" else x_shape[2:]
    gemms = conv_gemm_shapes(kind, x_shape, w_shape, out_hw, input_grad)
    flops = sum(2 * m * k * n for m, k, n in gemms)
    gemm_ms = gemm_milliseconds(gemms, np.float32, repeats)
    row["GFLOP/s"] = flops / row["tinygan ms"] / 1e6
    row["GEMM-only GFLOP/s"] = flops / gemm_ms / 1e6
    row["% of GEMM"] = 100 * gemm_ms / row["tinygan ms"]
    return row


def bench_pointwise(name, shape, kind, torch, repeats):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    grad = rng.standard_normal(shape).astype(np.float32)
    channels = shape[1]
    if kind == "batch_norm":
        weight, bias = np.ones(channels, np.float32), np.zeros(channels, np.float32)
        running = [np.zeros(channels, np.float32), np.ones(channels, np.float32)]
        ours_fn = lambda t, wb: F.batch_norm(t, *running, *wb, training=True)
    elif kind == "leaky_relu":
        ours_fn = lambda t, wb: F.leaky_relu(t, 0.2)
    else:
        ours_fn = lambda t, wb: getattr(F, kind)(t)
    x_t = tg.Tensor(as_a_step_hands_it(x), requires_grad=True)
    wb_t = [tg.tensor(weight, requires_grad=True), tg.tensor(bias, requires_grad=True)] if kind == "batch_norm" else []
    grad_ours = tg.Tensor(as_a_step_hands_it(grad))

    def ours():
        ours_fn(_Activation.apply(x_t), wb_t).backward(grad_ours)
    row = {"layer": name, "tinygan ms": best_time(ours, repeats)}
    if torch is not None:
        tf = torch.nn.functional
        xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(grad)
        if kind == "batch_norm":
            wbt = [torch.tensor(weight, requires_grad=True), torch.tensor(bias, requires_grad=True)]
            run_t = [torch.tensor(r) for r in running]
            theirs_fn = lambda: tf.batch_norm(xt, *run_t, *wbt, training=True)
        elif kind == "leaky_relu":
            theirs_fn = lambda: tf.leaky_relu(xt, 0.2)
        else:
            theirs_fn = lambda: getattr(torch, kind)(xt)

        def theirs():
            xt.grad = None
            theirs_fn().backward(gt)
        row["torch ms"] = best_time(theirs, repeats)
        row["ratio"] = row["tinygan ms"] / row["torch ms"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=64, help="ngf = ndf")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="batch 4, width 8, 1 repeat: a smoke test")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.width, args.repeats = 4, 8, 1
    torch = try_import_torch(threads=2)
    machine = machine_description()
    print("machine:", machine)
    print(f"\nbatch {args.batch}, width {args.width}, float32, forward+backward, best of {args.repeats}\n")
    rows = [bench_conv(*layer, torch, args.repeats) for layer in conv_layers(args.batch, args.width)]
    print_table(rows, ["layer", "tinygan ms", "torch ms", "ratio", "numpy-tutorial ms", "speed-up vs tutorial",
                       "GFLOP/s", "GEMM-only GFLOP/s", "% of GEMM"])
    print()
    pointwise = [bench_pointwise(*layer, torch, args.repeats) for layer in pointwise_layers(args.batch, args.width)]
    print_table(pointwise, ["layer", "tinygan ms", "torch ms", "ratio"])
    write_json(args.json, {"machine": machine, "batch": args.batch, "width": args.width,
                           "convolutions": rows, "pointwise": pointwise})
    return rows + pointwise


if __name__ == "__main__":
    main()
