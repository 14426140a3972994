"""The fused Adam kernel equals its NumPy reference, step after step, and Adam uses it with torch's results."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from tinygan import optim, tensor
from tinygan.kernels import optim as K
from tinygan.testing import float_dtypes, seeds, shapes
from helpers import random_array


@given(shape=shapes(), dtype=float_dtypes(), seed=seeds(),
       betas=st.sampled_from([(0.9, 0.999), (0.5, 0.999), (0.0, 0.5)]), eps=st.sampled_from([1e-8, 1e-3]))
def test_kernel_equals_reference_over_several_steps(shape, dtype, seed, betas, eps):
    fused = [random_array(shape, seed, dtype=dtype), np.zeros(shape, dtype), np.zeros(shape, dtype)]
    plain = [array.copy() for array in fused]
    for step in range(1, 4):
        grad = random_array(shape, seed + step, dtype=dtype)
        size, root = 0.01 / (1 - betas[0] ** step), np.sqrt(1 - betas[1] ** step)
        K.adam_update(*fused[:1], grad, *fused[1:], *betas, size, root, eps)
        K.reference_adam_update(*plain[:1], grad, *plain[1:], *betas, size, root, eps)
    tolerance = 1e-12 if dtype == np.float64 else 2e-6
    for mine, theirs in zip(fused, plain):
        assert mine.dtype == dtype
        np.testing.assert_allclose(mine, theirs, rtol=tolerance, atol=tolerance)


def test_adam_takes_the_fused_path_only_where_it_applies(monkeypatch):
    calls = []
    monkeypatch.setattr(optim, "adam_update", lambda *args: calls.append(args))
    for amsgrad, expected in ((False, 1), (True, 0)):
        calls.clear()
        p = tensor(np.ones(3, np.float32), requires_grad=True)
        p.grad = np.ones(3, np.float32)
        optim.Adam([p], amsgrad=amsgrad).step()
        assert len(calls) == expected


def test_a_non_contiguous_parameter_is_updated_too():
    base = tensor(np.ones((4, 4), np.float32), requires_grad=True)
    strided = tensor(np.ones((4, 4), np.float32), requires_grad=True)
    strided.data = strided.data.T.copy().T  # same values, Fortran order: the kernel's flat view would copy
    assert not strided.data.flags.c_contiguous
    for p in (base, strided):
        p.grad = np.arange(16, dtype=np.float32).reshape(4, 4)
        optim.Adam([p], lr=0.1).step()
    np.testing.assert_allclose(strided.data, base.data, rtol=1e-6)
    assert not np.array_equal(base.data, np.ones((4, 4)))


@given(shape=shapes(), dtype=float_dtypes(), seed=seeds(), weight=st.sampled_from([1.0, 0.5, 1e-3, 0.0]))
def test_lerp_kernel_equals_reference_bit_for_bit(shape, dtype, seed, weight):
    # The weight average must not change by being fused: same float operations, same order.
    fused, value = random_array(shape, seed, dtype=dtype), random_array(shape, seed + 1, dtype=dtype)
    plain = fused.copy()
    K.lerp_(fused, value, weight)
    K.reference_lerp_(plain, value, weight)
    assert fused.dtype == dtype
    np.testing.assert_array_equal(fused, plain)


def test_lerp_of_a_non_contiguous_average_updates_it_in_place():
    average = np.zeros((4, 4), np.float32).T  # Fortran order: a flat view would be a copy
    K.lerp_(average, np.ones((4, 4), np.float32), 0.25)
    np.testing.assert_array_equal(average, np.full((4, 4), 0.25, np.float32))
