"""tinygan's thread set-up and its self-report (`tinygan info`), checked in real processes.

What makes the speed independent of import order (docs/performance.md) is, first, that
tinygan's Numba kernels run on an OpenMP runtime of their own, started with idle threads
that sleep at once (OMP_WAIT_POLICY=PASSIVE), even when torch has already put its own,
spinning, libgomp into the process; and second, that tinygan's matrix products never wake
NumPy's BLAS threads (kernels/gemm.py).  These tests check those mechanisms in fresh
interpreters that import NumPy and torch before tinygan, as user scripts do; the speed
itself is measured by benchmarks/bench_dcgan.py, never asserted here.
"""
import json
import os
import signal
import subprocess
import sys

import pytest

from tinygan import runtime

KERNEL_CALL = ("import tinygan, tinygan.functional as F, numba; "
               "F.max_pool2d(tinygan.randn(2, 3, 8, 8), 2); print(numba.threading_layer())")
# omp_display_env (OpenMP 5) prints a runtime's settings; asked of the libgomp Numba's layer links.
SHOW_NUMBAS_OPENMP = ("import ctypes, os; print('policy left set:', 'OMP_WAIT_POLICY' in os.environ, flush=True); "
                      "path = [l.split()[-1] for l in open('/proc/self/maps') if l.rstrip().endswith('libgomp.so.1.0.0')][0]; "
                      "ctypes.CDLL(path).omp_display_env(0)")


def _run(code: str, **environment):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY")}
    env.update(environment)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def _python(code: str, **environment) -> str:
    return _run(code, **environment).stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("first", ["", "import numpy; ", "import numpy, torch; ", "import torch; "])
def test_kernels_get_a_sleeping_openmp_runtime_whatever_was_imported_first(first):
    if "torch" in first:
        pytest.importorskip("torch")
    layer = _python(first + KERNEL_CALL)
    if layer == "workqueue":  # no libgomp on this machine: Numba's own pool, whose threads sleep too
        return
    assert layer == "omp"
    result = _run(first + KERNEL_CALL + "; " + SHOW_NUMBAS_OPENMP)
    assert "policy left set: False" in result.stdout  # the user's environment is as it was
    if "OMP_WAIT_POLICY" in result.stderr:  # the libgomp is new enough to display its settings
        assert "OMP_WAIT_POLICY = 'PASSIVE'" in result.stderr


def test_a_threading_layer_the_user_chose_is_kept():
    assert _python(KERNEL_CALL, NUMBA_THREADING_LAYER="omp") == "omp"


def test_describe_reports_what_the_process_runs_on():
    info = runtime.describe()
    assert info["cores usable"] == len(os.sched_getaffinity(0))
    blas = runtime.blas_pools()
    assert blas and all(pool["internal_api"] in info["blas"][i] for i, pool in enumerate(blas))
    assert set(info["numba threading"]) == {"layer", "threads"}
    json.dumps(info)  # plain values only: the benchmarks store it as JSON


def test_slow_configurations_are_named_with_what_to_do(monkeypatch):
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    monkeypatch.setattr(runtime, "numba_threading", lambda: {"layer": "workqueue", "threads": 64})
    monkeypatch.setattr(runtime, "busy_cores_elsewhere", lambda: 0.0)
    problems = runtime.slow_configuration()
    assert any("NUMBA_DISABLE_JIT is set" in p and "unset it" in p for p in problems)
    assert any(f"64 threads on {runtime.usable_cores()} usable cores" in p for p in problems)
    monkeypatch.delenv("NUMBA_DISABLE_JIT")
    monkeypatch.setattr(runtime, "numba_threading", lambda: {"layer": "workqueue", "threads": 1})
    monkeypatch.setattr(runtime, "cpu_flags", lambda: set())  # no AVX-512: any BLAS kernel is fine
    assert runtime.slow_configuration() == []


def test_an_avx2_blas_kernel_on_an_avx512_cpu_is_named(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_flags", lambda: {"avx2", "avx512f"})
    monkeypatch.setattr(runtime, "blas_pools", lambda: [{"architecture": "Haswell"}])
    monkeypatch.setattr(runtime, "busy_cores_elsewhere", lambda: 0.0)
    assert any("Haswell kernel on a CPU with AVX-512" in p for p in runtime.slow_configuration())


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="reads /proc/loadavg (Linux)")
def test_a_busy_neighbour_is_seen():
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        import time
        time.sleep(0.5)  # let it start spinning
        assert runtime.busy_cores_elsewhere() >= 0.5
    finally:
        neighbour.kill()
        neighbour.wait()


def test_tinygan_info_prints_the_report():
    result = subprocess.run([sys.executable, "-m", "tinygan", "info"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    fields = dict(line.split(":", 1) for line in result.stdout.splitlines() if ":" in line and not line.startswith(" "))
    for field in ("numpy", "numba", "cpu", "cores usable", "blas", "numba threading", "kernel cache"):
        assert fields.get(field, "").strip(), f"tinygan info lacks {field!r}:\n{result.stdout}"
    assert "omp" in fields["numba threading"] or "workqueue" in fields["numba threading"]
    assert "slow configurations:" in result.stdout


def test_train_names_a_slow_configuration_once(monkeypatch, tmp_path):
    from tinygan.train import loop, train

    monkeypatch.setattr(loop, "slow_configuration", lambda: ["a made-up problem (do this)"])
    lines = []
    train({"limit": 64, "batch_size": 32, "ngf": 4, "ndf": 4, "epochs": 1}, tmp_path / "run", progress=False,
          log=lines.append)
    warnings = [line for line in lines if line.startswith("warning: slow configuration")]
    assert warnings == ["warning: slow configuration: a made-up problem (do this) (see: tinygan info)"]



# A module with two cached kernels, compiled in one process and loaded from the cache in the next.
TWO_KERNELS = """
import numba

@numba.njit(cache=True)
def double(x):
    return 2 * x

@numba.njit(cache=True)
def halve(x):
    return x / 2
"""
CALL_BOTH_ANNOUNCED = ("import json, sys; sys.path.insert(0, {folder!r}); from tinygan import runtime; "
                       "import two_kernels; said = []\n"
                       "with runtime.announce_compiling(said.append):\n"
                       "    two_kernels.double(3); two_kernels.halve(3.0)\n"
                       "two_kernels.double(4.0)\n"  # compiled after the block: not announced
                       "print(json.dumps(said))")


def test_compiling_is_announced_once_and_loading_from_the_cache_not_at_all(tmp_path):
    (tmp_path / "two_kernels.py").write_text(TWO_KERNELS)
    code = CALL_BOTH_ANNOUNCED.format(folder=str(tmp_path))
    cache = str(tmp_path / "cache")
    first = json.loads(_python(code, NUMBA_CACHE_DIR=cache))
    assert len(first) == 1 and first[0].startswith("compiling tinygan's kernels") and cache in first[0]
    assert json.loads(_python(code, NUMBA_CACHE_DIR=cache)) == []  # both loaded from the cache


def test_train_announces_a_compilation_in_its_steps(monkeypatch, tmp_path):
    import numba

    from tinygan.train import loop, train

    real_step = loop.DCGANTrainer.train_next_batch

    def step_compiling_a_new_kernel(self):
        numba.njit(lambda x: x + 1)(1)  # a new function: Numba compiles it, whatever the cache holds
        return real_step(self)

    monkeypatch.setattr(loop.DCGANTrainer, "train_next_batch", step_compiling_a_new_kernel)
    lines = []
    train({"limit": 64, "batch_size": 32, "ngf": 4, "ndf": 4, "epochs": 1}, tmp_path / "run", progress=False,
          log=lines.append)
    assert sum(line.startswith("compiling tinygan's kernels") for line in lines) == 1  # two steps, said once


# The CLI, its first step compiling a new function and then killed at once: what stdout still
# holds in its buffer is lost, as it would sit unseen through a real compile of a minute.
KILLED_WHILE_COMPILING = """
import os, signal, sys, numba
from tinygan.train import loop
def step(self):
    numba.njit(lambda x: x + 1)(1)
    os.kill(os.getpid(), signal.SIGKILL)
loop.DCGANTrainer.train_next_batch = step
from tinygan.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("progress", [[], ["--no-progress"]])
def test_the_compiling_line_reaches_a_pipe_while_the_run_is_still_compiling(tmp_path, progress):
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a pipe: block-buffered
    result = subprocess.run([sys.executable, "-c", KILLED_WHILE_COMPILING, "train", "--limit", "64",
                             "--batch-size", "32", "--ngf", "4", "--ndf", "4", "--max-steps", "2",
                             "--quality-every", "0", "--out", str(tmp_path / "run"), *progress],
                            capture_output=True, text=True, env=environment, timeout=300)
    assert result.returncode == -signal.SIGKILL
    assert "compiling tinygan's kernels" in result.stdout


WHERE_KERNELS_ARE_CACHED = """
import json
from tinygan import runtime
from tinygan.kernels import activation
print(json.dumps([runtime.kernel_cache_dir(), activation._leaky_relu_forward_kernel.compiled._cache._cache_path]))
"""


def test_the_cache_folder_named_is_the_one_numba_falls_back_to(tmp_path):
    (tmp_path / "a_file").write_text("")
    unusable = str(tmp_path / "a_file" / "cache")  # cannot be created, even by root
    named, used = json.loads(_python(WHERE_KERNELS_ARE_CACHED, NUMBA_CACHE_DIR=unusable, HOME=str(tmp_path)))
    assert named == used and not used.startswith(unusable)


def test_kernels_run_as_python_with_the_jit_disabled():
    code = ("import json, numpy as np, tinygan, tinygan.functional as F; "
            "x = np.array([[-2.0, -0.5, 0.0, 3.0]], np.float32); "
            "print(json.dumps(F.leaky_relu(tinygan.tensor(x), 0.1).numpy().tolist()))")
    result = json.loads(_python(code, NUMBA_DISABLE_JIT="1"))  # njit hands back the Python function itself
    assert result[0] == pytest.approx([-0.2, -0.05, 0.0, 3.0], rel=1e-6)

@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_large_arrays_are_reused_without_page_faults():
    # The same 20 MB array allocated twice: with tinygan imported the second one reuses the
    # first one's pages; without it, glibc returned them to the kernel and the second one
    # faults them in again (page by page, or 2 MB at a time with transparent huge pages).
    code = ("import numpy as np, resource, sys\n{import_}\n"
            "faults = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "a = np.ones(5_000_000, np.float32); del a\n"
            "before = faults(); b = np.ones(5_000_000, np.float32); print(faults() - before)")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}

    def second_allocation_faults(import_):
        result = subprocess.run([sys.executable, "-c", code.format(import_=import_)], capture_output=True,
                                text=True, env=environment, timeout=300)
        assert result.returncode == 0, result.stderr
        return int(result.stdout.split()[-1])

    plain = second_allocation_faults("pass")
    if plain == 0:
        pytest.skip("this malloc already keeps freed memory")
    assert second_allocation_faults("import tinygan") == 0 < plain
