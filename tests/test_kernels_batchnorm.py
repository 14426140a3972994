"""The fused batch-norm kernels equal their NumPy references, in both float dtypes."""
import numpy as np
from hypothesis import given, strategies as st

from tinygan.kernels import batchnorm as K
from tinygan.testing import batch_norm_configs, float_dtypes, seeds
from helpers import random_array


def tolerance(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@given(config=batch_norm_configs(max_batch=6, max_size=5), dtype=float_dtypes(), seed=seeds(), training=st.booleans(),
       slope=st.sampled_from([1.0, 0.0, 0.2, -0.5]))
def test_kernels_equal_references(config, dtype, seed, training, slope):
    shape, channels = config["input_shape"], config["input_shape"][1]
    x = random_array(shape, seed, dtype=dtype) * 3 + 5  # an offset, so the mean matters
    mean, var = K.channel_mean_var(x)
    reference_mean, reference_var = K.reference_channel_mean_var(x)
    assert mean.dtype == var.dtype == dtype
    np.testing.assert_allclose(mean, reference_mean, **tolerance(dtype))
    np.testing.assert_allclose(var, reference_var, **tolerance(dtype))

    inv_std = (1 / np.sqrt(var + 1e-5)).astype(dtype)
    scale, shift = random_array((channels,), seed + 1, dtype=dtype), random_array((channels,), seed + 2, dtype=dtype)
    got = K.normalize(x, mean, inv_std, scale, shift, slope)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, K.reference_normalize(x, mean, inv_std, scale, shift, slope), **tolerance(dtype))

    grad = random_array(shape, seed + 3, dtype=dtype)
    for got, expected in zip(K.batch_norm_backward(grad, x, mean, inv_std, scale, shift, training, slope),
                             K.reference_batch_norm_backward(grad, x, mean, inv_std, scale, shift, training, slope)):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, **tolerance(dtype))


def test_backward_sees_the_sign_the_forward_saw():
    """The backward recomputes y to pick the activation's slope: exactly where the forward's y is
    > 0, the gradient passes whole.  Each channel's shift puts one y at 0 up to rounding, where
    y computed in any other order of operations lands on either side."""
    rng = np.random.default_rng(0)
    channels = 256
    x = rng.standard_normal((4, channels, 4, 4)).astype(np.float32)
    mean, var = K.channel_mean_var(x)
    inv_std = (1 / np.sqrt(var + 1e-5)).astype(np.float32)
    scale = rng.uniform(0.1, 3.0, channels).astype(np.float32)
    shift = (-(x[0, :, 0, 0] - mean) * (inv_std * scale)).astype(np.float32)
    y = K.normalize(x, mean, inv_std, scale, shift, 0.0)
    passed = K.batch_norm_backward(np.ones_like(x), x, mean, inv_std, scale, shift, False, 0.0)[0] != 0
    np.testing.assert_array_equal(passed, y > 0)


def test_float32_variance_has_no_cancellation():
    # E[x^2] - E[x]^2 in float32 loses everything for values near 1e4 with spread 1e-1.
    x = (1e4 + np.random.default_rng(0).standard_normal((64, 2, 4, 4)) * 0.1).astype(np.float32)
    _, var = K.channel_mean_var(x)
    np.testing.assert_allclose(var, x.astype(np.float64).var(axis=(0, 2, 3)), rtol=1e-3)


def test_one_pass_variance_of_a_constant_channel_is_zero():
    x = np.full((4, 2, 3, 3), 7.25, dtype=np.float32)
    mean, var = K.channel_mean_var(x)
    np.testing.assert_array_equal(mean, 7.25)
    np.testing.assert_array_equal(var, 0.0)
