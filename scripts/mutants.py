"""Mutation audit: does the test suite, run without torch, catch realistic bugs?

A developer tool, not part of CI.  Each *mutant* below is one small, plausible bug, written
as an exact text substitution (old -> new) in one file.  For each mutant the script

1. applies it to a temporary copy of the repository (the files git knows about), failing
   loudly if the old text is not found exactly once -- a stale mutant must not pass for a
   caught one;
2. runs the suite there the way a user without torch runs it: ``CI=true python -m pytest``
   from the copy, with the copy first on PYTHONPATH (so its tinygan is the one imported,
   not an installed one), and torch hidden (a directory on PYTHONPATH holds a ``torch.py``
   that raises ModuleNotFoundError, so ``pytest.importorskip("torch")`` skips);
3. restores the file and moves on.

Before the mutants, the unmutated copy is checked: tinygan must import from the copy,
torch must not import, and the suite must pass.  Then a table is printed: mutant, caught
or survived, and the first test that failed (pytest runs with -x: one failure is enough).

    python scripts/mutants.py                       # every mutant, the whole suite
    python scripts/mutants.py --list                # the mutants and what each one breaks
    python scripts/mutants.py --only bce-no-log-clamp sgd-dampening-on-first-step
    python scripts/mutants.py --tests tests/test_optim.py tests/test_pool.py   # a quicker partial run

The exit status is 0 when every mutant is caught, 1 otherwise.  Each run of the suite
takes about as long as the suite itself, so the whole audit takes a while.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    bug: str  # what a user would see, in one line


MUTANTS = [
    # ---- the six subtle bugs the suite once missed without torch
    Mutant("sgd-dampening-on-first-step", "tinygan/optim.py",
           'buffer = state["momentum_buffer"] = g.copy()',
           'buffer = state["momentum_buffer"] = g * (1 - group["dampening"])',
           "SGD dampens the first momentum buffer (torch starts it at the gradient itself)"),
    Mutant("nearest-index-in-float64", "tinygan/ops/upsample.py",
           "scale = np.float32(1.0 / scale_factor) if scale_factor else np.float32(in_size) / np.float32(out_size)\n"
           "    src = np.floor(np.arange(out_size, dtype=np.float32) * scale)",
           "scale = 1.0 / scale_factor if scale_factor else in_size / out_size\n"
           "    src = np.floor(np.arange(out_size) * scale)",
           "nearest interpolation computes its source index in float64, not torch's float32"),
    Mutant("max-pool-drops-nan", "tinygan/kernels/pooling.py",
           "if best_index < 0 or value > best or np.isnan(value):", "if best_index < 0 or value > best:",
           "max-pool skips NaN instead of propagating it"),
    Mutant("bce-no-log-clamp", "tinygan/ops/loss.py",
           "return np.maximum(np.log(p), -100), np.maximum(np.log1p(-p), -100)",
           "return np.log(p), np.log1p(-p)",
           "BCE without torch's -100 clamp on the logs: NaN/inf at p = 0 or 1"),
    Mutant("gradcheck-all-for-any", "tinygan/gradcheck.py",
           "if np.any(error > 0):", "if np.all(error > 0):",
           "gradcheck fails only when every element is wrong"),
    Mutant("sample-without-eval", "tinygan/train/trainer.py",
           "        self.generator.eval()\n        try:\n            yield self.generator",
           "        try:\n            yield self.generator",
           "DCGANTrainer.sample (and the quality score) draw with batch statistics and move G's running "
           "statistics"),
    # ---- first-order bugs
    Mutant("col2im-overwrites", "tinygan/kernels/im2col.py",
           "pixel[n] += run[n]", "pixel[n] = run[n]",
           "col2im assigns instead of adding overlapping windows"),
    Mutant("deferred-gradient-replaces-pending", "tinygan/tensor.py",
           "self._compute_pending_grad()  # it arrived first: it is added first", "pass",
           "a second deferred weight gradient replaces the pending one instead of adding to it"),
    Mutant("deferred-gradient-reads-callers-array", "tinygan/tensor.py",
           "gradient = np.array(gradient.data", "gradient = np.asarray(gradient.data",
           "backward() keeps the caller's upstream gradient, which a deferred weight gradient reads later"),
    Mutant("running-var-biased", "tinygan/ops/norm.py",
           "running_var += momentum * var * (count / (count - 1))", "running_var += momentum * var",
           "BatchNorm tracks the biased variance"),
    Mutant("batch-norm-backward-drops-term", "tinygan/kernels/batchnorm.py",
           "target[i] = factor * (gi - mean_grad - centred * s * mean_grad_xhat)",
           "target[i] = factor * (gi - mean_grad)",
           "BatchNorm backward forgets the variance's share of the gradient"),
    Mutant("sigmoid-derivative", "tinygan/ops/activation.py",
           "return (grad * out * (1 - out),)", "return (grad * (1 - out),)",
           "sigmoid backward uses 1 - y instead of y (1 - y)"),
    Mutant("leaky-relu-derivative", "tinygan/kernels/activation.py",
           "return g if y > 0 else g * slope", "return g",
           "leaky_relu backward passes the full gradient for x <= 0"),
    Mutant("align-corners-ignored", "tinygan/ops/upsample.py",
           "    if align_corners:\n        scale = dtype(in_size - 1)", "    if False:\n        scale = dtype(in_size - 1)",
           "bilinear ignores align_corners=True"),
    Mutant("adam-no-bias-correction", "tinygan/optim.py",
           "bias_correction1 = 1 - beta1 ** step", "bias_correction1 = 1.0",
           "Adam forgets to correct the first moment's bias"),
    Mutant("unbroadcast-drops-keepdims", "tinygan/ops/common.py",
           "grad = grad.sum(axis=stretched_axes, keepdims=True)", "grad = grad.sum(axis=stretched_axes)",
           "the backward of broadcasting loses the length-1 axes"),
    Mutant("gradient-overwritten-on-reuse", "tinygan/tensor.py",
           "pending[key] = parent_grad if key not in pending else pending[key] + parent_grad",
           "pending[key] = parent_grad",
           "a tensor used twice keeps only one contribution to its gradient"),
    # ---- behaviours that only the torch conformance tests used to check
    Mutant("bilinear-ignores-scale-factor", "tinygan/ops/upsample.py",
           "scale = dtype(1.0 / scale_factor) if scale_factor else dtype(in_size) / dtype(out_size)",
           "scale = dtype(in_size) / dtype(out_size)",
           "bilinear uses in / out where torch uses the given 1 / scale_factor"),
    Mutant("bce-weight-dropped-in-backward", "tinygan/ops/loss.py",
           "grad = _reduction_grad(grad, p.shape, ctx.reduction)\n        if weight is not None:\n"
           "            grad = grad * weight\n",
           "grad = _reduction_grad(grad, p.shape, ctx.reduction)\n",
           "BCE's gradient ignores the per-element weight"),
    Mutant("discriminator-leaky-slope", "tinygan/models/dcgan.py",
           "nn.LeakyReLU(0.2, inplace=True),  # leaky", "nn.LeakyReLU(0.01, inplace=True),  # leaky",
           "the discriminator's first LeakyReLU has slope 0.01, not the DCGAN's 0.2"),
    # ---- the memory orders and the batch-norm fusion
    Mutant("plane-rows-steps-swapped", "tinygan/kernels/layout.py",
           "return x.transpose(1, 0, 2, 3).reshape(c * n, length), (1, n)",
           "return x.transpose(1, 0, 2, 3).reshape(c * n, length), (n, 1)",
           "batch norm reads a channel-major input's planes from the wrong rows"),
    Mutant("batch-last-read-as-planes", "tinygan/kernels/layout.py",
           "return x.transpose(1, 2, 3, 0).reshape(c, length * n), (0, 1), 1",
           "return x.transpose(1, 2, 3, 0).reshape(n * c, length), (c, 1), n",
           "batch norm walks a batch-last channel as if its memory were image by image"),
    Mutant("im2col-swaps-row-and-column", "tinygan/kernels/im2col.py",
           "source = images[c, y, x]", "source = images[c, x % images.shape[1], y % images.shape[2]]",
           "im2col reads the tap's column as its row (same on square images without padding)"),
    Mutant("fusion-ignores-hooks", "tinygan/nn/container.py",
           'if module._forward_hooks or following._forward_hooks or "forward" in vars(module)',
           'if "forward" in vars(module)',
           "Sequential fuses BatchNorm + ReLU although a forward hook wants to see (or change) the middle"),
    Mutant("relu-blocks-nan-gradient", "tinygan/kernels/activation.py",
           "return zero if y <= 0 else g", "return g if y > 0 else zero",
           "relu's gradient at a NaN input is 0 instead of passing through, as torch's does"),
    Mutant("batch-norm-saves-running-mean-by-reference", "tinygan/ops/norm.py",
           "ctx.save_for_backward(x, np.array(mean, dtype=x.dtype),",
           "ctx.save_for_backward(x, np.asarray(mean, dtype=x.dtype),",
           "an eval-mode batch norm's gradient uses the running mean as a later training call moved it"),
]

# Importing this module fails as a missing torch does, so importorskip("torch") skips.
HIDDEN_TORCH = ('raise ModuleNotFoundError("No module named \'torch\' (hidden by scripts/mutants.py)", '
                'name="torch")\n')


def copy_repository(destination: Path) -> None:
    """The files git tracks (and new, unignored ones), as they are in the working tree."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                            cwd=REPO, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def apply(mutant: Mutant, root: Path) -> str:
    """Write the mutated file; return the original text, to restore it."""
    path = root / mutant.path
    if not path.is_file():
        raise SystemExit(f"mutant {mutant.name}: {mutant.path} does not exist (moved?); update the mutant")
    original = path.read_text()
    count = original.count(mutant.old)
    if count != 1:
        raise SystemExit(f"mutant {mutant.name}: the old text occurs {count} times in {mutant.path} "
                         f"(expected exactly once); update the mutant:\n{mutant.old}")
    path.write_text(original.replace(mutant.old, mutant.new))
    return original


def suite_environment(root: Path, hidden: Path) -> dict:
    # No .pyc files: a mutant and its original can share a size and a timestamp second,
    # which would let Python reuse the other one's bytecode.
    env = dict(os.environ, CI="true", PYTHONPATH=os.pathsep.join([str(root), str(hidden)]),
               PYTHONDONTWRITEBYTECODE="1")
    env.pop("HYPOTHESIS_PROFILE", None)  # the ci profile: derandomized, as CI runs it
    return env


def run_suite(root: Path, env: dict, tests: list[str], timeout: float) -> tuple[bool, str]:
    """(passed, first failing test or a short reason)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider", *tests]
    try:
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"timeout after {timeout:.0f} s"
    if result.returncode == 0:
        return True, ""
    failed = re.search(r"^FAILED (\S+)", result.stdout, re.MULTILINE)
    if failed:
        return False, failed.group(1)
    error = re.search(r"^ERROR (\S+)", result.stdout, re.MULTILINE)
    lines = (result.stdout + result.stderr).strip().splitlines()
    return False, error.group(1) if error else f"pytest exit {result.returncode}: {lines[-1] if lines else ''}"


def check_setup(root: Path, env: dict) -> None:
    probe = ("import tinygan; print(tinygan.__file__)\n"
             "try:\n    import torch\nexcept ModuleNotFoundError:\n    print('no torch')\n")
    output = subprocess.run([sys.executable, "-c", probe], cwd=root, env=env, capture_output=True, text=True,
                            check=True).stdout.split("\n")
    if not Path(output[0]).resolve().is_relative_to(root.resolve()):
        raise SystemExit(f"tinygan imports from {output[0]}, not from the copy {root}")
    if output[1] != "no torch":
        raise SystemExit("torch is still importable in the audit environment")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants")
    parser.add_argument("--tests", nargs="+", default=[], metavar="PATH",
                        help="test files or node ids to run (default: the whole suite)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed for one suite run")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)

    names = [m.name for m in MUTANTS]
    if args.only and set(args.only) - set(names):
        parser.error(f"unknown mutants {sorted(set(args.only) - set(names))}; known: {names}")
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.name:32s} {m.path:28s} {m.bug}")
        return 0

    with tempfile.TemporaryDirectory(prefix="tinygan-mutants-") as scratch:
        root, hidden = Path(scratch) / "repo", Path(scratch) / "hide-torch"
        root.mkdir()
        hidden.mkdir()
        (hidden / "torch.py").write_text(HIDDEN_TORCH)
        copy_repository(root)
        env = suite_environment(root, hidden)
        check_setup(root, env)
        for m in chosen:  # every mutant must apply before any time is spent
            (root / m.path).write_text(apply(m, root))

        print(f"baseline: the unmutated suite{' (' + ' '.join(args.tests) + ')' if args.tests else ''} ...",
              flush=True)
        passed, where = run_suite(root, env, args.tests, args.timeout)
        if not passed:
            print(f"the unmutated suite fails ({where}): fix that first")
            return 1

        rows = []
        for m in chosen:
            original = apply(m, root)
            try:
                passed, where = run_suite(root, env, args.tests, args.timeout)
            finally:
                (root / m.path).write_text(original)
            rows.append((m.name, "SURVIVED" if passed else "caught", where))
            print(f"  {m.name}: {rows[-1][1]} {where}", flush=True)

    width = max(len(name) for name, _, _ in rows)
    print(f"\n| {'mutant':{width}s} | result   | first failing test |")
    print(f"|{'-' * (width + 2)}|----------|--------------------|")
    for name, result, where in rows:
        print(f"| {name:{width}s} | {result:8s} | {where} |")
    survivors = sum(result == "SURVIVED" for _, result, _ in rows)
    print(f"\n{len(rows) - survivors} of {len(rows)} mutants caught")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
