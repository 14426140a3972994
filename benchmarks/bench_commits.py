"""The trainer's step (or the plain one) at two or more commits, side by side: what did a change buy?

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_commits.py 89c6015 HEAD --rounds 6
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_commits.py f9eed5d HEAD --step plain

Each commit is checked out into a temporary git worktree.  Then, round after round, a
fresh process per commit (in alternating order, so that a slow minute of a shared machine
does not land on one commit only) imports that checkout's tinygan, runs a few steps of
`DCGANTrainer` with the default settings (or, with `--step plain`, the standard step a
PyTorch user writes, benchmarks/plain_step.py) to warm up, and times `--steps`
more; it reports the median step.  The table gives each commit's median over the rounds and its ratio to
the first commit.  Before the rounds, one extra process per commit compiles its kernels
into the worktree's cache; it is not timed.

Measure only changes that keep `DCGANTrainer`, `TrainConfig` and `load_training_digits`
(the step's API) as they are.  `--step plain` runs this checkout's dcgan_step_worker.py
against each commit's tinygan, so every commit must also have the API its
`tinygan_step_function` uses; and it needs torch installed (dcgan_step_worker.py imports
it, after tinygan).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import machine_description, print_table  # noqa: E402

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCHMARKS)

# Run in a fresh process with the checkout first on sys.path: prints the median step in ms.
WORKER = """
import statistics, sys, time
sys.path.insert(0, sys.argv[1])
import tinygan
assert tinygan.__file__.startswith(sys.argv[1]), tinygan.__file__
if sys.argv[3] == "plain":
    sys.path.insert(1, sys.argv[4])  # this benchmarks folder, for dcgan_step_worker.py
    from dcgan_step_worker import tinygan_step_function
    step = tinygan_step_function("plain", 64, 64, 100)[0]
else:
    from tinygan.train import DCGANTrainer, TrainConfig, load_training_digits
    config = TrainConfig()
    step = DCGANTrainer(config, *load_training_digits(config)).train_next_batch
for _ in range(6):
    step()
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    step()
    times.append(time.perf_counter() - started)
print(1e3 * statistics.median(times))
"""


def step_ms(checkout: str, steps: int, step: str) -> float:
    done = subprocess.run([sys.executable, "-c", WORKER, checkout, str(steps), step, BENCHMARKS],
                          capture_output=True, text=True,
                          cwd=tempfile.gettempdir())  # not the repository: its tinygan must not shadow the checkout's
    if done.returncode:
        raise RuntimeError(f"the step failed at {checkout}:\n{done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commits", nargs="+", help="git revisions, the first one the baseline")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per process")
    parser.add_argument("--step", choices=("trainer", "plain"), default="trainer",
                        help="DCGANTrainer's step, or the standard step written with the public API")
    args = parser.parse_args(argv)
    machine = machine_description()
    print(f"{machine['cpu']}; BLAS {machine['blas']}; the {args.step} step\n")
    with tempfile.TemporaryDirectory(prefix="tinygan-commits-") as scratch:
        checkouts = {}
        for index, commit in enumerate(args.commits):
            checkout = os.path.join(scratch, str(index))
            subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", "-q", checkout, commit], check=True)
            checkouts[commit] = checkout
        try:
            for checkout in checkouts.values():
                step_ms(checkout, 1, args.step)  # compile the kernels into this checkout's cache
            times = {commit: [] for commit in checkouts}
            for round_ in range(args.rounds):
                order = list(checkouts) if round_ % 2 == 0 else list(reversed(checkouts))
                for commit in order:
                    times[commit].append(step_ms(checkouts[commit], args.steps, args.step))
        finally:
            for checkout in checkouts.values():
                subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", checkout], check=False)
    baseline = statistics.median(times[args.commits[0]])
    rows = [{"commit": commit, "step ms (median)": statistics.median(values),
             "ratio to the first": statistics.median(values) / baseline,
             "every round": " ".join(f"{v:.1f}" for v in values)} for commit, values in times.items()]
    print_table(rows, ["commit", "step ms (median)", "ratio to the first", "every round"])


if __name__ == "__main__":
    main()
