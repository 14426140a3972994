"""Where a DCGAN training step's time goes: per op, and per data-movement kernel inside the ops.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/ops_in_step.py

Times `DCGANTrainer.train_step` (the defaults: batch 64, widths 64) with a timer around
every op's forward and backward (each `Function` subclass), and around the calls inside
the convolutions: im2col, col2im, the Winograd transforms, the matrix products (grouped by shape) and the layout
changes between images and product operands (views, unless an array comes in the other
memory order: kernels/layout.py).  The kernel
rows are *part of* the op rows that call them, so only the op rows add up to the step;
what is left over is the optimizer, the loss bookkeeping and Python -- and conv2d's weight
gradients, which are computed when `.grad` is read (autograd.DeferredGradient): by the next
backward that adds to them, or by the optimizer, outside any op row, though their
kernels still have rows.
benchmarks/products_in_step.py compares the products in the step with the same products
alone; this script shows what surrounds them.  Its last line is the CPU time of the calling
thread and of all the other threads together, per step: how much of the two cores' time the
step leaves unused (threads that wait sleep, so their CPU time is work).
"""
from __future__ import annotations

import collections
import functools
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine_description, print_table  # noqa: E402

import tinygan.ops  # noqa: E402,F401  (every op module, so that every Function subclass exists)
from tinygan import autograd  # noqa: E402
from tinygan.kernels import gemm, winograd  # noqa: E402
from tinygan.ops import conv  # noqa: E402
from tinygan.runtime import usable_cores  # noqa: E402
from tinygan.train import DCGANTrainer, TrainConfig, load_training_digits  # noqa: E402

WARMUP_STEPS, STEPS = 5, 20
seconds = collections.defaultdict(float)  # (kind, name) -> seconds over the timed steps


def timed(kind: str, name_of, function):
    """`function`, adding the time of each call to seconds[(kind, name_of(*args))]."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[kind, name_of(*args)] += time.perf_counter() - started
    return wrapper


def all_ops(base=autograd.Function):
    for op in base.__subclasses__():
        yield op
        yield from all_ops(op)


def instrument() -> None:
    for op in set(all_ops()):
        for direction in ("forward", "backward"):
            if direction in vars(op):  # its own method, not one inherited from another op
                setattr(op, direction, staticmethod(timed("op", lambda *_, op=op, d=direction: f"{op.__name__}.{d}",
                                                          getattr(op, direction))))
    # im2col and col2im as the convolutions call them: im2col(x, ...), col2im(cols, ...)
    conv.im2col = timed("kernel", lambda x, *_: f"im2col of x {x.shape}", conv.im2col)
    conv.col2im = timed("kernel", lambda cols, *_: f"col2im of cols {cols.shape}", conv.col2im)
    # the layout changes around the products (a view, or a copy when the array is in the other order)
    conv._as_image = timed("kernel", lambda rows, *_, **__: f"product -> image {rows.shape}", conv._as_image)
    conv._to_columns = timed("kernel", lambda x: f"image -> product operand {x.shape}", conv._to_columns)
    gemm._Pool.multiply = timed("kernel", lambda pool, a, b: f"product {a.shape[-2:]} @ {b.shape[-2:]}",
                                gemm._Pool.multiply)
    # the Winograd transforms of the stride-2 4x4 layers (kernels/winograd.py), named by what they read
    for name in ("image_tiles", "image_from_tiles", "output_tiles", "output_from_tiles", "filter_tiles",
                 "filter_from_tiles"):
        setattr(winograd, name, timed("kernel", lambda a, *_, name=name: f"winograd {name} of {a.shape}",
                                      getattr(winograd, name)))


def thread_cpu_ms() -> dict:
    """CPU time (user + system) of each thread of this process so far, in ms, by thread id (Linux)."""
    ticks = 1e3 / os.sysconf("SC_CLK_TCK")
    times = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        times[int(tid)] = (int(fields[11]) + int(fields[12])) * ticks  # utime, stime
    return times


def main() -> None:
    machine = machine_description()
    print(f"{machine['cpu']}; BLAS {machine['blas']}\n")
    config = TrainConfig()
    trainer = DCGANTrainer(config, *load_training_digits(config))
    instrument()
    for _ in range(WARMUP_STEPS):
        trainer.train_next_batch()
    seconds.clear()
    cpu_before = thread_cpu_ms() if os.path.isdir("/proc/self/task") else None
    started = time.perf_counter()
    for _ in range(STEPS):
        trainer.train_next_batch()
    step_ms = 1e3 * (time.perf_counter() - started) / STEPS
    cpu_after = thread_cpu_ms() if cpu_before is not None else None

    rows = [{"kind": kind, "what": name, "ms per step": 1e3 * total / STEPS}
            for (kind, name), total in sorted(seconds.items(), key=lambda item: -item[1])]
    ops_ms = sum(row["ms per step"] for row in rows if row["kind"] == "op")
    print_table(rows, ["kind", "what", "ms per step"])
    print(f"\nstep {step_ms:.1f} ms: the ops {ops_ms:.1f} ms, the rest (optimizers, losses, Python) "
          f"{step_ms - ops_ms:.1f} ms")
    if cpu_after is not None:
        # How busy the cores are: the calling thread against all the others (the product helper and
        # Numba's threads).  Idle threads sleep (docs/performance.md), so CPU time is work done.
        busy = {tid: (ms - cpu_before.get(tid, 0.0)) / STEPS for tid, ms in cpu_after.items()}
        caller = busy.pop(threading.get_native_id(), 0.0)
        print(f"CPU time per step: the calling thread {caller:.1f} ms, the other threads {sum(busy.values()):.1f} ms "
              f"(of {usable_cores()} x {step_ms:.1f} ms)")


if __name__ == "__main__":
    main()
