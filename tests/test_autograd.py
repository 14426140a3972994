"""The autograd engine's behaviour, including the pitfalls of docs/autograd.md (a tensor used twice,
a second backward, a freed graph, graphs deeper than the recursion limit)."""
import numpy as np
import pytest

import tinygan as tg


def test_leaf_grad_has_shape_and_dtype_of_data():
    x = tg.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    (x * 3.0).sum().backward()
    assert x.grad.shape == (2, 3) and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 3.0))


def test_tensor_used_twice_adds_both_contributions():
    # y = x*x + x  ->  dy/dx = 2x + 1 ; a non-leaf used twice as well: z = (y + y)
    x = tg.tensor([3.0], requires_grad=True)
    y = x * x + x
    z = y + y
    z.backward()
    np.testing.assert_allclose(x.grad, [2 * (2 * 3.0 + 1)])


def test_second_backward_accumulates_with_retain_graph():
    x = tg.tensor([2.0], requires_grad=True)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [8.0])  # 4 + 4, as torch


def test_backward_through_freed_graph_raises():
    x = tg.tensor([2.0], requires_grad=True)
    y = x * x
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_deep_chain_does_not_recurse():
    x = tg.tensor([1.0], requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(20_000):
        y = y * 1.0 + 0.0
    y.backward()
    np.testing.assert_allclose(x.grad, [1.0])


def test_diamond_graph_visits_each_node_once():
    x = tg.tensor([1.5], requires_grad=True, dtype=np.float64)
    a = x.exp()
    b = a * a      # a used twice
    c = a + b      # a used a third time
    c.backward()
    e = np.exp(1.5)
    np.testing.assert_allclose(x.grad, [e + 2 * e * e])


def test_no_grad_context_and_decorator():
    x = tg.tensor([1.0], requires_grad=True)
    with tg.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.grad_fn is None

    @tg.no_grad()
    def double(t):
        return t * 2.0

    assert not double(x).requires_grad
    assert (x * 2.0).requires_grad  # switched back on afterwards


def test_detach_cuts_the_graph_and_shares_memory():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf
    y = (x * d).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])  # d counted as a constant


def test_backward_on_non_scalar_needs_gradient():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 2.0).backward()
    (x * 2.0).backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad, [2.0, 20.0])


def test_backward_gradient_of_wrong_shape():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        (x * 2.0).backward(np.ones(3))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.tensor([1.0]).backward()


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        tg.tensor([1, 2], requires_grad=True)
    x = tg.tensor([1, 2])
    assert x.dtype == np.int64
    assert x.float().dtype == np.float32  # integer data becomes float only when asked


def test_dtypes_are_kept():
    f32 = tg.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    f64 = tg.tensor(np.ones(3, dtype=np.float64), requires_grad=True)
    assert tg.tensor([1.0]).dtype == np.float32           # Python floats default to float32
    assert (f32 * 2.5 + 1).dtype == np.float32             # Python scalars do not upcast
    assert (2.5 / f32).dtype == np.float32
    assert (f32 ** 2).dtype == np.float32
    assert (f64 * 2.5).dtype == np.float64
    mixed = f32 * f64                                       # NumPy's promotion
    assert mixed.dtype == np.float64
    mixed.sum().backward()
    assert f32.grad.dtype == np.float32 and f64.grad.dtype == np.float64


def test_broadcast_mismatch_names_the_op_and_shapes():
    a, b = tg.zeros(2, 3), tg.zeros(4)
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\)"):
        a + b


def test_matmul_mismatch_names_the_shapes():
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ: \(2, 3\) @ \(4, 5\)"):
        tg.zeros(2, 3) @ tg.zeros(4, 5)


def test_comparisons_carry_no_gradient():
    x = tg.tensor([1.0, -1.0], requires_grad=True)
    mask = x > 0
    assert mask.dtype == bool and not mask.requires_grad
    np.testing.assert_array_equal(mask.data, [True, False])


def test_indexing_with_repeated_indices_accumulates():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[np.array([0, 0, 2])].sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 0.0, 1.0])


def test_max_ties_share_the_gradient():
    x = tg.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad, [0.0, 0.5, 0.5])


def square_with_backward(backward):
    """a * a as a Function whose backward returns backward(grad, a) (right: 2 * a * grad)."""
    class Square(tg.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved_tensors
            return (backward(grad, a),)

    return Square.apply


def test_gradcheck_catches_a_wrong_backward():
    wrong_everywhere = square_with_backward(lambda grad, a: grad * a)  # should be 2 * a
    x = tg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(AssertionError, match=r"input 0 .* numerical .* analytical"):
        tg.gradcheck(wrong_everywhere, [x])


def test_gradcheck_reports_a_backward_wrong_in_one_element_of_many():
    def right_except_at_1_3(grad, a):
        result = 2 * a * grad
        result[1, 3] += 0.5
        return result

    wrong_once = square_with_backward(right_except_at_1_3)
    # Two inputs, so the report must say which one; the first one's backward is right.
    right = tg.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    wrong = tg.tensor(np.linspace(0.5, 2, 12).reshape(3, 4), requires_grad=True)
    with pytest.raises(AssertionError, match=r"input 1 \(shape \(3, 4\)\), element \(1, 3\):.*"
                                             r"\(1 of 12 elements outside"):
        tg.gradcheck(lambda a, b: a * a + wrong_once(b), [right, wrong])
    assert tg.gradcheck(square_with_backward(lambda grad, a: 2 * a * grad), [wrong])  # the right one passes


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="nothing to check"):
        tg.gradcheck(lambda a: a * 2.0, [tg.tensor([1.0])])


def test_manual_seed_makes_randn_repeatable():
    tg.manual_seed(7)
    a = tg.randn(3, 4)
    tg.manual_seed(7)
    b = tg.randn(3, 4)
    np.testing.assert_array_equal(a.data, b.data)
    assert a.dtype == np.float32 and a.shape == (3, 4)


def test_cat_stack_shape_errors():
    with pytest.raises(ValueError, match="cat: all tensors must have the same shape"):
        tg.cat([tg.zeros(2, 3), tg.zeros(2, 4)], dim=0)
    with pytest.raises(ValueError, match="stack"):
        tg.stack([tg.zeros(2), tg.zeros(3)])
