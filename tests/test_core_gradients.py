"""The core ops: gradients against central differences (float64), and forward values against NumPy.

A gradcheck proves a backward consistent with its forward, not the forward itself: a wrong
forward with a backward derived from it passes.  The forward values are checked separately,
against the same computation written in NumPy.
"""
import numpy as np
from hypothesis import given, strategies as st

import tinygan as tg
from tinygan.testing import broadcastable_shapes, float_arrays, float_dtypes, seeds, shapes
from helpers import random_array


def leaf(shape, seed, low=-2.0, high=2.0):
    return tg.tensor(random_array(shape, seed, low=low, high=high), requires_grad=True)


binary_ops = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
}


@given(op=st.sampled_from(sorted(binary_ops)), pair=broadcastable_shapes(), seed=seeds())
def test_binary_ops_with_broadcasting(op, pair, seed):
    shape_a, shape_b = pair
    positive = op in ("div", "pow")  # keep away from 0 (div) and from negative bases (pow)
    a = leaf(shape_a, seed, *((0.5, 2.0) if positive else (-2, 2)))
    b = leaf(shape_b, seed + 1, *((0.5, 2.0) if positive else (-2, 2)))
    assert tg.gradcheck(binary_ops[op], [a, b])


unary_ops = {
    "neg": (lambda a: -a, (-2, 2)),
    "exp": (lambda a: a.exp(), (-2, 2)),
    "log": (lambda a: a.log(), (0.2, 3)),
    "sqrt": (lambda a: a.sqrt(), (0.2, 3)),
    "abs": (lambda a: a.abs(), (0.1, 2)),
    "pow_scalar": (lambda a: a ** 3, (-2, 2)),
    "rsub_scalar": (lambda a: 1.0 - a, (-2, 2)),
    "rdiv_scalar": (lambda a: 1.0 / a, (0.5, 2)),
    "clip": (lambda a: a.clip(-0.5, 0.5), (-2, 2)),
    "relu": (lambda a: a.relu(), (-2, 2)),
    "sigmoid": (lambda a: a.sigmoid(), (-4, 4)),
    "tanh": (lambda a: a.tanh(), (-3, 3)),
}


@given(op=st.sampled_from(sorted(unary_ops)), shape=shapes(), seed=seeds(), negate=st.booleans())
def test_unary_ops(op, shape, seed, negate):
    fn, (low, high) = unary_ops[op]
    if negate and op == "abs":
        low, high = -high, -low
    x = leaf(shape, seed, low, high)
    if op in ("clip", "relu"):  # keep central differences off the kinks
        x.data[np.abs(np.abs(x.data) - 0.5) < 1e-3] += 0.01
        x.data[np.abs(x.data) < 1e-3] += 0.01
    assert tg.gradcheck(fn, [x])


@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds(), keepdims=st.booleans(),
       reduction=st.sampled_from(["sum", "mean", "max"]))
def test_reductions(shape, data, seed, keepdims, reduction):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1),
                               st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True).map(tuple)))
    x = leaf(shape, seed)
    assert tg.gradcheck(lambda t: getattr(t, reduction)(axis=axis, keepdims=keepdims), [x])


@given(shape=shapes(min_dims=1), seed=seeds(), data=st.data())
def test_reshape_permute_flatten(shape, seed, data):
    x = leaf(shape, seed)
    axes = data.draw(st.permutations(range(len(shape))))
    assert tg.gradcheck(lambda t: t.permute(*axes).reshape(-1) * 2.0, [x])
    assert tg.gradcheck(lambda t: t.flatten() ** 2, [x])


@given(shape=shapes(min_dims=2, max_dims=3, min_side=2), seed=seeds())
def test_indexing_and_slicing(shape, seed):
    x = leaf(shape, seed)
    assert tg.gradcheck(lambda t: t[1:, ::-1] * t[:-1, :], [x])
    assert tg.gradcheck(lambda t: t[np.array([0, 0, 1])], [x])
    assert tg.gradcheck(lambda t: t[t.data > 0] * 3.0 if (t.data > 0).any() else t * 1.0, [x])


@given(shape=shapes(min_dims=1, max_dims=3), count=st.integers(1, 3), seed=seeds(), data=st.data())
def test_cat_and_stack(shape, count, seed, data):
    dim = data.draw(st.integers(0, len(shape) - 1))
    tensors = [leaf(shape, seed + i) for i in range(count)]
    assert tg.gradcheck(lambda *ts: tg.cat(ts, dim=dim) * 2.0, tensors)
    assert tg.gradcheck(lambda *ts: tg.stack(ts, dim=dim) ** 2, tensors)


@given(n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4),
       batch=broadcastable_shapes(max_dims=2, max_side=3), seed=seeds())
def test_matmul_with_batch_broadcasting(n, k, m, batch, seed):
    a = leaf(batch[0] + (n, k), seed)
    b = leaf(batch[1] + (k, m), seed + 1)
    assert tg.gradcheck(lambda x, y: x @ y, [a, b])


@given(k=st.integers(1, 4), m=st.integers(1, 4), seed=seeds())
def test_matmul_vectors(k, m, seed):
    v, w, matrix = leaf((k,), seed), leaf((k,), seed + 1), leaf((k, m), seed + 2)
    assert tg.gradcheck(lambda x, y: x @ y, [v, matrix])
    assert tg.gradcheck(lambda x, y: x @ y, [v, w])
    assert tg.gradcheck(lambda x, y: x @ y, [matrix.T * 1.0, v])


@given(lead=shapes(min_dims=1, max_dims=3, max_side=3), n_in=st.integers(1, 5), n_out=st.integers(1, 5),
       seed=seeds(), with_bias=st.booleans())
def test_linear(lead, n_in, n_out, seed, with_bias):
    import tinygan.functional as F
    x, w = leaf(lead + (n_in,), seed), leaf((n_out, n_in), seed + 1)
    inputs = [x, w] + ([leaf((n_out,), seed + 2)] if with_bias else [])
    assert tg.gradcheck(lambda *t: F.linear(*t), inputs)


@given(dtype=float_dtypes(), pair=broadcastable_shapes(), seed=seeds())
def test_float32_agrees_with_float64(dtype, pair, seed):
    a64, b64 = random_array(pair[0], seed), random_array(pair[1], seed + 1, low=0.5, high=2)
    fn = lambda a, b: ((a * b) / b.exp() - a).sigmoid()
    low = fn(tg.tensor(a64.astype(dtype)), tg.tensor(b64.astype(dtype)))
    high = fn(tg.tensor(a64), tg.tensor(b64))
    assert low.dtype == dtype
    np.testing.assert_allclose(low.data, high.data, rtol=1e-4, atol=1e-5)


@given(x=shapes(max_dims=3).flatmap(float_arrays))
def test_the_public_array_strategy_drives_a_gradcheck(x):
    """tinygan.testing.float_arrays, as its docstring shows a user using it."""
    assert x.dtype == np.float64 and np.all(np.abs(x) <= 3)
    assert tg.gradcheck(lambda t: (t * t).exp().sum(), [tg.tensor(x, requires_grad=True)])


# ---------------------------------------------------------------------- forward values against NumPy
numpy_binary = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power}
numpy_unary = {
    "neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs,
    "pow_scalar": lambda a: a ** 3, "rsub_scalar": lambda a: 1.0 - a, "rdiv_scalar": lambda a: 1.0 / a,
    "clip": lambda a: np.clip(a, -0.5, 0.5), "relu": lambda a: np.maximum(a, 0),
    "sigmoid": lambda a: 1 / (1 + np.exp(-a)), "tanh": np.tanh,
}


@given(op=st.sampled_from(sorted(binary_ops)), pair=broadcastable_shapes(), seed=seeds())
def test_binary_forward_equals_numpy(op, pair, seed):
    a, b = random_array(pair[0], seed, low=0.5, high=2.0), random_array(pair[1], seed + 1, low=-2.0, high=2.0)
    np.testing.assert_allclose(binary_ops[op](tg.tensor(a), tg.tensor(b)).data, numpy_binary[op](a, b), rtol=1e-12)
    # and with a Python number on either side
    np.testing.assert_allclose(binary_ops[op](tg.tensor(a), 1.5).data, numpy_binary[op](a, 1.5), rtol=1e-12)
    np.testing.assert_allclose(binary_ops[op](1.5, tg.tensor(b)).data, numpy_binary[op](1.5, b), rtol=1e-12)


@given(op=st.sampled_from(sorted(unary_ops)), shape=shapes(), seed=seeds())
def test_unary_forward_equals_numpy(op, shape, seed):
    fn, (low, high) = unary_ops[op]
    x = random_array(shape, seed, low=low, high=high)
    np.testing.assert_allclose(fn(tg.tensor(x)).data, numpy_unary[op](x), rtol=1e-12)


@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds(), keepdims=st.booleans(),
       reduction=st.sampled_from(["sum", "mean", "max"]))
def test_reduction_forward_equals_numpy(shape, data, seed, keepdims, reduction):
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    x = random_array(shape, seed)
    np.testing.assert_allclose(getattr(tg.tensor(x), reduction)(axis=axis, keepdims=keepdims).data,
                               getattr(np, reduction)(x, axis=axis, keepdims=keepdims), rtol=1e-12)


@given(shape=shapes(min_dims=2, max_dims=3, min_side=2), seed=seeds())
def test_shape_ops_forward_equal_numpy(shape, seed):
    x = random_array(shape, seed)
    t = tg.tensor(x)
    np.testing.assert_array_equal(t.transpose(0, 1).reshape(-1).data, np.swapaxes(x, 0, 1).reshape(-1))
    np.testing.assert_array_equal(t.flatten(1).data, x.reshape(x.shape[0], -1))
    np.testing.assert_array_equal(t[1:, ::-1].data, x[1:, ::-1])
    np.testing.assert_array_equal(t[np.array([0, 0, 1])].data, x[[0, 0, 1]])
    np.testing.assert_array_equal(tg.cat([t, t * 2.0], dim=1).data, np.concatenate([x, x * 2], axis=1))
    np.testing.assert_array_equal(tg.stack([t, t * 2.0], dim=1).data, np.stack([x, x * 2], axis=1))


@given(batch=broadcastable_shapes(max_dims=2, max_side=3), n=st.integers(1, 4), k=st.integers(1, 4),
       m=st.integers(1, 4), seed=seeds())
def test_matmul_and_linear_forward_equal_numpy(batch, n, k, m, seed):
    import tinygan.functional as F
    a, b = random_array(batch[0] + (n, k), seed), random_array(batch[1] + (k, m), seed + 1)
    np.testing.assert_allclose((tg.tensor(a) @ tg.tensor(b)).data, np.matmul(a, b), rtol=1e-12, atol=1e-12)
    weight, bias = random_array((m, k), seed + 2), random_array((m,), seed + 3)
    # linear(x, W, b) = x W^T + b, with torch's (out_features, in_features) weight layout
    np.testing.assert_allclose(F.linear(tg.tensor(a), tg.tensor(weight), tg.tensor(bias)).data, a @ weight.T + bias,
                               rtol=1e-12, atol=1e-12)
