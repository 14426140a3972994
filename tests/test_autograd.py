"""The autograd engine's behaviour, including the pitfalls of docs/autograd.md (a tensor used twice,
a second backward, a freed graph, graphs deeper than the recursion limit)."""
import numpy as np
import pytest

import tinygan as tg
import tinygan.nn as nn


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


def test_no_grad_decorator_is_reentrant():
    @tg.no_grad()
    def countdown(n):
        assert not tg.is_grad_enabled()
        if n:
            countdown(n - 1)

    countdown(3)
    assert tg.is_grad_enabled()  # one shared context would have left it off (as torch: on)


# ---------------------------------------------------------------------- Python's protocols, as torch
def test_a_hand_written_sgd_step_changes_the_parameters_in_place():
    layer = nn.Linear(3, 2)
    weight = layer.weight  # another reference: it must see the change too
    before = weight.data.copy()
    (layer(tg.tensor(np.ones((4, 3), np.float32))) ** 2).sum().backward()
    with tg.no_grad():
        for p in layer.parameters():
            p -= 0.1 * p.grad
    np.testing.assert_allclose(weight.data, before - 0.1 * weight.grad, rtol=1e-6)
    assert layer.weight is weight and weight.is_leaf and weight.requires_grad


@pytest.mark.parametrize("operator", ["+=", "-=", "*=", "/="])
def test_in_place_arithmetic_matches_the_out_of_place_result(operator):
    x = tg.tensor(np.arange(1, 7, dtype=np.float32).reshape(2, 3))
    y = np.array([2.0, 4.0, 8.0], dtype=np.float32)
    expected = eval(f"x.data {operator[0]} y")
    alias = x
    exec(f"x {operator} y")
    assert x is alias and x.dtype == np.float32
    np.testing.assert_array_equal(x.data, expected)


def test_in_place_arithmetic_is_refused_where_the_graph_would_miss_it():
    leaf = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"x \+= y: in-place arithmetic on a tensor that requires grad"):
        leaf += 1
    out = leaf * 2
    with pytest.raises(RuntimeError, match="requires grad"):
        out *= 3
    plain = tg.tensor([1.0])
    with pytest.raises(RuntimeError, match="requires grad"):
        plain += leaf
    with pytest.raises(TypeError, match=r"x \+= y: the result \(float64\) cannot be stored in x's dtype int64"):
        ints = tg.tensor(np.array([1, 2]))
        ints += 1.5
    with pytest.raises(ValueError, match=r"y of shape \(4, 3\) does not broadcast to x's shape \(2, 3\)"):
        zeros = tg.zeros(2, 3)
        zeros += np.ones((4, 3))


def test_truth_value_and_number_conversions_of_one_element_tensors():
    assert not tg.tensor([0.0]) and tg.tensor(2.0) > 1 and (tg.tensor([[3.0]]) == 3)
    assert float(tg.tensor([2.5])) == 2.5 and int(tg.tensor(3.9)) == 3
    assert f"{tg.tensor(1.23456):.2f}" == "1.23"
    assert max(tg.tensor(1.0), tg.tensor(2.0)).item() == 2.0
    for many in (tg.tensor([0.0, 0.0]), tg.tensor(np.zeros((0,), np.float32))):
        with pytest.raises(RuntimeError, match="ambiguous"):
            bool(many)


def test_tensor_of_a_tensor_copies_it():
    source = tg.tensor([1.0, 2.0])
    copy = tg.tensor(source)
    source.data[0] = 7.0
    np.testing.assert_array_equal(copy.data, [1.0, 2.0])


def test_numbers_in_the_other_byte_order_become_native():
    """An array read as big-endian (">f4", e.g. from a file written elsewhere) makes a tensor
    of this machine's float32, which the kernels take (relu, conv2d gave Numba's TypingError
    before).  torch.tensor refuses such an array; the results are compared with torch's on
    a native copy of the same numbers."""
    torch = pytest.importorskip("torch")
    swapped = np.linspace(-2, 2, 2 * 1 * 4 * 4).reshape(2, 1, 4, 4).astype(">f4")
    native = torch.tensor(swapped.astype(np.float32))
    for make in (tg.tensor, tg.Tensor):
        x = make(swapped)
        assert x.dtype == np.float32 and x.data.dtype.isnative
        np.testing.assert_array_equal(tg.functional.relu(x).data, torch.relu(native).numpy())
    weight = np.ones((1, 1, 2, 2), ">f4")
    np.testing.assert_allclose(tg.functional.conv2d(tg.tensor(swapped), tg.tensor(weight)).data,
                               torch.nn.functional.conv2d(native, torch.ones(1, 1, 2, 2)).numpy(), rtol=1e-6)


@pytest.mark.parametrize("op", ["relu", "leaky_relu", "conv2d", "max_pool2d", "batch_norm", "interpolate"])
def test_raw_arrays_in_the_other_byte_order_reach_the_kernels(op):
    """An op handed a raw ">f4" NumPy array, not a tensor, converts it as tinygan.tensor
    does (relu raised Numba's TypingError, conv2d a TypeError telling to call .float() on
    an array, which has no .float()).  Compared with torch on a native copy."""
    torch = pytest.importorskip("torch")
    swapped = np.linspace(-2, 2, 2 * 3 * 6 * 6).reshape(2, 3, 6, 6).astype(">f4")
    weight = np.linspace(-1, 1, 4 * 3 * 3 * 3).reshape(4, 3, 3, 3).astype(">f4")
    native, native_weight = torch.tensor(swapped.astype(np.float32)), torch.tensor(weight.astype(np.float32))
    calls = {
        "relu": (lambda F, x, w: F.relu(x)),
        "leaky_relu": (lambda F, x, w: F.leaky_relu(x, 0.2)),
        "conv2d": (lambda F, x, w: F.conv2d(x, w, padding=1)),
        "max_pool2d": (lambda F, x, w: F.max_pool2d(x, 2)),
        "batch_norm": (lambda F, x, w: F.batch_norm(x, None, None, training=True)),
        "interpolate": (lambda F, x, w: F.interpolate(x, scale_factor=2, mode="bilinear")),
    }
    ours = calls[op](tg.functional, swapped, weight)
    theirs = calls[op](torch.nn.functional, native, native_weight)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-5, atol=1e-6)


def test_protocols_agree_with_torch():
    torch = pytest.importorskip("torch")
    for values in ([0.0], [3.5], [[-2.0]]):
        assert bool(tg.tensor(values)) == bool(torch.tensor(values))
        assert float(tg.tensor(values)) == float(torch.tensor(values))
        assert int(tg.tensor(values)) == int(torch.tensor(values))
    assert f"{tg.tensor(2.0 / 3):.3f}" == f"{torch.tensor(2.0 / 3):.3f}"
    with pytest.raises(RuntimeError):
        bool(torch.tensor([0.0, 0.0]))  # the case tinygan refuses, refused by torch too
    theirs, ours = torch.arange(6.0).reshape(2, 3), tg.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    for step in ("x += 1.5", "x -= x * 0.5", "x *= 2", "x /= 4"):
        for x in (theirs, ours):
            exec(step, {"x": x})
    np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_max_along_a_dim_gives_values_and_indices_and_ties_go_to_the_first():
    x = tg.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), requires_grad=True)
    values, indices = x.max(1)  # the idiom `_, predicted = logits.max(1)`
    np.testing.assert_array_equal(values.data, [3.0, 2.0])
    np.testing.assert_array_equal(indices.data, [1, 0])  # the first of the tied maxima
    assert indices.dtype == np.int64 and not indices.requires_grad
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])  # all to that element, none shared
    shared = tg.tensor(np.array([[1.0, 3.0, 3.0]]), requires_grad=True)
    shared.amax(1).sum().backward()
    np.testing.assert_array_equal(shared.grad, [[0, 0.5, 0.5]])  # amax shares it (as torch.amax)
    assert x.max().item() == 3.0 and x.max(axis=1).shape == (2,)  # no dim: a value; NumPy's axis=: values
    with pytest.raises(TypeError, match="max: dim must be one int"):
        x.max((0, 1))


def test_to_cpu_is_itself_and_a_foreign_dtype_is_a_clear_error():
    x = tg.tensor([1.0, 2.0])
    assert x.to("cpu") is x and x.to(np.float32) is x and x.to("float64").dtype == np.float64
    with pytest.raises(TypeError, match=r"to: expected a NumPy dtype .* or 'cpu', got 'cuda'"):
        x.to("cuda")
    with pytest.raises(IndexError, match=r"size: dim=5 is out of range for 1 dims \(expected an int in \[-1, 0\]\)"):
        x.size(5)


def test_a_dim_out_of_range_is_an_index_error_not_another_axis():
    # Modulo arithmetic once turned these into other, valid axes: cat(dim=2) of two (2, 3)
    # tensors joined them along dim 0.  torch raises IndexError, and so does tinygan now.
    a = tg.tensor(np.ones((2, 3), np.float32))
    x = tg.tensor(np.ones((2, 3, 4), np.float32))
    for call, message in [(lambda: tg.cat([a, a], dim=2), r"cat: dim=2 is out of range for 2 dims"),
                          (lambda: tg.cat([a, a], dim=-3), r"cat: dim=-3"),
                          (lambda: tg.stack([a, a], dim=3), r"stack: dim=3 is out of range for 3 dims"),
                          (lambda: x.flatten(3), r"flatten: start_dim=3"),
                          (lambda: x.transpose(0, 3), r"transpose: dim1=3"),
                          (lambda: x.argmax(3), r"argmax: dim=3"),
                          (lambda: x.max(-4), r"max: dim=-4")]:
        with pytest.raises(IndexError, match=message):
            call()
    assert tg.cat([a, a], dim=-1).shape == (2, 6) and tg.stack([a, a], dim=-1).shape == (2, 3, 2)
    assert x.flatten(-2).shape == (2, 12) and x.transpose(-1, 0).shape == (4, 3, 2)
    with pytest.raises(ValueError, match="flatten: start_dim=2 comes after end_dim=1"):
        x.flatten(2, 1)
    with pytest.raises(TypeError, match="cat: dim must be an int"):
        tg.cat([a, a], dim=1.5)
    with pytest.raises(ValueError, match="argmax: an empty tensor"):
        tg.tensor(np.zeros((0, 3), np.float32)).argmax()
