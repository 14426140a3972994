"""The fused leaky_relu kernels (ReLU is slope 0) equal their NumPy references."""
import numpy as np
from hypothesis import given, strategies as st

from tinygan.kernels import activation as K
from tinygan.testing import float_dtypes, seeds, shapes
from helpers import random_array


@given(shape=shapes(), dtype=float_dtypes(), seed=seeds(), slope=st.sampled_from([0.0, 0.01, 0.2, 1.5, -0.3]))
def test_kernels_equal_references(shape, dtype, seed, slope):
    x = random_array(shape, seed, dtype=dtype)
    x.reshape(-1)[: max(1, x.size // 4)] = 0  # the kink itself: the gradient there is the negative side's
    grad = random_array(shape, seed + 1, dtype=dtype)
    out = K.leaky_relu_forward(x, slope)
    assert out.dtype == dtype and out.shape == x.shape
    np.testing.assert_array_equal(out, K.reference_leaky_relu_forward(x, slope))
    grad_x = K.leaky_relu_backward(grad, x, slope)
    assert grad_x.dtype == dtype
    np.testing.assert_array_equal(grad_x, K.reference_leaky_relu_backward(grad, x, slope))


def test_relu_edges_are_torchs():
    """relu(-inf) = 0 (not -inf * 0), negatives give +0.0, NaN stays NaN and passes its gradient
    (torch's threshold_backward: 0 where x <= 0, else g); leaky_relu follows its formula."""
    x = np.array([-np.inf, -2.0, 0.0, 3.0, np.inf, np.nan], dtype=np.float32)
    g = np.full_like(x, 5.0)
    y = K.leaky_relu_forward(x, 0.0)
    np.testing.assert_array_equal(y, [0, 0, 0, 3, np.inf, np.nan])
    assert not np.signbit(y[:3]).any()
    np.testing.assert_array_equal(K.leaky_relu_backward(g, x, 0.0), [0, 0, 0, 5, 5, 5])
    np.testing.assert_array_equal(K.leaky_relu_forward(x, 0.5), [-np.inf, -1.0, 0.0, 3, np.inf, np.nan])
    np.testing.assert_array_equal(K.leaky_relu_backward(g, x, 0.5), [2.5, 2.5, 2.5, 5, 5, 2.5])
