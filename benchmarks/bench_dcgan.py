"""One full DCGAN training step, tinygan against torch, side by side in one process.

torch is timed twice: in this process (after tinygan, so under tinygan's thread
settings), and alone in a fresh process with only its own defaults ("torch alone");
the worse of the two ratios is the honest one.

The step is the one `tinygan train` runs (`DCGANTrainer.train_step`): D on a real batch
and on a detached fake batch, then G through D, both with Adam; torch runs the standard
PyTorch DCGAN step.  The two frameworks get the same
model (torch's weights are copied from tinygan's), the same batch and the same noise.
Also: a cProfile of tinygan's step (where the time goes), per-phase timings, and peak RSS.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_dcgan.py --json benchmarks/results/dcgan.json
    python benchmarks/bench_dcgan.py --quick      # smoke test
"""
from __future__ import annotations

import argparse
import copy
import cProfile
import io
import os
import pstats
import resource
import subprocess
import sys

import tinygan  # noqa: F401  (first: it sets OpenBLAS's thread timeout before NumPy loads it)
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference  # noqa: E402
from common import best_time, machine_description, print_table, try_import_torch, write_json  # noqa: E402

from tinygan.train import DCGANTrainer, TrainConfig  # noqa: E402


def torch_models(torch, G, D, nz, width):
    """The same architecture in torch, with tinygan's weights copied over (strict)."""
    g, d = torch_reference.build_dcgan(torch, nz, width)
    for theirs, ours in ((g, G), (d, D)):
        theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()}, strict=True)
    return g, d


def torch_alone_ms(batch, width, nz, repeats) -> float:
    """torch's step time in a fresh process without tinygan (so without its thread settings)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_reference.py")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY")}
    output = subprocess.run([sys.executable, script, "--batch", str(batch), "--width", str(width), "--nz", str(nz),
                             "--repeats", str(repeats)], env=env, check=True, capture_output=True, text=True)
    return float(output.stdout.split()[-1])


def profile_top(fn, steps: int, lines: int = 15) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        fn()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(lines)
    return text.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--width", type=int, default=64, help="ngf = ndf")
    parser.add_argument("--nz", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="print tinygan's cProfile top lines")
    parser.add_argument("--without-torch", action="store_true", help="time tinygan alone, torch not even imported")
    parser.add_argument("--quick", action="store_true", help="batch 8, width 8, 2 repeats: a smoke test")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.width, args.repeats = 8, 8, 2

    # The step timed is the one `tinygan train` runs: DCGANTrainer.train_step.
    config = TrainConfig(batch_size=args.batch, nz=args.nz, ngf=args.width, ndf=args.width, seed=0)
    trainer = DCGANTrainer(config, images=np.zeros((args.batch, 28, 28), dtype=np.uint8))
    G, D = trainer.generator, trainer.discriminator
    real_np = np.random.default_rng(0).uniform(-1, 1, (args.batch, 1, 28, 28)).astype(np.float32)
    # The noise of the trainer's first step, drawn from a copy of its generator, for torch.
    noise_np = copy.deepcopy(trainer.noise).standard_normal((args.batch, args.nz, 1, 1)).astype(np.float32)
    torch = None if args.without_torch else try_import_torch(threads=2)
    if torch is not None:  # copy before tinygan trains, so both start from the same weights
        g_t, d_t = torch_models(torch, G, D, args.nz, args.width)

    ours = lambda: trainer.train_step(real_np)
    first = ours()
    first_losses = (first["loss_d"], first["loss_g"])
    row = {"model": f"DCGAN batch {args.batch} width {args.width}", "tinygan ms": best_time(ours, args.repeats)}

    if torch is not None:
        opt_gt, opt_dt = torch_reference.adam_pair(torch, g_t, d_t)
        real_t, noise_t = torch.from_numpy(real_np), torch.from_numpy(noise_np)
        theirs = lambda: torch_reference.training_step(torch, g_t, d_t, opt_gt, opt_dt, real_t, noise_t)
        torch_first = theirs()
        row["torch ms"] = best_time(theirs, args.repeats)
        row["ratio"] = row["tinygan ms"] / row["torch ms"]
        row["torch alone ms"] = torch_alone_ms(args.batch, args.width, args.nz, args.repeats)
        row["ratio vs torch alone"] = row["tinygan ms"] / row["torch alone ms"]
        row["first-step losses (tinygan / torch)"] = (f"D {first_losses[0]:.4f} / {torch_first[0]:.4f}, "
                                                     f"G {first_losses[1]:.4f} / {torch_first[1]:.4f}")
    row["peak RSS MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    machine = machine_description(torch)
    print("machine:", machine, "\n")
    print_table([row], list(row))
    if args.profile:
        print("\ntinygan step, cProfile by own time:\n")
        print(profile_top(ours, max(2, args.repeats // 2)))
    write_json(args.json, {"machine": machine, "batch": args.batch, "width": args.width, "step": row})
    return row


if __name__ == "__main__":
    main()
