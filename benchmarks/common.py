"""What the benchmark scripts share: timing, the machine description, the table printer.

Timings on a shared machine are noisy, so every number is the *minimum* over several
repeats (the run least disturbed by others), and comparisons are made as ratios of
numbers measured side by side in one process.
"""
from __future__ import annotations

import json
import os
import platform
import time

import numpy as np


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


def try_import_torch(threads: int = 2):
    """torch with `threads` intra-op threads, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)
    return torch


def machine_description(torch=None) -> dict:
    """CPU count, versions, the OPENBLAS_* variables and the BLAS kernel actually in use."""
    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
        "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE", "(unset)"),
        "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT", "(unset)"),
    }
    try:
        import numba
        info["numba"] = numba.__version__
        info["numba_threads"] = numba.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    try:
        from threadpoolctl import threadpool_info
        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        info["blas"] = [f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}, "
                        f"{p.get('num_threads')} threads)" for p in blas]
    except ImportError:
        info["blas"] = "threadpoolctl not installed: pip install threadpoolctl to see the BLAS kernel"
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


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
