"""Shared test helpers: random data, and `compare_with_torch`, the one conformance check.

Every op is checked against torch the same way: the same float64 inputs go through
tinygan and torch, the outputs must agree, and after a backward pass with the same
random upstream gradient, so must every input's gradient.
"""
import numpy as np
import pytest

import tinygan as tg


def random_array(shape, seed=0, dtype=np.float64, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape).astype(dtype)


def compare_with_torch(tinygan_fn, torch_fn, arrays, rtol=1e-6, atol=1e-9, grad=True, seed=1):
    """Assert tinygan_fn(*tensors) == torch_fn(*torch_tensors), forward and backward.

    `arrays` are NumPy arrays (float ones get gradients) or other arguments passed as is.
    """
    torch = pytest.importorskip("torch")
    wants_grad = [isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating) and grad for a in arrays]
    ours = [tg.tensor(a, requires_grad=w) if isinstance(a, np.ndarray) else a for a, w in zip(arrays, wants_grad)]
    theirs = [torch.tensor(a, requires_grad=w) if isinstance(a, np.ndarray) else a for a, w in zip(arrays, wants_grad)]
    out, expected = tinygan_fn(*ours), torch_fn(*theirs)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    assert out.dtype == expected.detach().numpy().dtype, f"dtype {out.dtype} != torch's {expected.dtype}"
    if not any(wants_grad):
        return
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for i, (mine, reference, w) in enumerate(zip(ours, theirs, wants_grad)):
        if w:
            reference_grad = np.zeros(mine.shape) if reference.grad is None else reference.grad.numpy()
            np.testing.assert_allclose(mine.grad, reference_grad, rtol=rtol, atol=atol, err_msg=f"grad of input {i}")


# ---------------------------------------------------------------------- the command line
# The tiny training settings the CLI tests use: 4 steps of 32 digits per epoch, 8-channel networks,
# and no quality scores (they would train the real judge; tests/test_quality.py makes a cheap one).
TINY_TRAIN = ["--ngf", "8", "--ndf", "8", "--nz", "8", "--limit", "128", "--batch-size", "32", "--no-progress",
              "--quality-every", "0"]


def assert_one_line_error(capsys, code, *fragments, exit_code=2):
    """The command ended with `exit_code` and exactly one line on stderr holding every fragment, no traceback."""
    captured = capsys.readouterr()
    assert code == exit_code, captured.err
    assert "Traceback" not in captured.err + captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
