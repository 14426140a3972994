"""Forward and backward of the core ops against torch (skipped when torch is absent)."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygan as tg
from tinygan.testing import broadcastable_shapes, seeds, shapes
from helpers import compare_with_torch, random_array

torch = pytest.importorskip("torch")

binary = [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("pow", lambda a, b: a ** b),
]


@pytest.mark.parametrize("name,fn", binary, ids=[b[0] for b in binary])
@given(pair=broadcastable_shapes(), seed=seeds())
def test_binary_ops(name, fn, pair, seed):
    low = 0.5 if name in ("div", "pow") else -2.0
    arrays = [random_array(pair[0], seed, low=low), random_array(pair[1], seed + 1, low=low)]
    compare_with_torch(fn, fn, arrays)


unary = [
    ("neg", lambda a: -a, lambda a: -a, -2),
    ("exp", lambda a: a.exp(), lambda a: a.exp(), -2),
    ("log", lambda a: a.log(), lambda a: a.log(), 0.1),
    ("sqrt", lambda a: a.sqrt(), lambda a: a.sqrt(), 0.1),
    ("abs", lambda a: a.abs(), lambda a: a.abs(), -2),
    ("clip", lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5), -2),
    ("relu", lambda a: a.relu(), lambda a: a.relu(), -2),
    ("sigmoid", lambda a: a.sigmoid(), lambda a: a.sigmoid(), -2),
    ("tanh", lambda a: a.tanh(), lambda a: a.tanh(), -2),
]


@pytest.mark.parametrize("name,ours,theirs,low", unary, ids=[u[0] for u in unary])
@given(shape=shapes(), seed=seeds())
def test_unary_ops(name, ours, theirs, low, shape, seed):
    compare_with_torch(ours, theirs, [random_array(shape, seed, low=low)])


@given(shape=shapes(min_dims=1), seed=seeds(), keepdims=st.booleans(), data=st.data())
def test_reductions(shape, seed, keepdims, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    x = random_array(shape, seed)
    compare_with_torch(lambda t: t.sum(axis, keepdims), lambda t: t.sum(axis, keepdims), [x])
    compare_with_torch(lambda t: t.mean(axis, keepdims), lambda t: t.mean(axis, keepdims), [x])
    compare_with_torch(lambda t: t.amax(axis, keepdims), lambda t: t.amax(axis, keepdims), [x])
    # max along one dim: (values, indices), the gradient to the first maximum only (as torch)
    compare_with_torch(lambda t: t.max(axis, keepdims).values, lambda t: t.max(axis, keepdims).values, [x])
    compare_with_torch(lambda t: t.max(axis, keepdims).indices, lambda t: t.max(axis, keepdims).indices, [x],
                       grad=False)
    compare_with_torch(lambda t: t.argmax(axis, keepdims), lambda t: t.argmax(axis, keepdims), [x], grad=False)
    compare_with_torch(lambda t: t.argmax(), lambda t: t.argmax(), [x], grad=False)


@given(shape=shapes(min_dims=2, max_dims=4, min_side=2), seed=seeds())
def test_shape_ops(shape, seed):
    x = random_array(shape, seed)
    compare_with_torch(lambda t: t.transpose(0, 1).reshape(-1), lambda t: t.transpose(0, 1).reshape(-1), [x])
    compare_with_torch(lambda t: t.flatten(1), lambda t: t.flatten(1), [x])
    compare_with_torch(lambda t: t[1:, ::2], lambda t: t[1:, ::2], [x])
    compare_with_torch(lambda t: tg.cat([t, t * 2.0], dim=1), lambda t: torch.cat([t, t * 2.0], dim=1), [x])
    compare_with_torch(lambda t: tg.stack([t, t], dim=0), lambda t: torch.stack([t, t], dim=0), [x])


@given(batch=broadcastable_shapes(max_dims=2, max_side=3), n=st.integers(1, 4), k=st.integers(1, 4),
       m=st.integers(1, 4), seed=seeds())
def test_matmul(batch, n, k, m, seed):
    arrays = [random_array(batch[0] + (n, k), seed), random_array(batch[1] + (k, m), seed + 1)]
    compare_with_torch(lambda a, b: a @ b, lambda a, b: a @ b, arrays)


@given(lead=shapes(min_dims=1, max_dims=3, max_side=3), n_in=st.integers(1, 5), n_out=st.integers(1, 5), seed=seeds())
def test_linear(lead, n_in, n_out, seed):
    import tinygan.functional as F
    arrays = [random_array(lead + (n_in,), seed), random_array((n_out, n_in), seed + 1), random_array((n_out,), seed + 2)]
    compare_with_torch(F.linear, torch.nn.functional.linear, arrays)


def test_float32_results_match_torch_dtype():
    x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    compare_with_torch(lambda t: (t * 2.5 + 1).sigmoid().sum(0), lambda t: (t * 2.5 + 1).sigmoid().sum(0), [x],
                       rtol=1e-5, atol=1e-6)
