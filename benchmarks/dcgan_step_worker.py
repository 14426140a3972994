"""One cell of bench_dcgan.py's table, in a process of its own: imports in the order asked.

The order in which a script imports NumPy, torch and tinygan decides which threading
runtimes start first and with which settings, so each configuration needs a fresh process
whose very first lines do exactly those imports -- nothing above them may import NumPy.

    python benchmarks/dcgan_step_worker.py --import-order numpy-first --step plain

prints one JSON line: tinygan's and torch's milliseconds per step, measured side by side
in this process in alternating blocks of steps, and the machine description.
"""
import importlib
import sys

ORDERS = {
    "numpy-first": ("numpy", "torch", "tinygan"),   # what most scripts do
    "torch-first": ("torch", "numpy", "tinygan"),
    "tinygan-first": ("tinygan", "numpy", "torch"),
}


def _order_from_argv(argv) -> str:
    if "--import-order" in argv:
        return argv[argv.index("--import-order") + 1]
    return "numpy-first"


_ORDER = _order_from_argv(sys.argv)
if _ORDER not in ORDERS:
    sys.exit(f"--import-order must be one of {', '.join(ORDERS)}, got {_ORDER!r}")
for _name in ORDERS[_ORDER]:
    importlib.import_module(_name)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference  # noqa: E402
from plain_step import plain_step_function  # noqa: E402
from common import block_ms, machine_description  # noqa: E402

from tinygan.train import DCGANTrainer, TrainConfig  # noqa: E402


def tinygan_step_function(step: str, batch: int, width: int, nz: int):
    """A no-argument callable running one tinygan step, and the models (to copy into torch)."""
    config = TrainConfig(batch_size=batch, nz=nz, ngf=width, ndf=width, seed=0)
    trainer = DCGANTrainer(config, images=np.zeros((batch, 28, 28), dtype=np.uint8))
    G, D = trainer.generator, trainer.discriminator
    real = np.random.default_rng(0).uniform(-1, 1, (batch, 1, 28, 28)).astype(np.float32)
    if step == "trainer":  # the step `tinygan train` runs
        return (lambda: trainer.train_step(real)), G, D
    return plain_step_function(G, D, batch, nz), G, D  # the same digits as `real`


def torch_step_function(G, D, batch: int, width: int, nz: int):
    """torch's standard step on the same architecture, with tinygan's weights copied over (strict)."""
    g, d = torch_reference.build_dcgan(torch, nz, width)
    for theirs, ours in ((g, G), (d, D)):
        theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()}, strict=True)
    opt_g, opt_d = torch_reference.adam_pair(torch, g, d)
    real = torch.rand(batch, 1, 28, 28) * 2 - 1
    noise = torch.randn(batch, nz, 1, 1)
    return lambda: torch_reference.training_step(torch, g, d, opt_g, opt_d, real, noise)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--import-order", choices=list(ORDERS), default="numpy-first")
    parser.add_argument("--step", choices=("plain", "trainer"), default="plain")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=64, help="ngf = ndf")
    parser.add_argument("--nz", type=int, default=100)
    parser.add_argument("--blocks", type=int, default=5, help="alternating blocks per framework")
    parser.add_argument("--steps-per-block", type=int, default=4)
    args = parser.parse_args(argv)

    torch.set_num_threads(os.cpu_count() or 1)  # torch's own default on a machine this size
    ours, G, D = tinygan_step_function(args.step, args.batch, args.width, args.nz)
    theirs = torch_step_function(G, D, args.batch, args.width, args.nz)
    for fn in (ours, theirs, ours, theirs):  # warm-up: compilation, first-touch, caches
        fn()
    times = {"tinygan": [], "torch": []}
    for _ in range(args.blocks):  # alternate, so a slow moment of the machine hits both
        times["tinygan"].append(block_ms(ours, args.steps_per_block))
        times["torch"].append(block_ms(theirs, args.steps_per_block))
    result = {name: statistics.median(values) for name, values in times.items()}
    result["ratio"] = result["tinygan"] / result["torch"]
    result["machine"] = machine_description()
    # What torch's own kernels run (bench_dcgan.py --cpu avx2 lowers it), and its ISA settings.
    result["machine"]["torch cpu capability"] = torch.backends.cpu.get_cpu_capability()
    result["machine"]["environment"].update(
        {name: value for name, value in os.environ.items() if name.startswith(("ONEDNN_", "ATEN_"))})
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
