"""One DCGAN training step, tinygan against torch, measured the way users run it.

A user's script imports NumPy first (and maybe torch), runs on whatever CPU it gets, with
other programs running, and exports no environment variable for tinygan.  So every cell of
the table is a fresh process (benchmarks/dcgan_step_worker.py) that

* imports NumPy, torch and tinygan in the order of its row (--import-order),
* runs the step of its column (--step): `plain`, the standard DCGAN step written with
  tinygan's public API as a PyTorch user writes it, or `trainer`, DCGANTrainer.train_step
  (the step `tinygan train` runs),
* times tinygan and torch (2.x, its default threads) side by side, in alternating blocks
  of steps, and reports the median block of each and their ratio (with --repeat R, the
  median over R such processes: one process's numbers move by 5-10% from run to run),
* optionally with one CPU-bound process running beside it (--busy): `python -c "while
  True: pass"`, started before the worker and killed after it,
* optionally as an AVX2-only CPU would run it (--cpu avx2, on a CPU with AVX-512): every
  library in the worker is told to stop at AVX2 (see AVX2_ONLY).  Setting only
  OPENBLAS_CORETYPE=Haswell slows NumPy's products down to an AVX2 CPU's while torch keeps
  its AVX-512 code, which no real CPU does.

Batch 64, ngf = ndf = 64, float32, Adam; both frameworks start from the same weights.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_dcgan.py --json benchmarks/results/dcgan.json
    python benchmarks/bench_dcgan.py --import-order numpy-first --step plain --busy both   # a subset
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_dcgan.py --cpu avx2 --json benchmarks/results/dcgan_avx2.json
    python benchmarks/bench_dcgan.py --quick                                                 # smoke test
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import print_table, write_json  # noqa: E402

BUSY_LOOP = "while True: pass"
# The rows; dcgan_step_worker.py maps each to the order of its imports.
ORDERS = ("numpy-first", "torch-first", "tinygan-first")
# An AVX2-only CPU (AMD before Zen 4, Intel desktop chips), emulated on one with AVX-512:
# the instruction set each library in the worker may use, as it would find it there.
AVX2_ONLY = {
    "OPENBLAS_CORETYPE": "Haswell",  # NumPy's OpenBLAS: its AVX2 kernels (tinygan's products)
    "NUMBA_CPU_NAME": "haswell",  # tinygan's kernels, compiled for an AVX2 CPU
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # torch's convolutions (oneDNN)
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's other kernels
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # torch's matrix products (MKL)
}


def run_cell(order: str, step: str, busy: bool, options: list[str], environment: dict) -> dict:
    """Run one worker process (with a busy neighbour if asked) and return its JSON result."""
    neighbour = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
    try:
        output = subprocess.run([sys.executable, os.path.join(HERE, "dcgan_step_worker.py"),
                                 "--import-order", order, "--step", step, *options],
                                check=True, capture_output=True, text=True, env=environment)
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    return json.loads(output.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--import-order", choices=[*ORDERS, "all"], default="all")
    parser.add_argument("--step", choices=("plain", "trainer", "all"), default="all")
    parser.add_argument("--busy", choices=("no", "yes", "both"), default="both",
                        help="with one CPU-bound process running beside the benchmark")
    parser.add_argument("--cpu", choices=("native", "avx2"), default="native",
                        help="avx2: run as an AVX2-only CPU would (every library limited to AVX2; see AVX2_ONLY)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="fresh processes per cell; the cell reports their median (run-to-run noise here is ~5-10%%)")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--steps-per-block", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="batch 8, width 8, 2 blocks of 2: a smoke test")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    options = ["--blocks", str(args.blocks), "--steps-per-block", str(args.steps_per_block)]
    if args.quick:
        options = ["--batch", "8", "--width", "8", "--blocks", "2", "--steps-per-block", "2"]
    orders = list(ORDERS) if args.import_order == "all" else [args.import_order]
    steps = ["plain", "trainer"] if args.step == "all" else [args.step]
    loads = {"no": [False], "yes": [True], "both": [False, True]}[args.busy]

    environment = dict(os.environ, **(AVX2_ONLY if args.cpu == "avx2" else {}))

    rows, machine = [], None
    for busy, order, step in itertools.product(loads, orders, steps):
        runs = [run_cell(order, step, busy, options, environment) for _ in range(args.repeat)]
        machine = runs[-1]["machine"]
        result = {name: statistics.median(run[name] for run in runs) for name in ("tinygan", "torch")}
        result["ratio"] = statistics.median(run["ratio"] for run in runs)
        rows.append({"import order": order, "step": step, "busy": "yes" if busy else "no",
                     "tinygan ms": result["tinygan"], "torch ms": result["torch"], "ratio": result["ratio"]})
        print(f"  {order:14s} {step:8s} busy={rows[-1]['busy']:3s}  tinygan {result['tinygan']:7.1f} ms  "
              f"torch {result['torch']:7.1f} ms  ratio {result['ratio']:.2f}", flush=True)

    print("\nmachine:", json.dumps(machine, indent=1), "\n")
    print_table(rows, ["import order", "step", "busy", "tinygan ms", "torch ms", "ratio"])
    write_json(args.json, {"machine": machine, "cpu": args.cpu, "rows": rows})
    return rows


if __name__ == "__main__":
    main()
