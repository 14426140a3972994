"""Does the import order change tinygan's step, or only torch's running beside it?

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_import_order.py --repeat 2

bench_dcgan.py times tinygan's step in blocks that alternate with torch's, in one process.
Its rows differ by a few percent with the import order, and this script tells the two
possible causes apart.  Each cell is a fresh process that imports NumPy, torch and tinygan
in the order of its row (dcgan_step_worker.py does the imports), builds the plain step of
both frameworks, then times tinygan's step

* alone: torch imported, its model built and warmed up, but not run between tinygan's blocks;
* alternating: blocks of tinygan steps between blocks of torch steps, as bench_dcgan.py does;

each the median block of 4 steps over 6 blocks, and the median over --repeat processes.
If "alone" is the same in every order and "alternating" is not, the difference comes
from what torch's threads do after torch's own steps, not from tinygan.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import machine_description, print_table  # noqa: E402

ORDERS = ("numpy-first", "torch-first", "tinygan-first")
BLOCKS, STEPS_PER_BLOCK = 6, 4

# Run in a fresh process: the worker module does the imports in the order of sys.argv.
CELL = """
import json, os, statistics, sys
sys.argv = ["worker", "--import-order", sys.argv[1]]
sys.path.insert(0, {here!r})
import dcgan_step_worker as worker
import torch
torch.set_num_threads(os.cpu_count() or 1)  # as the worker does
ours, G, D = worker.tinygan_step_function("plain", 64, 64, 100)
theirs = worker.torch_step_function(G, D, 64, 64, 100)
for fn in (ours, theirs, ours, theirs):
    fn()
alone = [worker.block_ms(ours, {steps}) for _ in range({blocks})]
alternating, torch_ms = [], []
for _ in range({blocks}):
    alternating.append(worker.block_ms(ours, {steps}))
    torch_ms.append(worker.block_ms(theirs, {steps}))
print(json.dumps(dict(alone=statistics.median(alone), alternating=statistics.median(alternating),
                      torch=statistics.median(torch_ms))))
""".format(here=HERE, steps=STEPS_PER_BLOCK, blocks=BLOCKS)


def cell(order: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CELL, order], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"the {order} cell failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2, help="fresh processes per order (medians)")
    args = parser.parse_args(argv)
    machine = machine_description()
    print(f"{machine['cpu']}; BLAS {machine['blas']}\n")
    results = {order: [] for order in ORDERS}
    for _ in range(args.repeat):
        for order in ORDERS:
            results[order].append(cell(order))
    rows = [{"import order": order,
             "tinygan alone ms": statistics.median(r["alone"] for r in runs),
             "tinygan alternating with torch ms": statistics.median(r["alternating"] for r in runs),
             "torch ms": statistics.median(r["torch"] for r in runs)} for order, runs in results.items()]
    print_table(rows, ["import order", "tinygan alone ms", "tinygan alternating with torch ms", "torch ms"])


if __name__ == "__main__":
    main()
