"""The threads tinygan runs on, and what `tinygan info` reports about them.

A tinygan step alternates between two thread pools on the same cores: NumPy's OpenBLAS
(the matrix products) and Numba's threading layer (the im2col/col2im, pooling, batch-norm
and activation kernels).  Each hand-over costs nothing only if the pool that just finished
lets go of the cores at once.  docs/performance.md tells the whole story with numbers; in
short, what this module decides at `import tinygan`:

* Numba runs its parallel kernels on an OpenMP runtime of its own, loaded with
  OMP_WAIT_POLICY=PASSIVE (unless the user set it) so that its idle threads sleep at once
  (its "workqueue" pool, whose threads sleep too, where that cannot load: no libgomp, or
  one of that name already started).  Left to itself, Numba would take
  whichever OpenMP runtime was loaded first: after `import torch` it is torch's libgomp,
  whose idle threads spin for a while after every parallel region, taking the core the
  next matrix product needs.  No environment variable set by tinygan can fix that once
  torch is imported, and a user's script imports torch (and NumPy) first.  A layer the
  user chose (NUMBA_THREADING_LAYER), or one whose threads already run, is kept.

`announce_compiling()` says so when a kernel is being compiled, the half minute to over a
minute the first run after an install waits before its first step.  `describe()` and
`slow_configuration()` look at the process as it is (library versions, the CPU, the BLAS
kernel, the threading layer, load from other processes) for `tinygan info` and for the
warning `tinygan train` prints once.
"""
from __future__ import annotations

import contextlib
import os
import platform
import sys

def choose_threading_layer() -> None:
    """Give Numba an OpenMP runtime of its own whose idle threads sleep at once; else its workqueue.

    Kept as it is if the user chose a layer (NUMBA_THREADING_LAYER) or Numba's threads already run.
    """
    import numba
    from numba.np.ufunc import parallel

    if "NUMBA_THREADING_LAYER" in os.environ or parallel._is_initialized:
        return
    numba.config.THREADING_LAYER = "omp" if _load_private_openmp() else "workqueue"


def _load_private_openmp() -> bool:
    """Load Numba's OpenMP layer bound to its own libgomp, started with OMP_WAIT_POLICY=PASSIVE.

    Two things make this work whatever the script imported before tinygan:
    * RTLD_DEEPBIND: the layer's GOMP_* calls resolve to the libgomp it was linked against,
      not to a libgomp already in the process's global scope (torch puts its own copy
      there, started with its spinning default);
    * libgomp reads OMP_WAIT_POLICY once, when it is loaded: the variable is set just for
      that moment and then put back, so torch's OpenMP (imported before or after) keeps
      the user's settings.
    Returns False where the layer cannot load (no libgomp on the machine), or where a
    libgomp of that name was already started (then its settings cannot be chosen here).
    """
    if not hasattr(os, "RTLD_DEEPBIND") or _system_openmp_loaded():
        return False
    saved_flags, saved_policy = sys.getdlopenflags(), os.environ.get("OMP_WAIT_POLICY")
    try:
        sys.setdlopenflags(saved_flags | os.RTLD_DEEPBIND)
        if saved_policy is None:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        from numba.np.ufunc import omppool  # noqa: F401  (Numba finds it in sys.modules later)
    except ImportError:
        return False
    finally:
        sys.setdlopenflags(saved_flags)
        if saved_policy is None:
            os.environ.pop("OMP_WAIT_POLICY", None)
    return True


def _system_openmp_loaded() -> bool:
    """Is a libgomp.so.1.0.0 (the file Numba's OpenMP layer links) already mapped into this process?"""
    try:
        with open("/proc/self/maps") as handle:
            return any(line.rstrip().endswith("libgomp.so.1.0.0") for line in handle)
    except OSError:
        return False


# glibc's mallopt parameters (malloc.h) and the values tinygan asks for.
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_KEEP_FREED = {_M_MMAP_THRESHOLD: 32 << 20, _M_TRIM_THRESHOLD: 1 << 30, _M_TOP_PAD: 64 << 20}


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep and reuse the memory of freed large arrays instead of returning it.

    A training step allocates the same 1-26 MB arrays (im2col columns, GEMM outputs,
    gradients) again and again.  By default glibc hands each one back to the kernel when
    it is freed, and the next allocation of the same size page-faults and zero-fills it
    anew: the default run spent 64 s of its 8.5 minutes in the kernel, with 9 million page
    faults (14 s with this).  Keeping arrays up to 32 MB on the heap and not trimming it
    makes the step 3-6% faster (docs/performance.md); the price is that the process's
    memory does not shrink after its peak (576 MiB for the default run, against 439 MiB).
    Skipped where malloc is not glibc's, or where the user tuned malloc with a MALLOC_*
    variable.
    """
    if platform.libc_ver()[0] != "glibc" or any(name.startswith("MALLOC_") for name in os.environ):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return all(mallopt(parameter, value) == 1 for parameter, value in _KEEP_FREED.items())


def cpu_model() -> str:
    """The CPU's name and, on x86 Linux, its family/model numbers (a bare "AMD EPYC" says little:
    family 25 is Zen 3/4, family 26 Zen 5)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if not line.strip():
                    break  # the first processor is enough
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']}, model {fields['model']})"
    return name


def cpu_flags() -> set:
    """The instruction-set flags of the CPU (Linux only; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def blas_pools() -> list[dict]:
    """NumPy's BLAS libraries as threadpoolctl sees them (library, version, kernel, threads)."""
    import numpy  # noqa: F401  (loads the BLAS, so threadpoolctl can see it)
    from threadpoolctl import threadpool_info

    return [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]


def numba_threading() -> dict:
    """Numba's threading layer ('not started yet' before the first parallel kernel) and threads."""
    import numba
    from numba.np.ufunc import parallel

    layer = numba.threading_layer() if parallel._is_initialized else \
        f"not started yet (will be: {numba.config.THREADING_LAYER})"
    return {"layer": layer, "threads": numba.get_num_threads()}


def kernel_cache_dir() -> str:
    """Where Numba keeps tinygan's compiled kernels.

    Numba takes the first folder it can write to of NUMBA_CACHE_DIR, the __pycache__ beside
    the sources and one under ~/.cache/numba (an install the user may not write to ends up
    in the last), so the folder is asked of a kernel's own cache rather than guessed.  Numba
    has no public call for it: where its private attribute is missing (another Numba, or
    NUMBA_DISABLE_JIT), the first candidate is named.
    """
    import numba

    from . import kernels
    from .kernels import activation
    compiled = getattr(activation._leaky_relu_forward_kernel, "compiled", None)
    used = getattr(getattr(compiled, "_cache", None), "_cache_path", None)
    return used or numba.config.CACHE_DIR or os.path.join(os.path.dirname(kernels.__file__), "__pycache__")


@contextlib.contextmanager
def announce_compiling(log):
    """Within this block, say once (through `log`) when Numba starts compiling a kernel.

    Every kernel is compiled on its first use and kept in the kernel cache, from which later
    processes load it in milliseconds.  So the first run after an install (or on another
    CPU) spends half a minute to over a minute of its first step compiling (`tinygan train
    --max-steps 1` with an empty cache, benchmarks/bench_startup.py: 31 s on 2 cores of an
    AMD Zen 5, 71 s on 2 of a Zen 3), with the progress bar standing at 0: without a word
    it looks like a hang.  Numba's event API fires "numba:compile" for
    a real compilation only, never for a load from the cache, so a run that compiles
    nothing says nothing.
    """
    from numba.core import event

    class FirstCompilation(event.Listener):
        said = False

        def on_start(self, _event):
            if not self.said:
                self.said = True
                log(f"compiling tinygan's kernels for this CPU, once: the first steps wait for it (on 2 cores "
                    f"31 s on an AMD Zen 5, 71 s on a Zen 3); later runs load them from {kernel_cache_dir()}")

        def on_end(self, _event):
            pass

    listener = FirstCompilation()
    event.register("numba:compile", listener)
    try:
        yield
    finally:
        event.unregister("numba:compile", listener)


def describe() -> dict:
    """Everything `tinygan info` prints, as a dict of plain values."""
    import numba
    import numpy

    from . import __version__
    info = {
        "tinygan": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "torch": _version_if_loaded("torch"),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cores usable": usable_cores(),
        "avx512": "avx512f" in cpu_flags(),
        "blas": [f"{p.get('internal_api')} {p.get('version')}, kernel {p.get('architecture')}, "
                 f"{p.get('num_threads')} threads" for p in blas_pools()],
        "numba threading": numba_threading(),
        "kernel cache": kernel_cache_dir(),
        "environment": {name: os.environ[name] for name in sorted(os.environ)
                        if name.startswith(("OPENBLAS_", "OMP_", "NUMBA_", "MKL_", "GOMP_"))},
    }
    return info


def report() -> str:
    """`tinygan info`: describe() as aligned lines, then the slow configurations found (or none)."""
    lines = []
    for key, value in describe().items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "(none set)"
        elif isinstance(value, list):
            value = "; ".join(value) or "(none found)"
        lines.append(f"{key + ':':18s}{value}")
    problems = slow_configuration()
    lines.append("")
    lines.append("slow configurations: " + ("none found" if not problems else ""))
    lines += [f"  - {problem}" for problem in problems]
    return "\n".join(lines)


def _version_if_loaded(module: str) -> str:
    """The version of `module`, saying whether this process has imported it (torch is optional)."""
    from importlib import metadata

    loaded = sys.modules.get(module)
    if loaded is not None:
        return f"{getattr(loaded, '__version__', '?')} (imported)"
    try:
        return f"{metadata.version(module)} (installed, not imported)"
    except metadata.PackageNotFoundError:
        return "not installed"


def slow_configuration() -> list[str]:
    """Known ways this process is slower than it could be, each with what to do about it."""
    problems = []
    environment = os.environ
    if environment.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"):
        problems.append("NUMBA_DISABLE_JIT is set: every kernel runs as slow Python loops (unset it)")
    threading = numba_threading()
    if "NUMBA_THREADING_LAYER" in environment and str(threading["layer"]).startswith("omp") and \
            "torch" in sys.modules and environment.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        problems.append("NUMBA_THREADING_LAYER=omp puts Numba on the OpenMP runtime torch started, whose idle "
                        "threads spin and slow every step (unset NUMBA_THREADING_LAYER: tinygan then gives "
                        "Numba a runtime of its own)")
    if threading["threads"] > usable_cores():
        problems.append(f"Numba uses {threading['threads']} threads on {usable_cores()} usable cores "
                        f"(set NUMBA_NUM_THREADS={usable_cores()})")
    avx512 = "avx512f" in cpu_flags()
    for pool in blas_pools():
        kernel = str(pool.get("architecture"))
        if avx512 and kernel.lower() in ("haswell", "sandybridge", "zen", "prescott", "core2"):
            where = " (OPENBLAS_CORETYPE is set)" if "OPENBLAS_CORETYPE" in environment else ""
            problems.append(f"NumPy's OpenBLAS runs its {kernel} kernel on a CPU with AVX-512{where}: "
                            "matrix products are slower than they could be (unset OPENBLAS_CORETYPE)")
    busy = busy_cores_elsewhere()
    if busy >= 0.5:
        problems.append(f"other processes keep about {busy:.1f} of the {usable_cores()} cores busy: every "
                        "step waits for them (expect it to be that much slower; nothing in tinygan to change)")
    return problems


def busy_cores_elsewhere(samples: int = 20, interval: float = 0.005) -> float:
    """How many threads of other processes are running right now, on average over ~0.1 s.

    /proc/loadavg's fourth field counts the runnable threads of the whole machine at this
    instant, this process's sampling thread included -- unlike the load averages, which
    still remember whatever ran during the last minute.  0.0 where it cannot be read.
    """
    import time

    total = 0
    try:
        for _ in range(samples):
            with open("/proc/loadavg") as handle:
                total += int(handle.read().split()[3].split("/")[0]) - 1
            time.sleep(interval)
    except (OSError, ValueError, IndexError):
        return 0.0
    return total / samples


__all__ = ["choose_threading_layer", "keep_freed_memory", "describe", "report", "slow_configuration", "cpu_model", "blas_pools",
           "numba_threading", "kernel_cache_dir", "usable_cores", "busy_cores_elsewhere"]
