"""kernels/gemm.py: tinygan's threaded matrix product equals `a @ b` and leaves NumPy's BLAS as it was."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygan.kernels import gemm as gemm_module
from tinygan.kernels.gemm import gemm, reference_gemm


@pytest.fixture
def always_split(monkeypatch):
    """Split every product, however small, so that the block logic is what is tested."""
    monkeypatch.setattr(gemm_module, "MIN_SPLIT_WORK", 0)


@given(groups=st.integers(0, 3), m=st.integers(1, 40), k=st.integers(2, 9), n=st.integers(1, 40),
       transpose_a=st.booleans(), transpose_b=st.booleans(), seed=st.integers(0, 2**16))
def test_gemm_equals_the_reference_in_every_layout(groups, m, k, n, transpose_a, transpose_b, seed):
    gemm_module.MIN_SPLIT_WORK, saved = 0, gemm_module.MIN_SPLIT_WORK
    try:
        rng = np.random.default_rng(seed)
        stack = () if groups == 0 else (groups,)
        a = rng.standard_normal(stack + ((k, m) if transpose_a else (m, k)))
        b = rng.standard_normal(stack + ((n, k) if transpose_b else (k, n)))
        a = np.swapaxes(a, -1, -2) if transpose_a else a  # a transposed view, as the convolutions pass
        b = np.swapaxes(b, -1, -2) if transpose_b else b
        np.testing.assert_allclose(gemm(a, b), reference_gemm(a, b), rtol=1e-12, atol=1e-12)
    finally:
        gemm_module.MIN_SPLIT_WORK = saved


@pytest.mark.parametrize("shape_a, shape_b", [((3, 1), (1, 5)), ((2, 4, 1), (2, 1, 3)), ((5,), (5, 2)), ((4, 5), (5,))])
def test_outer_products_and_vectors(shape_a, shape_b, always_split):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    np.testing.assert_allclose(gemm(a, b), a @ b, rtol=1e-12)


def test_blocks_cover_the_product_once(always_split):
    # Rows 0..9 of a times the identity: each row of the result must come out exactly once.
    a = np.arange(40.0).reshape(10, 4)
    np.testing.assert_array_equal(gemm(a, np.eye(4)), a)
    np.testing.assert_array_equal(gemm(np.eye(3), a[:3]), a[:3])  # few rows: split by columns


@pytest.mark.parametrize("groups", [0, 1, 3])
def test_a_deep_product_with_a_small_result_is_split_along_its_depth(groups, always_split):
    # A weight gradient's shape: a few rows and columns, a long k.  Each block multiplies a
    # slice of k into a partial result; the partials must add up to the whole product.
    rng = np.random.default_rng(1)
    stack = () if groups == 0 else (groups,)
    a = rng.standard_normal(stack + (6, 301))
    b = np.swapaxes(rng.standard_normal(stack + (4, 301)), -1, -2)  # transposed, as conv's grad_w passes it
    job = gemm_module._Job(a.reshape((-1, 6, 301)), b.reshape((-1, 301, 4)), np.empty((max(groups, 1), 6, 4)), blocks=4)
    assert job.split == "depth" and len(job.blocks) >= 4
    np.testing.assert_allclose(gemm(a, b), reference_gemm(a, b), rtol=1e-12, atol=1e-12)


def test_blas_threads_are_given_back(always_split):
    from threadpoolctl import threadpool_info

    before = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    gemm(np.ones((64, 64)), np.ones((64, 64)))
    after = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert after == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_gets_its_own_threads():
    # A child made by fork() has none of its parent's threads: a pool inherited as it was would
    # wait forever for helpers that do not exist.
    code = ("import os, numpy as np, tinygan.kernels.gemm as g; g.MIN_SPLIT_WORK = 0; "
            "a = np.ones((8, 8)); g.gemm(a, a); pid = os.fork()\n"
            "if pid == 0:\n    os._exit(0 if (g.gemm(a, a) == 8).all() else 1)\n"
            "print(os.waitpid(pid, 0)[1])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_a_helpers_failure_is_raised_not_returned_as_a_half_product(monkeypatch):
    # Make every block fail: whichever thread takes a block, the caller must see the error.
    def failing_run(self):
        raise FloatingPointError("a block failed")

    monkeypatch.setattr(gemm_module, "MIN_SPLIT_WORK", 0)
    monkeypatch.setattr(gemm_module._Job, "run", failing_run)
    with pytest.raises(FloatingPointError, match="a block failed"):
        gemm(np.ones((64, 64)), np.ones((64, 64)))
    monkeypatch.undo()  # and the pool still works afterwards
    np.testing.assert_array_equal(gemm(np.ones((64, 64)), np.ones((64, 64))), np.full((64, 64), 64.0))
