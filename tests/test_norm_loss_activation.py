"""batch_norm, the losses and the activations: gradients, stability, running statistics, bad input."""
import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st

import tinygan as tg
import tinygan.functional as F
import tinygan.nn as nn
from tinygan.testing import batch_norm_configs, seeds, shapes
from helpers import random_array


def leaf(shape, seed, low=-2.0, high=2.0):
    return tg.tensor(random_array(shape, seed, low=low, high=high), requires_grad=True)


@given(config=batch_norm_configs(), seed=seeds())
def test_batch_norm_gradcheck(config, seed):
    shape, channels = config["input_shape"], config["input_shape"][1]
    running = [np.zeros(channels), np.ones(channels)]
    inputs = [leaf(shape, seed)] + ([leaf((channels,), seed + 1), leaf((channels,), seed + 2)] if config["affine"] else [])
    options = dict(training=config["training"], momentum=config["momentum"], eps=config["eps"])
    assert tg.gradcheck(lambda x, *wb: F.batch_norm(x, *running, *wb, **options), inputs)


@given(config=batch_norm_configs(), seed=seeds(), slope=st.sampled_from([0.0, 0.2, -0.5]))
def test_batch_norm_activation_gradcheck(config, seed, slope):
    shape, channels = config["input_shape"], config["input_shape"][1]
    running = [np.zeros(channels), np.ones(channels)]
    inputs = [leaf(shape, seed)] + ([leaf((channels,), seed + 1), leaf((channels,), seed + 2)] if config["affine"] else [])
    options = dict(training=config["training"], momentum=config["momentum"], eps=config["eps"], negative_slope=slope)
    assert tg.gradcheck(lambda x, *wb: F.batch_norm_activation(x, *running, *wb, **options), inputs)


@given(config=batch_norm_configs(), seed=seeds(), slope=st.sampled_from([0.0, 0.2]))
def test_batch_norm_activation_is_the_two_ops_in_a_row(config, seed, slope):
    """Forward, the gradients of x, weight and bias, and the running statistics, float32."""
    shape, channels = config["input_shape"], config["input_shape"][1]
    x = random_array(shape, seed, low=-3, high=3).astype(np.float32)
    weight, bias = random_array((channels,), seed + 1).astype(np.float32), random_array((channels,), seed + 2).astype(np.float32)
    upstream = random_array(shape, seed + 3).astype(np.float32)
    results = []
    for fused in (True, False):
        running = [np.zeros(channels, np.float32), np.ones(channels, np.float32)]
        leaves = [tg.tensor(v, requires_grad=True) for v in (x, weight, bias)]
        options = dict(training=config["training"], momentum=config["momentum"], eps=config["eps"])
        if fused:
            out = F.batch_norm_activation(*leaves[:1], *running, *leaves[1:], negative_slope=slope, **options)
        else:
            out = F.leaky_relu(F.batch_norm(*leaves[:1], *running, *leaves[1:], **options), slope)
        (out * tg.tensor(upstream)).sum().backward()
        results.append([out.data] + [leaf.grad for leaf in leaves] + running)
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_batch_norm_running_var_is_unbiased_and_momentum_is_torchs():
    x = np.array([[1.0], [2.0], [3.0], [6.0]])  # one channel, m = 4: mean 3, biased var 3.5, unbiased 14/3
    running_mean, running_var = np.array([10.0]), np.array([1.0])
    y = F.batch_norm(tg.tensor(x), running_mean, running_var, training=True, momentum=0.1)
    np.testing.assert_allclose(running_mean, [0.9 * 10 + 0.1 * 3])
    np.testing.assert_allclose(running_var, [0.9 * 1 + 0.1 * 14 / 3])
    np.testing.assert_allclose(y.data[:, 0], (x[:, 0] - 3) / np.sqrt(3.5 + 1e-5))  # normalised with the biased var


def test_batch_norm_eval_uses_running_statistics():
    x = np.array([[1.0, 5.0], [3.0, 5.0]])
    y = F.batch_norm(tg.tensor(x), np.array([1.0, 4.0]), np.array([4.0, 1.0]), np.array([2.0, 1.0]),
                     np.array([0.0, 1.0]), training=False, eps=0.0)
    np.testing.assert_allclose(y.data, [[0.0, 2.0], [2.0, 2.0]])


@given(config=batch_norm_configs(), seed=seeds())
def test_batch_norm_follows_its_formula_and_updates_running_statistics(config, seed):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel, with the batch's mean and biased
    variance in training (running = (1 - momentum) running + momentum * batch, unbiased variance)
    and the running ones in evaluation."""
    shape, channels = config["input_shape"], config["input_shape"][1]
    x = random_array(shape, seed, low=-3, high=3)
    weight, bias = (random_array((channels,), seed + 1), random_array((channels,), seed + 2)) if config["affine"] \
        else (np.ones(channels), np.zeros(channels))
    running_mean, running_var = random_array((channels,), seed + 3), random_array((channels,), seed + 4, low=0.5)
    old_mean, old_var = running_mean.copy(), running_var.copy()
    axes = (0,) + tuple(range(2, len(shape)))
    per_channel = (1, -1) + (1,) * (len(shape) - 2)
    momentum, eps = config["momentum"], config["eps"]
    if config["training"]:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        count = x.size // channels
        expected_mean = (1 - momentum) * old_mean + momentum * mean
        expected_var = (1 - momentum) * old_var + momentum * var * count / (count - 1)
    else:
        mean, var, expected_mean, expected_var = old_mean, old_var, old_mean, old_var
    expected = (x - mean.reshape(per_channel)) / np.sqrt(var.reshape(per_channel) + eps) * weight.reshape(per_channel) \
        + bias.reshape(per_channel)
    affine = (weight, bias) if config["affine"] else ()
    y = F.batch_norm(tg.tensor(x), running_mean, running_var, *affine, training=config["training"],
                     momentum=momentum, eps=eps)
    np.testing.assert_allclose(y.data, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(running_mean, expected_mean, rtol=1e-12)
    np.testing.assert_allclose(running_var, expected_var, rtol=1e-12)


def test_batch_norm_training_output_is_normalised_per_channel():
    x = random_array((8, 3, 4, 4), 0) * np.array([1, 5, 20])[None, :, None, None] + 7
    y = F.batch_norm(tg.tensor(x), None, None, training=True).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1, rtol=1e-3)


@pytest.mark.parametrize("call,message", [
    (lambda: F.batch_norm(tg.zeros(4, 3), np.zeros(2), np.ones(2), training=True), r"running_mean must have shape \(3,\)"),
    (lambda: F.batch_norm(tg.zeros(4, 3), None, None, tg.ones(4), training=True), r"weight must have shape \(3,\)"),
    (lambda: F.batch_norm(tg.zeros(1, 3), None, None, training=True), r"more than 1 value per channel"),
    (lambda: F.batch_norm(tg.zeros(4, 3, 2), None, None, training=True), r"input must be 2-D or 4-D"),
    (lambda: F.batch_norm(tg.zeros(4, 3), None, None, training=False), r"needs running_mean and running_var"),
])
def test_batch_norm_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(shape=shapes(min_dims=1), seed=seeds())
def test_loss_gradchecks(reduction, shape, seed):
    target = tg.tensor(np.random.default_rng(seed).uniform(0, 1, size=shape))
    assert tg.gradcheck(lambda p: F.binary_cross_entropy(p, target, reduction=reduction), [leaf(shape, seed, 0.05, 0.95)])
    assert tg.gradcheck(lambda z: F.binary_cross_entropy_with_logits(z, target, reduction=reduction), [leaf(shape, seed, -4, 4)])
    # a target that requires grad gets one (the loss is linear in it)
    soft = leaf(shape, seed + 2, 0, 1)
    assert tg.gradcheck(lambda p, t: F.binary_cross_entropy(p, t, reduction=reduction),
                        [leaf(shape, seed, 0.05, 0.95), soft])
    assert tg.gradcheck(lambda z, t: F.binary_cross_entropy_with_logits(z, t, reduction=reduction),
                        [leaf(shape, seed, -4, 4), soft])
    assert tg.gradcheck(lambda x, t: F.mse_loss(x, t, reduction=reduction), [leaf(shape, seed), leaf(shape, seed + 1)])


def test_bce_by_hand():
    p, t = tg.tensor(np.array([0.5, 0.9]), requires_grad=True), tg.tensor(np.array([1.0, 0.0]))
    loss = F.binary_cross_entropy(p, t)
    np.testing.assert_allclose(loss.item(), -(np.log(0.5) + np.log(0.1)) / 2)
    loss.backward()
    np.testing.assert_allclose(p.grad, [-1 / 0.5 / 2, 1 / 0.1 / 2])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(shape=shapes(min_dims=1), seed=seeds(), weighted=st.booleans())
def test_loss_values_follow_their_formulas(reduction, shape, seed, weighted):
    """Each loss's per-element formula written naively in NumPy (safe for |z| <= 6), weighted, reduced."""
    rng = np.random.default_rng(seed)
    target, weight = rng.uniform(0, 1, size=shape), rng.uniform(0.1, 2, size=shape) if weighted else None
    p, z, x = rng.uniform(0.01, 0.99, size=shape), rng.uniform(-6, 6, size=shape), rng.uniform(-2, 2, size=shape)
    reduce = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction]
    w = 1.0 if weight is None else weight
    sigmoid = 1 / (1 + np.exp(-z))
    expected = {
        "bce": reduce(-w * (target * np.log(p) + (1 - target) * np.log(1 - p))),
        "bce_with_logits": reduce(-w * (target * np.log(sigmoid) + (1 - target) * np.log(1 - sigmoid))),
        "mse": reduce((x - target) ** 2),
    }
    got = {
        "bce": F.binary_cross_entropy(tg.tensor(p), tg.tensor(target), weight, reduction=reduction),
        "bce_with_logits": F.binary_cross_entropy_with_logits(tg.tensor(z), tg.tensor(target), weight,
                                                              reduction=reduction),
        "mse": F.mse_loss(tg.tensor(x), tg.tensor(target), reduction=reduction),
    }
    for name in expected:
        np.testing.assert_allclose(got[name].data, expected[name], rtol=1e-10, err_msg=name)


def test_weighted_bce_gradient_by_hand():
    # l = -w log(p) for t = 1: dl/dp = -w / p;  the mean over 2 halves it.
    p = tg.tensor(np.array([0.5, 0.25]), requires_grad=True)
    F.binary_cross_entropy(p, tg.tensor(np.ones(2)), weight=np.array([2.0, 3.0])).backward()
    np.testing.assert_allclose(p.grad, [-2 / 0.5 / 2, -3 / 0.25 / 2])
    z = tg.tensor(np.array([0.0, 0.0]), requires_grad=True)
    # dl/dz = w (sigmoid(z) - t) = w (0.5 - t), summed
    F.binary_cross_entropy_with_logits(z, tg.tensor(np.array([1.0, 0.0])), np.array([2.0, 3.0]),
                                       reduction="sum").backward()
    np.testing.assert_allclose(z.grad, [2 * -0.5, 3 * 0.5])


def test_bce_clamps_each_log_at_minus_100_for_probabilities_0_and_1():
    # torch: log(p) and log(1 - p) are clamped at -100, and dL/dp = (p - t) / max(p (1 - p), 1e-12).
    p = tg.tensor(np.array([0.0, 1.0, 0.0, 1.0]), requires_grad=True)
    t = tg.tensor(np.array([0.0, 1.0, 1.0, 0.0]))
    loss = F.binary_cross_entropy(p, t, reduction="none")
    # Right answers cost -log(1) = 0 (times a 0 * -100 for the other term); wrong ones 100.
    np.testing.assert_array_equal(loss.data, [0.0, 0.0, 100.0, 100.0])
    loss.backward(np.ones(4))
    np.testing.assert_allclose(p.grad, [0.0, 0.0, -1e12, 1e12], rtol=1e-12)


@pytest.mark.parametrize("x", [17.5, 20.0, 30.0])
def test_bce_of_a_float32_sigmoid_that_rounds_to_one_stays_finite(x):
    # Above x ~ 17, 1 / (1 + exp(-x)) rounds to exactly 1.0 in float32: this happens in training.
    z = tg.tensor(np.array([x, x], dtype=np.float32), requires_grad=True)
    p = F.sigmoid(z)
    assert np.all(p.data == 1.0)
    loss = F.binary_cross_entropy(p, tg.tensor(np.array([1.0, 0.0], dtype=np.float32)), reduction="none")
    # target 1: -log(1) = 0;  target 0: -log(1 - 1) clamped to 100.
    np.testing.assert_array_equal(loss.data, [0.0, 100.0])
    loss.sum().backward()
    # dL/dp = 0 and 1 / 1e-12; the sigmoid's slope p (1 - p) is exactly 0: both gradients are 0, finite.
    assert np.all(np.isfinite(z.grad))
    np.testing.assert_array_equal(z.grad, [0.0, 0.0])


@pytest.mark.parametrize("call,error,message", [
    (lambda: F.binary_cross_entropy(tg.tensor([0.5, 1.5]), tg.tensor([1.0, 0.0])), ValueError, r"probabilities in \[0, 1\]"),
    (lambda: F.binary_cross_entropy(tg.tensor([0.5, 0.5]), tg.tensor([1.0])), ValueError, r"target must have the input's shape"),
    (lambda: F.mse_loss(tg.zeros(2), tg.zeros(2), reduction="avg"), ValueError, r"reduction must be one of"),
    (lambda: F.binary_cross_entropy_with_logits(tg.zeros(3), tg.zeros(2, 3)), ValueError, r"target must have"),
    # silent before: a target of 3 gave a loss, and a (2, 4, 5) weight a loss larger than the input
    (lambda: F.binary_cross_entropy(tg.tensor([0.5, 0.5]), tg.tensor([1.0, 3.0])), ValueError,
     r"binary_cross_entropy: target must hold values in \[0, 1\], got values in \[1, 3\]"),
    (lambda: F.binary_cross_entropy_with_logits(tg.zeros(4, 5), tg.zeros(4, 5), weight=np.ones((2, 4, 5)),
                                                reduction="none"), ValueError,
     r"weight of shape \(2, 4, 5\) must broadcast to the input's shape \(4, 5\)"),
    (lambda: F.binary_cross_entropy(tg.tensor([0.5]), [1.0]), TypeError, r"binary_cross_entropy: target must be a Tensor"),
    (lambda: F.leaky_relu(tg.zeros(2), None), TypeError, r"leaky_relu: negative_slope must be a number, got None"),
])
def test_loss_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh"])
@given(shape=shapes(), seed=seeds(), slope=st.sampled_from([0.01, 0.1, 0.2]))
def test_activation_gradcheck(name, shape, seed, slope):
    x = leaf(shape, seed, -4, 4)
    x.data[np.abs(x.data) < 1e-3] = 0.5  # central differences must not straddle the kink at 0
    fn = (lambda t: F.leaky_relu(t, slope)) if name == "leaky_relu" else getattr(F, name)
    assert tg.gradcheck(fn, [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturating_functions_are_stable_at_1000(dtype):
    z = tg.tensor(np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0], dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning fails the test
        s, t = F.sigmoid(z), F.tanh(z)
        loss = F.binary_cross_entropy_with_logits(z, tg.tensor(np.array([1, 0, 1, 0, 1], dtype=dtype)), reduction="sum")
        (s.sum() + t.sum() + loss).backward()
    np.testing.assert_allclose(s.data, [0, 0, 0.5, 1, 1], atol=1e-30)
    np.testing.assert_allclose(t.data, [-1, -1, 0, 1, 1])
    assert np.isfinite(loss.item()) and np.isclose(loss.item(), 1000 + 0 + np.log(2) + 100 + 0, rtol=1e-6)
    assert np.all(np.isfinite(z.grad)) and z.grad.dtype == dtype


def test_leaky_relu_hand_values():
    x = tg.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    y = F.leaky_relu(x, 0.1)
    np.testing.assert_allclose(y.data, [-0.2, 0.0, 3.0], rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [0.1, 0.1, 1.0], rtol=1e-6)  # torch's slope at 0 is the negative one


@given(config=batch_norm_configs(), seed=seeds())
def test_float32_within_1e4_of_float64(config, seed):
    """Every op here keeps float32 in float32, and lands within 1e-4 of the float64 result."""
    shape, channels = config["input_shape"], config["input_shape"][1]
    x64 = random_array(shape, seed, low=-3, high=3)
    target64 = np.random.default_rng(seed).uniform(0, 1, size=shape)
    calls = {
        "batch_norm": lambda x, t: F.batch_norm(x, None, None, training=True),
        "leaky_relu": lambda x, t: F.leaky_relu(x, 0.2),
        "sigmoid": lambda x, t: F.sigmoid(x),
        "tanh": lambda x, t: F.tanh(x),
        "bce": lambda x, t: F.binary_cross_entropy(F.sigmoid(x), t),
        "bce_with_logits": lambda x, t: F.binary_cross_entropy_with_logits(x, t),
        "mse": lambda x, t: F.mse_loss(x, t),
    }
    for name, call in calls.items():
        low_x = tg.tensor(x64.astype(np.float32), requires_grad=True)
        high_x = tg.tensor(x64, requires_grad=True)
        low = call(low_x, tg.tensor(target64.astype(np.float32)))
        high = call(high_x, tg.tensor(target64))
        assert low.dtype == np.float32, name
        np.testing.assert_allclose(low.data, high.data, rtol=1e-4, atol=1e-4, err_msg=name)
        upstream = np.random.default_rng(seed + 1).standard_normal(high.shape)
        low.backward(upstream.astype(np.float32))
        high.backward(upstream)
        assert low_x.grad.dtype == np.float32, name
        np.testing.assert_allclose(low_x.grad, high_x.grad, rtol=1e-3, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("call,message", [
    (lambda x: F.dropout(x, 0.5, training="no"), "dropout: training must be True or False, got 'no'"),
    (lambda x: F.batch_norm(x, np.zeros(1, np.float32), np.ones(1, np.float32), training="no"),
     "batch_norm: training must be True or False"),
    (lambda x: F.max_pool2d(x, 2, ceil_mode="no"), "max_pool2d: ceil_mode must be True or False"),
    (lambda x: F.max_pool2d(x, 2, return_indices="no"), "max_pool2d: return_indices must be True or False"),
    (lambda x: F.avg_pool2d(x, 3, padding=1, count_include_pad="no"), "avg_pool2d: count_include_pad must be"),
    (lambda x: nn.MaxPool2d(2, ceil_mode="no"), "MaxPool2d: ceil_mode must be True or False"),
    (lambda x: nn.AvgPool2d(2, count_include_pad=0), "AvgPool2d: count_include_pad must be True or False, got 0"),
])
def test_a_flag_is_true_or_false_never_a_truthy_string(call, message):
    # 'no' is truthy: taken as True, dropout dropped, pooling rounded up, batch norm trained
    with pytest.raises(TypeError, match=message):
        call(tg.tensor(np.ones((1, 1, 5, 5), np.float32)))
    assert F.max_pool2d(tg.tensor(np.ones((1, 1, 5, 5), np.float32)), 2, ceil_mode=np.bool_(True)).shape == (1, 1, 3, 3)
