"""tinygan's plain step in fresh processes that differ only in what they imported, and in what order.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_import_alone.py --repeat 6

bench_import_order.py times tinygan's step beside torch's DCGAN, built and run in the same
process.  This one leaves torch's DCGAN out, to tell the import order itself from what
torch's own steps leave behind: NumPy before or after tinygan, torch imported before or
after and never run, or imported after and run a little (a few products and one
convolution).  Each cell is the median block of 4 steps over 6 blocks in a fresh
process, the rows taken in turn --repeat times (round robin, so that a slow spell of
the machine falls on every row); the table gives each row's median and spread.
"""
from __future__ import annotations

import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from common import fresh_process, print_table, round_robin  # noqa: E402

CELL = """
{imports}
import json, statistics, sys
sys.path.insert(0, {here!r})
from common import block_ms
from plain_step import plain_step_function
from tinygan.models.dcgan import Discriminator, Generator
step = plain_step_function(Generator(nz=100, ngf=64), Discriminator(ndf=64), batch=64, nz=100)
{torch_work}
for _ in range(2):
    step()
print(json.dumps(statistics.median(block_ms(step, 4) for _ in range(6))))
"""
TORCH_RUNS = ("torch.set_num_threads(2); a = torch.randn(512, 512); [a @ a for _ in range(20)]; "
              "torch.nn.functional.conv2d(torch.randn(64, 64, 14, 14), torch.randn(128, 64, 4, 4), stride=2)")
ROWS = {  # row: (the imports, in order; what torch does before tinygan's steps)
    "numpy, tinygan": ("import numpy\nimport tinygan", ""),
    "tinygan, numpy": ("import tinygan\nimport numpy", ""),
    "numpy, torch, tinygan (torch idle)": ("import numpy\nimport torch\nimport tinygan", ""),
    "tinygan, numpy, torch (torch idle)": ("import tinygan\nimport numpy\nimport torch", ""),
    "tinygan, numpy, torch (torch ran)": ("import tinygan\nimport numpy\nimport torch", TORCH_RUNS),
}


def cell(row: str) -> float:
    imports, torch_work = ROWS[row]
    return fresh_process(CELL.format(imports=imports, torch_work=torch_work, here=HERE), what=f"the row {row!r}")


def main(argv=None) -> None:
    results = round_robin(__doc__, ROWS, cell, default_repeat=6, argv=argv)
    print_table([{"imports": row, "median ms": statistics.median(runs), "fastest ms": min(runs),
                  "slowest ms": max(runs)} for row, runs in results.items()],
                ["imports", "median ms", "fastest ms", "slowest ms"])


if __name__ == "__main__":
    main()
