"""kernels/__init__.py: small kernel calls run on the calling thread alone, large ones on all threads."""
import numba
import numpy as np
import pytest

from tinygan.kernels import PARALLEL_FROM, kernel
from tinygan.kernels.activation import MEMORY_BOUND, leaky_relu_forward, reference_leaky_relu_forward
from tinygan.kernels.im2col import im2col, reference_im2col
from tinygan.kernels.optim import adam_update, reference_adam_update

# numba.get_num_threads() inside a kernel keeps Numba from caching it on disk: harmless here.
pytestmark = pytest.mark.filterwarnings("ignore:Cannot cache compiled function")


@kernel
def _threads_seen(out):
    """Each entry: how many threads the parallel loop that wrote it ran on."""
    for i in numba.prange(out.size):
        out[i] = numba.get_num_threads()


@pytest.mark.parametrize("size, expected", [(10, "one"), (PARALLEL_FROM - 1, "one"), (PARALLEL_FROM, "all")])
def test_a_small_call_runs_on_one_thread_and_gives_the_threads_back(size, expected):
    threads = numba.get_num_threads()
    out = np.zeros(size, dtype=np.int64)
    _threads_seen(out)
    assert set(np.unique(out)) == {1 if expected == "one" else threads}
    assert numba.get_num_threads() == threads


def test_a_kernel_can_ask_for_its_own_threshold():
    own = kernel(parallel_from=100)(_threads_seen.py_func)
    for size, expected in ((99, 1), (100, numba.get_num_threads())):
        out = np.zeros(size, dtype=np.int64)
        own(out)
        assert set(np.unique(out)) == {expected}


def test_the_thread_count_is_given_back_when_a_small_call_fails():
    threads = numba.get_num_threads()
    with pytest.raises(Exception):
        _threads_seen("not an array")  # fails to compile
    assert numba.get_num_threads() == threads


# Most kernel tests use small arrays, which now run on one thread: these run the parallel path.
def test_large_calls_equal_their_references():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(MEMORY_BOUND + 7).astype(np.float32)
    np.testing.assert_array_equal(leaky_relu_forward(x, 0.2), reference_leaky_relu_forward(x, 0.2))

    images = rng.standard_normal((64, 8, 14, 14)).astype(np.float32)  # cols: 128 x 3136 > PARALLEL_FROM
    geometry = ((4, 4), (2, 2), (1, 1), (1, 1), (7, 7))
    np.testing.assert_array_equal(im2col(images, *geometry), reference_im2col(images, *geometry, batch_innermost=True))

    param, grad, m, v = (rng.standard_normal(PARALLEL_FROM + 3).astype(np.float32) for _ in range(4))
    v = np.abs(v)
    expected = [a.copy() for a in (param, m, v)]
    reference_adam_update(expected[0], grad, expected[1], expected[2], 0.5, 0.999, 1e-3, 0.9, 1e-8)
    adam_update(param, grad, m, v, 0.5, 0.999, 1e-3, 0.9, 1e-8)
    for got, want in zip((param, m, v), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
