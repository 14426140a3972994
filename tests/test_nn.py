"""tinygan.nn: Module machinery, layers, init, dropout and summary (no torch needed)."""
import math
from collections import OrderedDict

import numpy as np
import pytest

import tinygan as tg
import tinygan.functional as F
import tinygan.nn as nn
from tinygan.nn import init


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.norm = nn.BatchNorm2d(2)

    def forward(self, x):
        return self.norm(self.conv(x)) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.shared = nn.Linear(2, 2)
        self.head = nn.Sequential(self.shared, nn.ReLU(), self.shared)  # the same Linear twice
        self.offset = nn.Parameter(np.zeros(2, dtype=np.float32))


def small_sequential():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 3))


# ---------------------------------------------------------------------- registration
def test_named_parameters_recursive_in_registration_order_without_duplicates():
    names = [name for name, _ in Net().named_parameters()]
    # Own parameters first, then each child's, in the order they were assigned (as torch).
    assert names == ["offset", "first.scale", "first.conv.weight", "first.conv.bias", "first.norm.weight",
                     "first.norm.bias", "shared.weight", "shared.bias"]
    net = Net()
    assert len(list(net.parameters())) == len({id(p) for p in net.parameters()}) == 8
    assert [name for name, _ in net.named_parameters(recurse=False)] == ["offset"]


def test_shared_parameter_counted_once():
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    model = nn.Sequential(a, b)
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_children_and_modules():
    net = Net()
    assert [name for name, _ in net.named_children()] == ["first", "shared", "head"]
    assert list(net.children()) == [net.first, net.shared, net.head]
    names = [name for name, _ in net.named_modules()]
    assert names == ["", "first", "first.conv", "first.norm", "shared", "head", "head.1"]
    assert len(list(net.modules())) == 7


def test_attribute_assignment_rules():
    layer = nn.Linear(2, 3)
    layer.bias = None  # allowed: a disabled bias
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="Parameter or None"):
        layer.weight = tg.tensor(np.zeros((3, 2), dtype=np.float32))
    layer.extra = nn.Parameter(np.zeros(1, dtype=np.float32))
    assert "extra" in dict(layer.named_parameters())
    del layer.extra
    assert "extra" not in dict(layer.named_parameters())
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        layer.missing

    class Forgetful(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(np.zeros(1, dtype=np.float32))

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__"):
        Forgetful()


def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    assert isinstance(p, tg.Tensor) and p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert type(p * 2) is tg.Tensor
    shared = tg.tensor(np.ones(2, dtype=np.float32))
    assert nn.Parameter(shared).data is shared.data
    assert not nn.Parameter(np.ones(1), requires_grad=False).requires_grad


def test_train_eval_recursive():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.head.train()
    assert net.head[1].training and not net.first.training
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")


def test_zero_grad_sets_none():
    model = small_sequential()
    model(tg.randn(2, 1, 4, 4)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_repr_like_torch():
    model = nn.Sequential(nn.Conv2d(1, 8, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(8),
                          nn.LeakyReLU(0.2, inplace=True), nn.Sequential(nn.Flatten(), nn.Linear(8, 1)),
                          nn.Sigmoid())
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 8, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), bias=False)\n"
        "  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)\n"
        "  (2): LeakyReLU(negative_slope=0.2, inplace=True)\n"
        "  (3): Sequential(\n"
        "    (0): Flatten(start_dim=1, end_dim=-1)\n"
        "    (1): Linear(in_features=8, out_features=1, bias=True)\n"
        "  )\n"
        "  (4): Sigmoid()\n"
        ")")
    assert repr(nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1)) == \
        "ConvTranspose2d(4, 2, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1))"
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.Dropout()) == "Dropout(p=0.5, inplace=False)"


def test_buffers():
    module = nn.Module()
    module.register_buffer("count", np.zeros(2))
    module.register_buffer("scratch", np.ones(3), persistent=False)
    module.register_buffer("nothing", None)
    assert [name for name, _ in module.named_buffers()] == ["count", "scratch"]
    assert list(module.state_dict()) == ["count"]
    module.count = np.full(2, 5.0)  # reassigning keeps it a buffer
    assert np.array_equal(module.state_dict()["count"], [5.0, 5.0])
    with pytest.raises(TypeError, match="NumPy array"):
        module.count = [1, 2]
    with pytest.raises(KeyError):
        module.register_buffer("a.b", np.zeros(1))
    bn = nn.BatchNorm2d(3)
    assert [name for name, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert len(list(Net().buffers())) == 3


def test_apply_visits_children_then_self():
    visited = []
    Net().apply(lambda m: visited.append(type(m).__name__))
    # As torch: no memo across children, so the Linear shared by `shared` and `head` is visited twice.
    assert visited == ["Conv2d", "BatchNorm2d", "Block", "Linear", "Linear", "ReLU", "Sequential", "Net"]


def test_forward_hook_runs_and_is_removable():
    layer, seen = nn.ReLU(), []
    handle = layer.register_forward_hook(lambda m, inputs, out: seen.append(out.shape))
    layer(tg.randn(2, 3))
    handle.remove()
    layer(tg.randn(2, 3))
    assert seen == [(2, 3)]


# ---------------------------------------------------------------------- state dict
def test_state_dict_keys_values_and_copies():
    model = small_sequential()
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                           "1.num_batches_tracked", "4.weight", "4.bias"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert state["1.num_batches_tracked"].dtype == np.int64 and state["1.num_batches_tracked"].shape == ()
    assert state["0.weight"].dtype == np.float32
    state["0.weight"][...] = 123  # a copy: the model is untouched
    assert not np.any(model[0].weight.data == 123)


def test_shared_module_appears_under_both_names_in_state_dict():
    model = Net()
    keys = list(model.state_dict())
    assert "shared.weight" in keys and "head.0.weight" in keys and "head.2.weight" in keys


def test_load_state_dict_round_trip_keeps_dtype_and_identity():
    tg.manual_seed(0)
    source = small_sequential()
    source.train()
    source(tg.randn(4, 1, 4, 4))  # moves the running statistics away from their start
    tg.manual_seed(1)
    target = small_sequential()
    weight_before = target[0].weight
    state = {key: value.astype(np.float64) for key, value in source.state_dict().items()}
    result = target.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert target[0].weight is weight_before and target[0].weight.dtype == np.float32
    x = tg.randn(3, 1, 4, 4)
    source.eval(), target.eval()
    np.testing.assert_array_equal(source(x).data, target(x).data)
    assert int(target[1].num_batches_tracked) == 1


def test_load_state_dict_strict_reports_everything_and_changes_nothing():
    model = small_sequential()
    before = model.state_dict()
    state = model.state_dict()
    del state["0.bias"], state["4.weight"]
    state["extra.weight"] = np.zeros(1)
    state["1.weight"] = np.zeros(5)
    state["0.weight"] = np.full((4, 1, 3, 3), 7.0)
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    for piece in ['"0.bias"', '"4.weight"', '"extra.weight"', "size mismatch for 1.weight"]:
        assert piece in message
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_load_state_dict_non_strict():
    model = small_sequential()
    state = {"0.weight": np.ones((4, 1, 3, 3)), "bogus": np.zeros(1)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert unexpected == ["bogus"]
    assert "0.bias" in missing and "0.weight" not in missing
    assert np.all(model[0].weight.data == 1)
    with pytest.raises(RuntimeError, match="size mismatch for 0.weight"):
        model.load_state_dict({"0.weight": np.ones((4, 1, 2, 2))}, strict=False)
    with pytest.raises(TypeError, match="dict-like"):
        model.load_state_dict([("0.weight", np.ones(1))])


def test_missing_num_batches_tracked_is_tolerated_like_torch():
    model = small_sequential()
    state = model.state_dict()
    del state["1.num_batches_tracked"]
    assert model.load_state_dict(state).missing_keys == []


# ---------------------------------------------------------------------- Sequential
def test_sequential_indexing_slicing_append():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    model = nn.Sequential(*layers)
    assert len(model) == 3 and list(model) == layers
    assert model[0] is layers[0] and model[-1] is layers[2]
    head = model[1:]
    assert isinstance(head, nn.Sequential) and list(head) == layers[1:]
    assert [name for name, _ in head.named_children()] == ["1", "2"]  # names kept, as torch
    with pytest.raises(IndexError):
        model[3]
    with pytest.raises(IndexError):
        model[-4]
    model.append(nn.Sigmoid())
    assert len(model) == 4 and isinstance(model[3], nn.Sigmoid)
    del model[1]
    assert [name for name, _ in model.named_children()] == ["0", "1", "2"]
    with pytest.raises(TypeError, match="Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    named = nn.Sequential(OrderedDict(encode=nn.Linear(2, 2), act=nn.Tanh()))
    assert list(named.state_dict()) == ["encode.weight", "encode.bias"]
    x = tg.randn(5, 2)
    np.testing.assert_allclose(named(x).data, np.tanh(F.linear(x, named.encode.weight, named.encode.bias).data))


# ---------------------------------------------------------------------- layers
def test_linear_and_conv_defaults_match_torch_init_bounds():
    tg.manual_seed(0)
    linear = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for p in (linear.weight, linear.bias):
        assert p.dtype == np.float32 and np.abs(p.data).max() <= bound
    # U(-b, b) has standard deviation b / sqrt(3).
    assert abs(linear.weight.data.std() - bound / math.sqrt(3)) < 0.02 * bound
    conv = nn.Conv2d(16, 32, 3)
    assert conv.weight.shape == (32, 16, 3, 3)
    assert np.abs(conv.weight.data).max() <= 1 / math.sqrt(16 * 9)
    transposed = nn.ConvTranspose2d(64, 8, 4)
    assert transposed.weight.shape == (64, 8, 4, 4)
    # torch's fan_in for a transposed conv is weight.shape[1] * kh * kw = 8 * 16 = 128, not 64 * 16.
    bound = 1 / math.sqrt(128)
    assert np.abs(transposed.weight.data).max() <= bound
    assert np.abs(transposed.weight.data).max() > 0.9 * bound
    assert np.abs(transposed.bias.data).max() <= bound


def test_grouped_conv_weight_shapes_and_fan_in():
    # Each output channel of a grouped convolution sums over the in/groups channels of its
    # group only, so its fan-in -- and torch's init bound 1/sqrt(fan_in) -- uses in/groups.
    tg.manual_seed(0)
    grouped = nn.Conv2d(8, 16, 3, groups=4)
    assert grouped.weight.shape == (16, 2, 3, 3) and grouped.bias.shape == (16,)
    depthwise = nn.Conv2d(8, 8, 3, groups=8, bias=False)
    assert depthwise.weight.shape == (8, 1, 3, 3)
    transposed = nn.ConvTranspose2d(8, 12, 3, groups=4)
    assert transposed.weight.shape == (8, 3, 3, 3) and transposed.bias.shape == (12,)
    for layer, fan_in in ((grouped, 2 * 9), (depthwise, 1 * 9), (transposed, 3 * 9)):
        bound = 1 / math.sqrt(fan_in)
        for p in layer.parameters():
            assert np.abs(p.data).max() <= bound
        assert np.abs(layer.weight.data).max() > 0.8 * bound  # the bound is not a looser one
    assert repr(grouped) == "Conv2d(8, 16, kernel_size=(3, 3), stride=(1, 1), groups=4)"
    assert repr(depthwise) == "Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), groups=8, bias=False)"


def test_conv_padding_strings():
    x = tg.randn(2, 3, 7, 8)
    same = nn.Conv2d(3, 6, (2, 3), padding="same", dilation=(3, 1), groups=3)
    assert same.padding == "same"  # kept as the string, as torch does
    assert repr(same) == "Conv2d(3, 6, kernel_size=(2, 3), stride=(1, 1), padding=same, dilation=(3, 1), groups=3)"
    assert same(x).shape == (2, 6, 7, 8)
    valid = nn.Conv2d(3, 5, 3, padding="valid")
    assert valid.padding == "valid" and valid(x).shape == (2, 5, 5, 6)
    assert repr(valid) == "Conv2d(3, 5, kernel_size=(3, 3), stride=(1, 1), padding=valid)"


def test_manual_seed_makes_models_repeatable():
    tg.manual_seed(42)
    first = small_sequential().state_dict()
    tg.manual_seed(42)
    second = small_sequential().state_dict()
    assert all(np.array_equal(first[k], second[k]) for k in first)


def test_layer_argument_errors():
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match=r"Conv2d: in_channels \(3\) and out_channels \(4\) must both be divisible "
                                         r"by groups \(2\)"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"ConvTranspose2d: in_channels \(4\) and out_channels \(3\) .* groups \(2\)"):
        nn.ConvTranspose2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="Conv2d: groups must be a positive int, got 0"):
        nn.Conv2d(4, 4, 3, groups=0)
    with pytest.raises(ValueError, match=r"Conv2d: padding='same' is not supported for strided convolutions"):
        nn.Conv2d(4, 4, 3, padding="same", stride=(1, 2))
    with pytest.raises(ValueError, match=r"Conv2d: padding must be an int, a pair of ints, 'same' or 'valid', got 'full'"):
        nn.Conv2d(4, 4, 3, padding="full")
    with pytest.raises(TypeError, match=r"ConvTranspose2d: padding must be an int or a pair"):
        nn.ConvTranspose2d(4, 4, 3, padding="same")  # as in torch: strings are for convolutions only
    with pytest.raises(ValueError, match="stride"):
        nn.Conv2d(3, 4, 3, stride=0)
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm2d(3, momentum=2)
    with pytest.raises(ValueError, match="exactly one"):
        nn.Upsample()


def test_layers_forward_shapes():
    x = tg.randn(2, 3, 8, 8)
    assert nn.Conv2d(3, 5, 3, stride=2, padding=1)(x).shape == (2, 5, 4, 4)
    assert nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1)(x).shape == (2, 5, 16, 16)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 4, 4)
    assert nn.AvgPool2d(4, stride=2)(x).shape == (2, 3, 3, 3)
    assert nn.Upsample(scale_factor=2)(x).shape == (2, 3, 16, 16)
    assert nn.Upsample(size=(5, 7), mode="bilinear", align_corners=False)(x).shape == (2, 3, 5, 7)
    assert nn.Flatten()(x).shape == (2, 192)
    assert nn.Flatten(0, 1)(x).shape == (6, 8, 8)
    with pytest.raises(IndexError, match=r"flatten: start_dim=4 is out of range for 4 dims"):  # as torch
        nn.Flatten(4)(x)
    with pytest.raises(ValueError, match="flatten: start_dim=2 comes after end_dim=1"):
        nn.Flatten(2, 1)(x)
    assert nn.Linear(8, 2)(x).shape == (2, 3, 8, 2)


def test_activation_modules_match_functions():
    x = tg.randn(4, 5)
    np.testing.assert_array_equal(nn.ReLU()(x).data, F.relu(x).data)
    np.testing.assert_array_equal(nn.LeakyReLU(0.2)(x).data, F.leaky_relu(x, 0.2).data)
    np.testing.assert_array_equal(nn.Sigmoid()(x).data, F.sigmoid(x).data)
    np.testing.assert_array_equal(nn.Tanh()(x).data, F.tanh(x).data)


# ---------------------------------------------------------------------- batch norm
def test_batchnorm_training_updates_running_stats_with_unbiased_variance():
    bn = nn.BatchNorm2d(3)
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(4, 3, 5, 5)).astype(np.float32)
    out = bn(tg.tensor(x))
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    count = 4 * 5 * 5
    np.testing.assert_allclose(bn.running_mean, 0.9 * 0 + 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, 0.9 * 1 + 0.1 * var * count / (count - 1), rtol=1e-5)
    assert int(bn.num_batches_tracked) == 1 and bn.num_batches_tracked.dtype == np.int64
    expected = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(out.data, expected, rtol=1e-4, atol=1e-5)


def _run_one_module_at_a_time(sequential, x):
    for module in sequential:
        x = module(x)
    return x


@pytest.mark.parametrize("batch_norm, activation, shape", [
    (lambda: nn.BatchNorm2d(3), lambda: nn.ReLU(), (4, 3, 5, 5)),
    (lambda: nn.BatchNorm2d(3, momentum=None), lambda: nn.LeakyReLU(0.2), (4, 3, 5, 5)),
    (lambda: nn.BatchNorm1d(3, affine=False), lambda: nn.LeakyReLU(-0.3), (6, 3)),
    (lambda: nn.BatchNorm1d(3, track_running_stats=False), lambda: nn.ReLU(), (4, 3, 7)),
])
@pytest.mark.parametrize("training", [True, False])
def test_sequential_fuses_batchnorm_and_activation_into_the_same_numbers(batch_norm, activation, shape, training):
    """Sequential runs BatchNorm + ReLU/LeakyReLU as one op; module by module gives the same
    outputs, gradients and running statistics, in training and evaluation mode."""
    x = np.random.default_rng(0).normal(1.0, 2.0, size=shape).astype(np.float32)
    upstream = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    results = []
    for run in (lambda model, t: model(t), _run_one_module_at_a_time):
        tg.manual_seed(0)
        model = nn.Sequential(batch_norm(), activation()).train(training)
        if model[0].weight is not None:
            model[0].weight.data[...] = [0.5, -1.5, 2.0]
            model[0].bias.data[...] = [0.1, 0.0, -0.4]
        for _ in range(2):  # a second call sees the first one's running statistics
            leaf = tg.tensor(x, requires_grad=True)
            out = run(model, leaf)
        (out * tg.tensor(upstream)).sum().backward()
        results.append([out.data, leaf.grad] + [p.grad for p in model.parameters()] + list(model.buffers()))
    fused, separate = results
    assert len(fused) == len(separate)
    for got, expected in zip(fused, separate):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_sequential_keeps_modules_apart_when_a_hook_or_a_subclass_could_see_the_middle():
    class DoubledBatchNorm(nn.BatchNorm2d):  # its own forward: the fused op would skip it
        def forward(self, input):
            return super().forward(input) * 2

    x = tg.tensor(np.random.default_rng(0).normal(size=(4, 3, 2, 2)).astype(np.float32))
    seen = []
    hooked = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())
    hooked[0].register_forward_hook(lambda module, inputs, out: seen.append(out.data.min()))
    hooked(x)
    assert seen and seen[0] < 0  # the hook saw the normalised values before the ReLU
    subclassed = nn.Sequential(DoubledBatchNorm(3), nn.LeakyReLU(0.5))
    normalised = (x.data - x.data.mean(axis=(0, 2, 3), keepdims=True)) / np.sqrt(x.data.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    np.testing.assert_allclose(subclassed(x).data, np.where(normalised > 0, 2 * normalised, normalised), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("activation", [None, nn.ReLU, lambda: nn.LeakyReLU(0.2)])
def test_batchnorm_eval_gradient_uses_the_statistics_of_its_own_forward(activation):
    """An eval-mode call, then a training call that moves the running statistics in place,
    then the first call's backward: its gradients are those of the function it computed.
    Worked out by hand: y = (x - rm) s w + b with s = 1/sqrt(rv + eps), so in evaluation
    dL/dw = sum g (x - rm) s and dL/dx = g w s (times the activation's slope where y <= 0)."""
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm2d(3)
    bn.running_mean[...] = [0.5, -1.0, 2.0]
    bn.running_var[...] = [1.5, 0.5, 4.0]
    bn.weight.data[...] = [1.0, -2.0, 0.5]
    model = nn.Sequential(bn) if activation is None else nn.Sequential(bn, activation())
    mean, var = bn.running_mean.copy()[None, :, None, None], bn.running_var.copy()[None, :, None, None]
    x = rng.normal(size=(4, 3, 2, 2)).astype(np.float32)
    upstream = rng.normal(size=x.shape).astype(np.float32)
    leaf = tg.tensor(x, requires_grad=True)
    y = model.eval()(leaf)
    model.train()(tg.tensor(rng.normal(5.0, 3.0, size=x.shape).astype(np.float32)))  # moves the running stats
    assert not np.allclose(bn.running_mean, mean.ravel())
    (y * tg.tensor(upstream)).sum().backward()
    s = 1 / np.sqrt(var + 1e-5)
    pre_activation = (x - mean) * s * bn.weight.data[None, :, None, None]
    slope = {None: 1.0, nn.ReLU: 0.0}.get(activation, 0.2)
    g = np.where(pre_activation > 0, upstream, upstream * slope)
    np.testing.assert_allclose(bn.weight.grad, (g * (x - mean) * s).sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(leaf.grad, g * bn.weight.data[None, :, None, None] * s, rtol=1e-5, atol=1e-6)


def test_sequential_fusion_respects_what_torch_would_run_without_torch():
    """The fusion's guards, checked against the modules run one at a time (no torch needed):
    a forward assigned on an instance is called, a bias changed in place between forward and
    backward does not change the gradient, and a slope leaky_relu refuses raises only after
    the BatchNorm has done all of its update, as the modules one at a time do."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3, 2, 2)).astype(np.float32)
    upstream = rng.normal(size=x.shape).astype(np.float32)

    for which in (0, 1):  # a forward set on the BatchNorm, then on the ReLU
        model = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())
        original = model[which].forward
        model[which].forward = lambda input: original(input) * 0 + 5
        np.testing.assert_array_equal(model(tg.tensor(x)).data, 5)

    results = []
    for run in (lambda model, t: model(t), _run_one_module_at_a_time):
        tg.manual_seed(0)
        model = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())
        leaf = tg.tensor(x, requires_grad=True)
        y = run(model, leaf)
        model[0].bias.data[...] += 0.5  # after the forward: y is already computed
        (y * tg.tensor(upstream)).sum().backward()
        results.append((leaf.grad, model[0].weight.grad, model[0].bias.grad))
    for fused, separate in zip(*results):
        np.testing.assert_allclose(fused, separate, rtol=1e-5, atol=1e-6)

    states = []
    for run in (lambda model, t: model(t), _run_one_module_at_a_time):
        model = nn.Sequential(nn.BatchNorm2d(3), nn.LeakyReLU("0.2"))
        with pytest.raises(TypeError, match="negative_slope"):
            run(model, tg.tensor(x))
        states.append(model.state_dict())
    assert int(states[0]["0.num_batches_tracked"]) == 1
    for key, value in states[1].items():
        np.testing.assert_array_equal(states[0][key], value, err_msg=key)


def test_batchnorm_eval_uses_running_stats():
    bn = nn.BatchNorm2d(2)
    bn.running_mean[...] = [1.0, -1.0]
    bn.running_var[...] = [4.0, 0.25]
    bn.weight.data[...] = [2.0, 1.0]
    bn.bias.data[...] = [0.5, 0.0]
    bn.eval()
    x = np.random.default_rng(1).normal(size=(3, 2, 2, 2)).astype(np.float32)
    out = bn(tg.tensor(x))
    rm, rv = np.array([1.0, -1.0])[None, :, None, None], np.array([4.0, 0.25])[None, :, None, None]
    expected = (x - rm) / np.sqrt(rv + 1e-5) * np.array([2.0, 1.0])[None, :, None, None] + \
        np.array([0.5, 0.0])[None, :, None, None]
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6)
    assert int(bn.num_batches_tracked) == 0


def test_batchnorm_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None)
    rng = np.random.default_rng(2)
    batches = [rng.normal(size=(6, 2)).astype(np.float32) * (i + 1) + i for i in range(3)]
    for batch in batches:
        bn(tg.tensor(batch))
    np.testing.assert_allclose(bn.running_mean, np.mean([b.mean(axis=0) for b in batches], axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var, np.mean([b.var(axis=0, ddof=1) for b in batches], axis=0), rtol=1e-5)


def test_batchnorm_without_running_stats_and_without_affine():
    bn = nn.BatchNorm2d(3, track_running_stats=False, affine=False)
    assert list(bn.state_dict()) == [] and list(bn.parameters()) == []
    bn.eval()
    x = tg.randn(4, 3, 2, 2)
    out = bn(x).data  # batch statistics even in eval mode
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)


def test_batchnorm1d_accepts_2d_and_3d_and_rejects_others():
    bn = nn.BatchNorm1d(3)
    assert bn(tg.randn(5, 3)).shape == (5, 3)
    out = bn(tg.randn(5, 3, 7))
    assert out.shape == (5, 3, 7)
    np.testing.assert_allclose(out.data.mean(axis=(0, 2)), 0, atol=1e-5)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        bn(tg.randn(5, 3, 2, 2))
    with pytest.raises(ValueError, match="3 channels"):
        bn(tg.randn(5, 4))
    with pytest.raises(ValueError, match="4-D"):
        nn.BatchNorm2d(3)(tg.randn(5, 3))


# ---------------------------------------------------------------------- dropout
def test_dropout_statistics_and_scaling():
    tg.manual_seed(0)
    x = tg.tensor(np.ones((200, 500), dtype=np.float32))
    y = F.dropout(x, p=0.3).data
    assert y.dtype == np.float32
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert abs(y.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation


def test_dropout_backward_uses_the_forward_mask():
    tg.manual_seed(3)
    x = tg.tensor(np.random.default_rng(0).uniform(0.5, 2, size=(6, 7)), requires_grad=True)
    y = F.dropout(x, p=0.4)
    upstream = np.random.default_rng(1).normal(size=(6, 7))
    y.backward(upstream)
    mask = y.data / x.data  # 0 or 1/(1-p)
    np.testing.assert_allclose(x.grad, upstream * mask)
    assert set(np.round(np.unique(mask), 12)) <= {0.0, round(1 / 0.6, 12)}


def test_dropout_modes_and_edge_probabilities():
    x = tg.randn(3, 4)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    assert np.all(F.dropout(x, 1.0).data == 0)
    layer = nn.Dropout(0.5)
    layer.eval()
    assert layer(x) is x
    for p in (-0.1, 1.5, "half"):
        with pytest.raises(ValueError, match="between 0 and 1"):
            F.dropout(x, p)
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.Dropout(p)
    tg.manual_seed(5)
    first = nn.Dropout(0.5)(x).data
    tg.manual_seed(5)
    np.testing.assert_array_equal(first, nn.Dropout(0.5)(x).data)


# ---------------------------------------------------------------------- init
def test_calculate_gain():
    assert init.calculate_gain("linear") == init.calculate_gain("conv2d") == init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", True)


def test_fans_by_hand():
    assert init.calculate_fan_in_and_fan_out(np.empty((30, 20))) == (20, 30)           # Linear (out, in)
    assert init.calculate_fan_in_and_fan_out(np.empty((8, 3, 5, 4))) == (3 * 20, 8 * 20)  # Conv2d
    assert init.calculate_fan_in_and_fan_out(nn.ConvTranspose2d(6, 2, 3).weight) == (2 * 9, 6 * 9)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.calculate_fan_in_and_fan_out(np.empty(5))


@pytest.mark.parametrize("fill,expected_mean,expected_std", [
    (lambda t: init.normal_(t, 1.5, 0.5), 1.5, 0.5),
    (lambda t: init.uniform_(t, -3, 1), -1.0, 4 / math.sqrt(12)),
    (lambda t: init.xavier_uniform_(t, gain=2.0), 0.0, 2.0 * math.sqrt(2 / (400 + 250))),
    (lambda t: init.xavier_normal_(t), 0.0, math.sqrt(2 / (400 + 250))),
    (lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), 0.0, math.sqrt(2) / math.sqrt(400)),
    (lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"), 0.0, math.sqrt(2) / math.sqrt(250)),
    (lambda t: init.kaiming_normal_(t, a=0.2), 0.0, math.sqrt(2 / 1.04) / math.sqrt(400)),
])
def test_init_statistics(fill, expected_mean, expected_std):
    tg.manual_seed(0)
    t = tg.zeros(250, 400)  # fan_in 400, fan_out 250; 100k samples
    assert fill(t) is t
    assert t.dtype == np.float32
    assert abs(t.data.mean() - expected_mean) < 0.01 * max(expected_std, 1) + 4 * expected_std / math.sqrt(t.numel())
    assert abs(t.data.std() / expected_std - 1) < 0.02


def test_init_bounds_constant_and_errors():
    tg.manual_seed(0)
    t = tg.zeros(50, 60)
    init.kaiming_uniform_(t, a=math.sqrt(5))
    assert np.abs(t.data).max() <= 1 / math.sqrt(60)  # torch's layer default
    init.constant_(t, 0.25)
    assert np.all(t.data == 0.25)
    init.ones_(t)
    assert np.all(t.data == 1)
    init.zeros_(t)
    assert np.all(t.data == 0)
    with pytest.raises(ValueError, match="fan_in"):
        init.kaiming_normal_(t, mode="fan_middle")
    with pytest.raises(TypeError, match="floating-point"):
        init.normal_(tg.tensor(np.zeros(3, dtype=np.int64)))
    with pytest.raises(TypeError, match="Tensor"):
        init.normal_([1.0, 2.0])
    double = tg.zeros(3, 3, dtype=np.float64)
    init.normal_(double)
    assert double.dtype == np.float64


def test_init_is_repeatable_after_manual_seed():
    tg.manual_seed(7)
    a = init.normal_(tg.zeros(10)).data.copy()
    tg.manual_seed(7)
    np.testing.assert_array_equal(a, init.normal_(tg.zeros(10)).data)


# ---------------------------------------------------------------------- summary
def test_summary_numbers_by_hand(capsys):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(),
                          nn.ConvTranspose2d(2, 1, 2, stride=2), nn.Flatten(), nn.Linear(64, 10))
    model.train()
    table = nn.summary(model, (1, 1, 4, 4))
    rows = [(r.name, r.layer_type, r.output_shape, r.num_params, r.mult_adds) for r in table.layers]
    assert rows == [
        ("0", "Conv2d", (1, 2, 4, 4), 2 * 9 + 2, (2 * 4 * 4) * (1 * 3 * 3)),              # 20, 288
        ("1", "BatchNorm2d", (1, 2, 4, 4), 4, 0),
        ("2", "ReLU", (1, 2, 4, 4), 0, 0),
        ("3", "ConvTranspose2d", (1, 1, 8, 8), 2 * 1 * 4 + 1, (2 * 4 * 4) * (1 * 2 * 2)),  # 9, 128
        ("4", "Flatten", (1, 64), 0, 0),
        ("5", "Linear", (1, 10), 650, 1 * 64 * 10),
    ]
    assert table.total_params == table.trainable_params == 20 + 4 + 9 + 650
    assert table.total_mult_adds == 288 + 128 + 640
    assert all(m.training for m in model.modules())  # the mode is restored
    assert int(model[1].num_batches_tracked) == 0   # eval mode: statistics untouched
    assert capsys.readouterr().out == ""
    nn.summary(model, (1, 1, 4, 4), show=True)
    printed = capsys.readouterr().out
    assert "Total params: 683" in printed and "Total mult-adds: 1,056" in printed
    assert "3 (ConvTranspose2d)" in printed


def test_summary_counts_grouped_convolutions_per_group():
    # Each output element of a convolution meets in/groups * kh * kw weights: a 3x3
    # convolution 32 -> 64 costs 64 * 32 * 9 per pixel, its depthwise-separable twin
    # (depthwise 3x3, groups=32, then pointwise 1x1) 32 * 1 * 9 + 64 * 32 * 1.
    pixels = 8 * 8
    standard = nn.summary(nn.Conv2d(32, 64, 3, padding=1), (1, 32, 8, 8))
    separable = nn.summary(nn.Sequential(nn.Conv2d(32, 32, 3, padding="same", groups=32), nn.Conv2d(32, 64, 1)),
                           (1, 32, 8, 8))
    assert standard.total_mult_adds == pixels * 64 * 32 * 9
    assert [layer.mult_adds for layer in separable.layers] == [pixels * 32 * 1 * 9, pixels * 64 * 32 * 1]
    assert separable.total_params == (32 * 9 + 32) + (64 * 32 + 64)
    # A transposed convolution: each *input* element meets out/groups * kh * kw weights.
    transposed = nn.summary(nn.ConvTranspose2d(6, 4, 2, stride=2, groups=2), (1, 6, 3, 3))
    assert transposed.total_mult_adds == (6 * 3 * 3) * (4 // 2) * 2 * 2


def test_deepcopy_gives_an_independent_model():
    import copy

    model = small_sequential()
    clone = copy.deepcopy(model)
    assert isinstance(clone[0].weight, nn.Parameter) and clone[0].weight is not model[0].weight
    assert list(clone.state_dict()) == list(model.state_dict())
    clone[1].running_mean[...] = 5
    clone[0].weight.data[...] = 0
    assert not np.any(model[1].running_mean == 5) and np.any(model[0].weight.data != 0)
