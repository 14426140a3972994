"""nn.Embedding / F.embedding: the row lookup, its scatter-add backward, torch's semantics, bad input."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygan as tg
import tinygan.functional as F
import tinygan.nn as nn
from tinygan.testing import seeds
from helpers import compare_with_torch, random_array


@given(rows=st.integers(1, 6), dim=st.integers(1, 4), index_shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
       seed=seeds())
def test_embedding_gradient_matches_central_differences(rows, dim, index_shape, seed):
    # Indices drawn with replacement, so most draws repeat rows: their gradients must add up.
    indices = np.random.default_rng(seed).integers(0, rows, size=index_shape)
    weight = tg.tensor(random_array((rows, dim), seed), requires_grad=True)
    assert tg.gradcheck(lambda i, w: F.embedding(i, w), [indices, weight])


def test_repeated_index_receives_every_contribution_worked_by_hand():
    weight = tg.tensor(np.arange(6, dtype=np.float64).reshape(3, 2), requires_grad=True)
    out = F.embedding(np.array([[2, 0], [2, 2]]), weight)
    assert np.array_equal(out.data, [[[4, 5], [0, 1]], [[4, 5], [4, 5]]])
    out.backward(np.array([[[1.0, 10.0], [100.0, 1000.0]], [[2.0, 20.0], [3.0, 30.0]]]))
    # Row 2 was picked three times (gradients 1+2+3, 10+20+30), row 0 once, row 1 never.
    assert np.array_equal(weight.grad, [[100, 1000], [0, 0], [6, 60]])


def test_layer_shapes_and_default_init_is_standard_normal():
    tg.manual_seed(0)
    layer = nn.Embedding(1000, 50)
    assert layer.weight.shape == (1000, 50) and layer.weight.dtype == np.float32
    # torch initialises with N(0, 1): mean ~0 and std ~1 over 50,000 draws (4 sigma bounds).
    assert abs(layer.weight.data.mean()) < 4 / np.sqrt(50_000)
    assert abs(layer.weight.data.std() - 1) < 0.02
    assert layer(tg.tensor(np.array([[1, 2, 3]]))).shape == (1, 3, 50)
    assert repr(layer) == "Embedding(1000, 50)"


@given(rows=st.integers(1, 6), dim=st.integers(1, 4), count=st.integers(1, 8), seed=seeds())
def test_embedding_matches_torch(rows, dim, count, seed):
    torch = pytest.importorskip("torch")
    indices = np.random.default_rng(seed).integers(0, rows, size=(count,))
    compare_with_torch(lambda w: F.embedding(indices, w),
                       lambda w: torch.nn.functional.embedding(torch.tensor(indices), w),
                       [random_array((rows, dim), seed)])


def test_state_dict_loads_into_torch_embedding():
    torch = pytest.importorskip("torch")
    layer = nn.Embedding(10, 3)
    theirs = torch.nn.Embedding(10, 3)
    theirs.load_state_dict({key: torch.tensor(value) for key, value in layer.state_dict().items()})
    labels = np.array([7, 0, 7])
    assert np.array_equal(layer(tg.tensor(labels)).data, theirs(torch.tensor(labels)).detach().numpy())


def test_bad_input_names_the_op_and_what_was_given():
    weight = tg.tensor(np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="embedding: input must hold integer indices, got dtype float32"):
        F.embedding(np.array([1.0], dtype=np.float32), weight)
    with pytest.raises(ValueError, match=r"embedding: index 10 is out of range for a table of 10 rows"):
        F.embedding(np.array([3, 10]), weight)
    with pytest.raises(ValueError, match=r"embedding: index -1 is out of range"):
        F.embedding(np.array([-1]), weight)
    with pytest.raises(TypeError, match="embedding: weight must be a floating-point tensor"):
        F.embedding(np.array([0]), tg.tensor(np.zeros((2, 2), dtype=np.int64)))
    with pytest.raises(ValueError, match="Embedding: num_embeddings must be a positive int, got 0"):
        nn.Embedding(0, 3)
