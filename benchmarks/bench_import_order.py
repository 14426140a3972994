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

import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import fresh_process, print_table, round_robin  # noqa: E402

ORDERS = ("numpy-first", "torch-first", "tinygan-first")
BLOCKS, STEPS_PER_BLOCK = 6, 4

# Run in a fresh process: the worker module does the imports in the order of sys.argv.
CELL = """
import json, os, statistics, sys
sys.argv = ["worker", "--import-order", sys.argv[1]]
sys.path.insert(0, {here!r})
import dcgan_step_worker as worker
import torch
from common import block_ms
torch.set_num_threads(os.cpu_count() or 1)  # as the worker does
ours, G, D = worker.tinygan_step_function("plain", 64, 64, 100)
theirs = worker.torch_step_function(G, D, 64, 64, 100)
for fn in (ours, theirs, ours, theirs):
    fn()
alone = [block_ms(ours, {steps}) for _ in range({blocks})]
alternating, torch_ms = [], []
for _ in range({blocks}):
    alternating.append(block_ms(ours, {steps}))
    torch_ms.append(block_ms(theirs, {steps}))
print(json.dumps(dict(alone=statistics.median(alone), alternating=statistics.median(alternating),
                      torch=statistics.median(torch_ms))))
""".format(here=HERE, steps=STEPS_PER_BLOCK, blocks=BLOCKS)


def cell(order: str) -> dict:
    return fresh_process(CELL, order, what=f"the {order} cell")


def main(argv=None) -> None:
    results = round_robin(__doc__, ORDERS, cell, default_repeat=2, argv=argv)
    rows = [{"import order": order,
             "tinygan alone ms": statistics.median(r["alone"] for r in runs),
             "tinygan alternating with torch ms": statistics.median(r["alternating"] for r in runs),
             "torch ms": statistics.median(r["torch"] for r in runs)} for order, runs in results.items()]
    print_table(rows, ["import order", "tinygan alone ms", "tinygan alternating with torch ms", "torch ms"])


if __name__ == "__main__":
    main()
