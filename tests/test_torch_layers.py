"""The DCGAN layers against torch, forward and backward, in float64 (skipped without torch)."""
import numpy as np
import pytest
from hypothesis import example, given, strategies as st

import tinygan as tg
import tinygan.functional as F
from tinygan.testing import batch_norm_configs, conv2d_configs, conv_options, conv_transpose2d_configs, seeds, shapes
from helpers import compare_with_torch, random_array
from test_conv import (DEPTHWISE_STRIDED, GROUPED_SAME_EVEN_DILATED, GROUPED_TRANSPOSED, WHOLE_WINDOW_CONV,
                       WHOLE_WINDOW_CONV_GROUPED, WHOLE_WINDOW_TRANSPOSED, WHOLE_WINDOW_TRANSPOSED_DEPTHWISE, out_channels)

torch = pytest.importorskip("torch")
TF = torch.nn.functional


# Depthwise (groups = in_channels) with padding='same', an even kernel and dilation: a
# MobileNet-style layer with torch's asymmetric padding.
DEPTHWISE_SAME_EVEN = dict(input_shape=(2, 3, 5, 6), weight_shape=(3, 1, 4, 2), stride=(1, 1), padding="same",
                           dilation=(1, 3), groups=3)


# torch notes that it copies the input for asymmetric padding: a performance remark, not ours.
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@given(config=conv2d_configs(), seed=seeds(), with_bias=st.booleans())
@example(config=WHOLE_WINDOW_CONV, seed=0, with_bias=True)
@example(config=WHOLE_WINDOW_CONV_GROUPED, seed=0, with_bias=True)
@example(config=GROUPED_SAME_EVEN_DILATED, seed=0, with_bias=True)
@example(config=DEPTHWISE_STRIDED, seed=0, with_bias=False)
@example(config=DEPTHWISE_SAME_EVEN, seed=0, with_bias=True)
@example(config=dict(DEPTHWISE_SAME_EVEN, padding="valid"), seed=0, with_bias=True)
def test_conv2d(config, seed, with_bias):
    options = conv_options(config)
    arrays = [random_array(config["input_shape"], seed), random_array(config["weight_shape"], seed + 1),
              random_array((out_channels(config),), seed + 2) if with_bias else None]
    compare_with_torch(lambda *t: F.conv2d(*t, **options), lambda *t: TF.conv2d(*t, **options), arrays)


@given(config=conv_transpose2d_configs(), seed=seeds(), with_bias=st.booleans())
@example(config=WHOLE_WINDOW_TRANSPOSED, seed=0, with_bias=True)
@example(config=WHOLE_WINDOW_TRANSPOSED_DEPTHWISE, seed=0, with_bias=True)
@example(config=GROUPED_TRANSPOSED, seed=0, with_bias=True)
def test_conv_transpose2d(config, seed, with_bias):
    options = conv_options(config)
    arrays = [random_array(config["input_shape"], seed), random_array(config["weight_shape"], seed + 1),
              random_array((out_channels(config),), seed + 2) if with_bias else None]
    compare_with_torch(lambda *t: F.conv_transpose2d(*t, **options), lambda *t: TF.conv_transpose2d(*t, **options),
                       arrays)


@given(config=batch_norm_configs(), seed=seeds())
def test_batch_norm_outputs_gradients_and_running_statistics(config, seed):
    shape, channels = config["input_shape"], config["input_shape"][1]
    options = dict(training=config["training"], momentum=config["momentum"], eps=config["eps"])
    ours_stats = [random_array((channels,), seed + 3), random_array((channels,), seed + 4, low=0.5)]
    theirs_stats = [torch.tensor(s.copy()) for s in ours_stats]
    arrays = [random_array(shape, seed)]
    if config["affine"]:
        arrays += [random_array((channels,), seed + 1), random_array((channels,), seed + 2)]
    compare_with_torch(lambda x, *wb: F.batch_norm(x, *ours_stats, *wb, **options),
                       lambda x, *wb: TF.batch_norm(x, *theirs_stats, *wb, **options), arrays)
    for mine, theirs in zip(ours_stats, theirs_stats):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-10)


activations = [
    ("relu", F.relu, TF.relu),
    ("leaky_relu", lambda t: F.leaky_relu(t, 0.2), lambda t: TF.leaky_relu(t, 0.2)),
    ("sigmoid", F.sigmoid, torch.sigmoid),
    ("tanh", F.tanh, torch.tanh),
]


@pytest.mark.parametrize("name,ours,theirs", activations, ids=[a[0] for a in activations])
@given(shape=shapes(), seed=seeds())
def test_activations(name, ours, theirs, shape, seed):
    compare_with_torch(ours, theirs, [random_array(shape, seed, low=-5, high=5)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(shape=shapes(min_dims=1), seed=seeds(), weighted=st.booleans())
def test_losses(reduction, shape, seed, weighted):
    target = np.random.default_rng(seed).uniform(0, 1, size=shape)
    weight = random_array(shape, seed + 5, low=0.1, high=2) if weighted else None
    probabilities = random_array(shape, seed, low=0.01, high=0.99)
    # The target gets a gradient too (it requires one here), as in torch.
    compare_with_torch(lambda p, t: F.binary_cross_entropy(p, t, weight, reduction=reduction),
                       lambda p, t: TF.binary_cross_entropy(p, t, None if weight is None else torch.tensor(weight),
                                                            reduction=reduction), [probabilities, target])
    logits = random_array(shape, seed, low=-6, high=6)
    their_weight = None if weight is None else torch.tensor(weight)
    compare_with_torch(lambda z, t: F.binary_cross_entropy_with_logits(z, t, weight, reduction=reduction),
                       lambda z, t: TF.binary_cross_entropy_with_logits(z, t, their_weight, reduction=reduction),
                       [logits, target])
    compare_with_torch(lambda x, t: F.mse_loss(x, t, reduction=reduction),
                       lambda x, t: TF.mse_loss(x, t, reduction=reduction), [logits, target])


def test_bce_at_saturated_probabilities_matches_torch():
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    t = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    compare_with_torch(lambda x: F.binary_cross_entropy(x, tg.tensor(t), reduction="none"),
                       lambda x: TF.binary_cross_entropy(x, torch.tensor(t), reduction="none"), [p])


def test_extreme_logits_match_torch():
    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    compare_with_torch(lambda x: F.binary_cross_entropy_with_logits(x, tg.tensor(t), reduction="none"),
                       lambda x: TF.binary_cross_entropy_with_logits(x, torch.tensor(t), reduction="none"), [z])
    compare_with_torch(F.sigmoid, torch.sigmoid, [z])
    compare_with_torch(F.tanh, torch.tanh, [z])


def test_an_empty_batch_passes_through_as_in_torch():
    # N = 0 reaches every reshape with a 0 in it: a -1 there cannot be worked out
    empty = np.zeros((0, 3, 8, 8))
    weight = random_array((3, 2, 4, 4), 1)
    compare_with_torch(lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1),
                       lambda x, w: TF.conv_transpose2d(x, w, stride=2, padding=1), [empty, weight])
    compare_with_torch(lambda x, w: F.conv2d(x, w, stride=2, padding=1),
                       lambda x, w: TF.conv2d(x, w, stride=2, padding=1), [empty, random_array((2, 3, 4, 4), 2)])
    # one window covering the whole image (the DCGAN's 7x7 layers): im2col and col2im are views there
    compare_with_torch(F.conv2d, TF.conv2d, [empty, random_array((2, 3, 8, 8), 3)])
    compare_with_torch(F.conv_transpose2d, TF.conv_transpose2d, [np.zeros((0, 3, 1, 1)), random_array((3, 2, 7, 7), 4)])
    running = (np.zeros(3), np.ones(3))
    compare_with_torch(lambda x: F.batch_norm(x, *running, training=False),
                       lambda x: TF.batch_norm(x, *(torch.tensor(r) for r in running), training=False), [empty])
