"""tinygan.nn against torch.nn: same names, same reprs, and weights that move both ways.

Skipped when torch is not installed.
"""
import math
import re

import numpy as np
import pytest

import tinygan as tg
import tinygan.nn as nn

torch = pytest.importorskip("torch")


def build(lib):
    """The same small network in either library (`lib` is tinygan.nn or torch.nn)."""
    return lib.Sequential(
        lib.Conv2d(3, 8, 3, stride=2, padding=1), lib.BatchNorm2d(8), lib.LeakyReLU(0.2),
        lib.ConvTranspose2d(8, 4, 4, stride=2, padding=1), lib.BatchNorm2d(4, momentum=0.3), lib.ReLU(),
        lib.MaxPool2d(2), lib.Upsample(scale_factor=2, mode="bilinear", align_corners=False), lib.AvgPool2d(2),
        lib.Flatten(), lib.Linear(4 * 4 * 4, 5), lib.BatchNorm1d(5), lib.Tanh(), lib.Linear(5, 1), lib.Sigmoid())


def batch(seed=0, shape=(6, 3, 8, 8)):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def outputs_agree(ours, theirs, x, training):
    ours.train(training), theirs.train(training)
    out = ours(tg.tensor(x))
    expected = theirs(torch.tensor(x))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-4, atol=1e-5)
    return out, expected


def assert_state_equal(ours, theirs):
    mine, reference = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(reference)
    for key in mine:
        np.testing.assert_allclose(mine[key], reference[key].numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


def test_reprs_and_state_dict_keys_match_torch():
    ours, theirs = build(nn), build(torch.nn)
    # Older torch versions print BatchNorm without "bias=True"; compare without it.
    strip = lambda text: re.sub(r"bias=True, (track)", r"\1", text)
    assert strip(repr(ours)) == strip(repr(theirs))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    for (name, mine), (_, reference) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert mine.shape == tuple(reference.shape), name
        assert mine.dtype == reference.numpy().dtype, name


def test_torch_weights_into_tinygan_train_and_eval():
    torch.manual_seed(0)
    theirs, ours = build(torch.nn), build(nn)
    with torch.no_grad():  # non-trivial running statistics and affine parameters to carry over
        for module in theirs.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.num_batches_tracked.fill_(3)
    ours.load_state_dict(theirs.state_dict())  # torch tensors straight in, strict
    assert_state_equal(ours, theirs)
    outputs_agree(ours, theirs, batch(1), training=False)
    out, expected = outputs_agree(ours, theirs, batch(2), training=True)
    assert_state_equal(ours, theirs)  # running statistics moved the same way; num_batches_tracked is 4
    assert int(ours[1].num_batches_tracked) == 4
    outputs_agree(ours, theirs, batch(3), training=False)  # and evaluation uses the updated statistics


def test_tinygan_weights_into_torch_train_and_eval():
    tg.manual_seed(1)
    ours, theirs = build(nn), build(torch.nn)
    ours.train()
    for seed in range(3):  # a few training-mode batches give the running statistics some history
        ours(tg.tensor(batch(10 + seed)))
    state = {key: torch.from_numpy(value) for key, value in ours.state_dict().items()}
    result = theirs.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert_state_equal(ours, theirs)
    outputs_agree(ours, theirs, batch(4), training=False)
    outputs_agree(ours, theirs, batch(5), training=True)
    assert_state_equal(ours, theirs)


def test_gradients_agree_after_transfer():
    torch.manual_seed(2)
    theirs, ours = build(torch.nn), build(nn)
    ours.load_state_dict(theirs.state_dict())
    x = batch(6)
    out, expected = outputs_agree(ours, theirs, x, training=True)
    out.sum().backward()
    expected.sum().backward()
    for (name, mine), (_, reference) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-3, atol=1e-5, err_msg=name)


def build_grouped(lib):
    """A MobileNet-style block and a grouped decoder: grouped, depthwise (with padding='same'
    and an even kernel), pointwise ('valid') and a grouped transposed convolution."""
    return lib.Sequential(
        lib.Conv2d(4, 8, 3, padding="same", groups=2), lib.ReLU(),
        lib.Conv2d(8, 8, (2, 4), padding="same", dilation=(2, 1), groups=8, bias=False),
        lib.Conv2d(8, 6, 1, padding="valid"), lib.ReLU(),
        lib.ConvTranspose2d(6, 4, 4, stride=2, padding=1, groups=2), lib.Tanh())


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's performance note
def test_grouped_and_same_padded_layers_cross_to_torch_and_back():
    torch.manual_seed(3)
    theirs, ours = build_grouped(torch.nn), build_grouped(nn)
    assert repr(ours) == repr(theirs)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
           [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict(theirs.state_dict())  # torch -> tinygan
    x = batch(7, (2, 4, 6, 5))
    out, expected = outputs_agree(ours, theirs, x, training=True)
    out.sum().backward()
    expected.sum().backward()
    for (name, mine), (_, reference) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
    tg.manual_seed(4)
    fresh, back = build_grouped(nn), build_grouped(torch.nn)
    back.load_state_dict({k: torch.from_numpy(v) for k, v in fresh.state_dict().items()}, strict=True)  # and back
    assert_state_equal(fresh, back)
    outputs_agree(fresh, back, x, training=False)


def test_momentum_none_and_no_running_stats_match_torch():
    for options in (dict(momentum=None), dict(track_running_stats=False), dict(affine=False)):
        ours, theirs = nn.BatchNorm2d(3, **options), torch.nn.BatchNorm2d(3, **options)
        for seed in range(3):
            x = batch(seed, (4, 3, 5, 5)) * (seed + 1)
            outputs_agree(ours, theirs, x, training=True)
        assert_state_equal(ours, theirs)
        outputs_agree(ours, theirs, batch(9, (4, 3, 5, 5)), training=False)


@pytest.mark.parametrize("make", [
    lambda lib: lib.Linear(300, 200),
    lambda lib: lib.Conv2d(16, 32, 5),
    lambda lib: lib.ConvTranspose2d(64, 32, 4),
    lambda lib: lib.Conv2d(32, 64, 5, groups=4),
    lambda lib: lib.Conv2d(64, 128, 3, groups=64),
    lambda lib: lib.ConvTranspose2d(64, 96, 4, groups=8),
], ids=["linear", "conv", "conv_transpose", "conv_groups", "depthwise", "conv_transpose_groups"])
def test_default_init_has_torch_distribution(make):
    """Different random streams, same distribution: U(-b, b) with torch's b = 1 / sqrt(fan_in)."""
    tg.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = make(nn), make(torch.nn)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)
    bound = 1 / math.sqrt(fan_in)
    for name in ("weight", "bias"):
        mine = getattr(ours, name).data
        reference = getattr(theirs, name).detach().numpy()
        assert np.abs(reference).max() <= bound and np.abs(mine).max() <= bound, name
        if mine.size > 1000:  # big enough to reach the bound and pin the spread down
            assert np.abs(mine).max() > 0.99 * bound, name
            assert abs(mine.std() / reference.std() - 1) < 0.05, name


def test_init_functions_match_torch_scales():
    tg.manual_seed(0)
    torch.manual_seed(0)
    for name, kwargs in [("xavier_uniform_", dict(gain=1.5)), ("xavier_normal_", {}),
                         ("kaiming_uniform_", dict(a=math.sqrt(5))),
                         ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu"))]:
        mine = getattr(nn.init, name)(tg.zeros(64, 32, 3, 3), **kwargs).data
        reference = getattr(torch.nn.init, name)(torch.zeros(64, 32, 3, 3), **kwargs).numpy()
        assert abs(mine.std() / reference.std() - 1) < 0.03, name
    for nonlinearity, param in [("relu", None), ("leaky_relu", 0.2), ("tanh", None), ("selu", None)]:
        assert nn.init.calculate_gain(nonlinearity, param) == pytest.approx(
            torch.nn.init.calculate_gain(nonlinearity, param))
