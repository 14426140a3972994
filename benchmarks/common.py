"""What the benchmark scripts share: timing, the machine description, the table printer.

Timings on a shared machine are noisy, so every number is the *minimum* over several
repeats (the run least disturbed by others), and comparisons are made as ratios of
numbers measured side by side in one process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time



def best_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    """The fastest of `repeats` calls of fn(), in milliseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def block_ms(fn, steps: int) -> float:
    """Milliseconds per call of fn() over one block of `steps` calls in a row."""
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return 1000 * (time.perf_counter() - start) / steps

def try_import_torch(threads: int = 2):
    """torch with `threads` intra-op threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def fresh_process(code: str, *argv: str, what: str = "a cell"):
    """Run `code` in a fresh interpreter (with `argv` as sys.argv[1:]); the JSON its last line prints."""
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def round_robin(doc: str, rows, measure, default_repeat: int, argv=None) -> dict:
    """A fresh-process benchmark's main loop: parse its --repeat, print the machine, then
    {row: [measure(row) for each of `repeat` rounds]}, the rows taken in turn in every round,
    so that a slow spell of a noisy machine falls on every row alike."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=default_repeat, help="fresh processes per row, taken in turn")
    repeat = parser.parse_args(argv).repeat
    machine = machine_description()
    print(f"{machine['cpu']}; BLAS {machine['blas']}\n")
    results = {row: [] for row in rows}
    for _ in range(repeat):
        for row in rows:
            results[row].append(measure(row))
    return results


def machine_description() -> dict:
    """tinygan's own report of the process (`tinygan info`): CPU model, BLAS kernel and threads,
    Numba's threading layer, versions, the thread-related environment variables."""
    from tinygan.runtime import describe

    return describe()


def print_table(rows: list[dict], columns: list[str]) -> None:
    """Print rows as a markdown table; floats with 3 significant digits, missing as '-'."""
    def cell(value):
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
        return str(value)
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(cell(row.get(c)) for c in columns) + " |")


def write_json(path: str | None, payload: dict) -> None:
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as handle:
            json.dump(payload, handle, indent=2)
        print(f"\nwrote {path}")
