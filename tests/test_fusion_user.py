"""nn.Sequential's BatchNorm + ReLU/LeakyReLU fusion, tried from a PyTorch user's side.

Every check compares against an independent truth: the same Sequential built with
torch.nn (weights copied through state_dict), and/or the same tinygan modules run one
at a time (`for m in seq: x = m(x)`), which never fuses.  A spy on the fused op makes
sure the fast path really ran where it should (and not where it must not), so a
"fused == unfused" check is never comparing the unfused path with itself.

Bugs these tests found, all fixed: a forward assigned on the instance was bypassed, the
running mean (in evaluation) and the bias were saved by reference and then recomputed
from their later values, a bad LeakyReLU slope left the BatchNorm half updated, and ReLU
differed from torch's at -inf and NaN.
"""
import copy
import traceback
import warnings

import numpy as np
import pytest

import tinygan as tg
import tinygan.functional as F
import tinygan.nn as nn
import tinygan.nn.container as container
import tinygan.nn.norm as norm_module
from tinygan.models.dcgan import Discriminator, Generator, weights_init
from tinygan.nn.summary import summary

torch = pytest.importorskip("torch")

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}


# ---------------------------------------------------------------------- helpers
def kw(lib, dtype):
    return dict(dtype=dtype if lib is nn else TORCH_DTYPE[dtype])


def twins(make, dtype=np.float64, seed=0):
    """make(lib, kw) -> Sequential, built in tinygan and torch with the same non-trivial state."""
    ours, theirs = make(nn, kw(nn, dtype)), make(torch.nn, kw(torch.nn, dtype))
    rng = np.random.default_rng(seed)
    state = {}
    for key, value in ours.state_dict().items():
        if key.endswith("num_batches_tracked"):
            pass
        elif key.endswith("running_var"):
            value = rng.uniform(0.5, 2.0, value.shape)
        elif key.endswith("weight") and value.ndim == 1:
            value = rng.normal(1.0, 0.5, value.shape)
        else:
            value = rng.normal(0.0, 0.5, value.shape)
        state[key] = np.asarray(value).astype(ours.state_dict()[key].dtype)
    ours.load_state_dict(state)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in state.items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())  # torch's key names
    return ours, theirs


def one_by_one(seq, x):
    for module in seq:
        x = module(x)
    return x


def step_tg(seq, x, upstream, fused=True, input_grad=True):
    """Forward + backward in tinygan; returns (out, dx, {param: grad}, state_dict)."""
    xt = tg.tensor(x, requires_grad=input_grad)
    y = seq(xt) if fused else one_by_one(seq, xt)
    y.backward(upstream.astype(y.dtype))
    return (y.data.copy(), None if xt.grad is None else np.array(xt.grad),
            {k: None if p.grad is None else np.array(p.grad) for k, p in seq.named_parameters()},
            {k: np.array(v) for k, v in seq.state_dict().items()})


def step_torch(seq, x, upstream, input_grad=True):
    xt = torch.tensor(x, requires_grad=input_grad)
    y = seq(xt)
    y.backward(torch.tensor(upstream.astype(x.dtype)))
    return (y.detach().numpy().copy(), None if xt.grad is None else xt.grad.numpy().copy(),
            {k: None if p.grad is None else p.grad.numpy().copy() for k, p in seq.named_parameters()},
            {k: v.numpy().copy() for k, v in seq.state_dict().items()})


def assert_results(got, expected, exact=False, **tol):
    names = ("output", "input grad")
    for name, a, b in zip(names, got[:2], expected[:2]):
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.shape == b.shape and a.dtype == b.dtype, (name, a.shape, a.dtype, b.shape, b.dtype)
            check(a, b, exact, name, **tol)
    assert list(got[2]) == list(expected[2])
    for key in got[2]:
        a, b = got[2][key], expected[2][key]
        assert (a is None) == (b is None), f"grad of {key}"
        if a is not None:
            check(a, b, exact, f"grad of {key}", **tol)
    assert list(got[3]) == list(expected[3]), "state_dict keys"
    for key in got[3]:
        a, b = got[3][key], expected[3][key]
        assert a.dtype == b.dtype and a.shape == b.shape, key
        check(a, b, exact or key.endswith("num_batches_tracked"), key, **tol)


def check(a, b, exact, name, **tol):
    if exact:
        np.testing.assert_array_equal(a, b, err_msg=name)
    else:
        np.testing.assert_allclose(a, b, err_msg=name, **tol)


def zero_grads(*models):
    for model in models:
        for p in model.parameters():
            p.grad = None


@pytest.fixture
def fused_calls(monkeypatch):
    """The slopes of every fused batch_norm_activation call nn.BatchNorm* makes."""
    calls = []
    original = norm_module.batch_norm_activation

    def spy(*args, **kwargs):
        calls.append(args[-1] if len(args) == 9 else kwargs.get("negative_slope"))
        return original(*args, **kwargs)

    monkeypatch.setattr(norm_module, "batch_norm_activation", spy)
    return calls


def upstream_like(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------------- the matrix against torch
BATCH_NORMS = {
    "2d": (lambda lib, k, **o: lib.BatchNorm2d(3, **o, **k), (5, 3, 4, 3)),
    "1d-NC": (lambda lib, k, **o: lib.BatchNorm1d(3, **o, **k), (7, 3)),
    "1d-NC-N2": (lambda lib, k, **o: lib.BatchNorm1d(3, **o, **k), (2, 3)),
    "1d-NCL": (lambda lib, k, **o: lib.BatchNorm1d(3, **o, **k), (4, 3, 6)),
}
ACTIVATIONS = {
    "relu": (lambda lib: lib.ReLU(), 0.0),
    "relu-inplace": (lambda lib: lib.ReLU(inplace=True), 0.0),
    "leaky0": (lambda lib: lib.LeakyReLU(0.0), 0.0),
    "leaky0.2": (lambda lib: lib.LeakyReLU(0.2, inplace=True), 0.2),
    "leaky1": (lambda lib: lib.LeakyReLU(1.0), 1.0),
    "leaky-0.5": (lambda lib: lib.LeakyReLU(-0.5), -0.5),
    "leaky-huge": (lambda lib: lib.LeakyReLU(1e6), 1e6),
}
OPTIONS = {
    "default": {},
    "momentum=None": dict(momentum=None),
    "affine=False": dict(affine=False),
    "no-running-stats": dict(track_running_stats=False),
    "eps,momentum": dict(eps=1e-2, momentum=0.7),
}


@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=str)
@pytest.mark.parametrize("batch_norm", BATCH_NORMS, ids=str)
def test_fused_sequential_matches_torch_and_module_by_module(batch_norm, activation, options, fused_calls):
    make_bn, shape = BATCH_NORMS[batch_norm]
    make_act, slope = ACTIVATIONS[activation]
    opts = OPTIONS[options]

    def make(lib, k):
        return lib.Sequential(make_bn(lib, k, **opts), make_act(lib))

    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        ours, theirs = twins(make, dtype)
        separate = copy.deepcopy(ours)
        # train, eval, train, eval...: the mode switches between calls, momentum=None counts batches
        for step, training in enumerate((True, True, False, True, False)):
            for model in (ours, separate, theirs):
                model.train(training)
            zero_grads(ours, separate)
            theirs.zero_grad()
            x = (rng.normal(size=shape) * 2 + 0.5).astype(dtype)
            up = upstream_like(shape, seed=step)
            calls_before = len(fused_calls)
            got = step_tg(ours, x, up)
            assert fused_calls[calls_before:] == [slope]  # the fast path ran, with the right slope
            assert_results(got, step_tg(separate, x, up, fused=False), exact=True)
            tol = dict(TOL[dtype])
            if slope > 1:
                tol["atol"] *= slope
            assert_results(got, step_torch(theirs, x, up), **tol)


def test_functional_batch_norm_activation_matches_torch_with_array_tensor_and_no_statistics():
    tf = torch.nn.functional
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(5, 3, 2, 2)), rng.normal(size=3), rng.normal(size=3)
    for training, kind in ((True, "ndarray"), (True, "tensor"), (True, None), (False, "ndarray"), (False, "tensor")):
        mean0, var0 = rng.normal(size=3), rng.uniform(0.5, 2, 3)
        if kind == "ndarray":
            mean, var = mean0.copy(), var0.copy()
        elif kind == "tensor":
            mean, var = tg.tensor(mean0.copy()), tg.tensor(var0.copy())
        else:
            mean = var = None
        tmean, tvar = (torch.tensor(mean0.copy()), torch.tensor(var0.copy())) if kind else (None, None)
        ours = [tg.tensor(v, requires_grad=True) for v in (x, w, b)]
        theirs = [torch.tensor(v, requires_grad=True) for v in (x, w, b)]
        y = F.batch_norm_activation(ours[0], mean, var, ours[1], ours[2], training, 0.3, 1e-3, 0.1)
        expected = tf.leaky_relu(tf.batch_norm(theirs[0], tmean, tvar, theirs[1], theirs[2], training, 0.3, 1e-3), 0.1)
        up = rng.normal(size=x.shape)
        y.backward(up)
        expected.backward(torch.tensor(up))
        np.testing.assert_allclose(y.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
        for mine, reference in zip(ours, theirs):
            np.testing.assert_allclose(mine.grad, reference.grad.numpy(), rtol=1e-10, atol=1e-12)
        if kind:
            as_array = (lambda v: v.data) if kind == "tensor" else np.asarray
            np.testing.assert_allclose(as_array(mean), tmean.numpy(), rtol=1e-12)
            np.testing.assert_allclose(as_array(var), tvar.numpy(), rtol=1e-12)


# ---------------------------------------------------------------------- y == 0 exactly
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("slope", [0.0, 0.2, -0.5])
@pytest.mark.parametrize("training", [True, False])
def test_exactly_zero_pre_activation_gets_the_activation_gradient_at_zero(dtype, slope, training):
    """Channel 0: symmetric values around 0 with a 0 among them; channel 1: all 0 (var 0).
    With bias 0 (and running_mean 0 in eval) y is exactly 0 there in torch too, so torch's
    gradient at y == 0 -- 0 for ReLU, slope * g for LeakyReLU -- is the truth."""
    def make(lib, k):
        return lib.Sequential(lib.BatchNorm2d(2, **k), lib.LeakyReLU(slope) if slope else lib.ReLU())

    ours, theirs = twins(make, dtype)
    for model in (ours, theirs):
        model.train(training)
    ours[0].bias.data[:] = 0
    ours[0].running_mean[...] = 0
    with torch.no_grad():
        theirs[0].bias.zero_()
        theirs[0].running_mean.zero_()
    x = np.zeros((2, 2, 2, 3), dtype=dtype)
    x[:, 0] = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, 0.0]).reshape(2, 3)
    up = upstream_like(x.shape)
    got = step_tg(ours, x, up)
    assert (got[0][:, 0].reshape(2, -1)[:, [2, 5]] == 0).all() and (got[0][:, 1] == 0).all()
    assert_results(got, step_torch(theirs, x, up), **TOL[dtype])
    if slope == 0:
        assert got[2]["0.bias"][1] == 0 and (got[1][:, 1] == 0).all()  # no gradient through a dead channel


# ---------------------------------------------------------------------- hooks, editing, slicing
def conv_bn_stack(lib, k):
    return lib.Sequential(lib.Conv2d(3, 3, 1, **k), lib.BatchNorm2d(3, **k), lib.LeakyReLU(0.2),
                          lib.BatchNorm2d(3, **k), lib.BatchNorm2d(3, **k), lib.ReLU(), lib.BatchNorm2d(3, **k))


def compare_step(ours, theirs, x, fused_calls, expected_slopes, seed=1):
    """One training step of both models from zero grads: results equal torch, and the fused op
    ran exactly for `expected_slopes`."""
    zero_grads(ours)
    theirs.zero_grad()
    with torch.no_grad():
        shape = tuple(copy.deepcopy(theirs)(torch.tensor(x)).shape)
    up = upstream_like(shape, seed)
    before = len(fused_calls)
    got = step_tg(ours, x, up)
    assert fused_calls[before:] == expected_slopes
    # atol: a BN bias feeding another BN has a gradient of exactly 0 in theory, ~1e-10 of rounding in practice
    assert_results(got, step_torch(theirs, x, up), rtol=1e-9, atol=1e-9)
    return got


def test_two_batch_norms_in_a_row_and_a_batch_norm_last(fused_calls):
    ours, theirs = twins(conv_bn_stack)
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2))
    # Only (1, 2) and (4, 5) are BatchNorm -> activation pairs; 3 and 6 run alone.
    compare_step(ours, theirs, x, fused_calls, [0.2, 0.0])


def test_hook_registered_after_the_first_forward_unfuses_and_removing_it_refuses(fused_calls):
    ours, theirs = twins(conv_bn_stack)
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2))
    compare_step(ours, theirs, x, fused_calls, [0.2, 0.0])
    seen = []

    def our_hook(module, inputs, output):
        seen.append(output.data.copy())
        return output * 2  # changes the BatchNorm's output: the activation must see that

    handles = [ours[1].register_forward_hook(our_hook),
               theirs[1].register_forward_hook(lambda m, i, out: out * 2)]
    compare_step(ours, theirs, x, fused_calls, [0.0])  # only the second pair is still fused
    assert len(seen) == 1 and (seen[0] < 0).any()  # the hook saw the pre-activation values
    for handle in handles:
        handle.remove()
    compare_step(ours, theirs, x, fused_calls, [0.2, 0.0])
    assert len(seen) == 1


def test_hook_on_the_activation_only_unfuses(fused_calls):
    ours, theirs = twins(conv_bn_stack)
    x = np.random.default_rng(1).normal(size=(4, 3, 2, 2))
    inputs_seen = []
    ours[5].register_forward_hook(lambda m, i, out: inputs_seen.append(i[0].data.copy()) or out + 1)
    theirs[5].register_forward_hook(lambda m, i, out: out + 1)
    compare_step(ours, theirs, x, fused_calls, [0.2])
    assert len(inputs_seen) == 1 and (inputs_seen[0] < 0).any()  # the ReLU got the BN's raw output


@pytest.mark.parametrize("index", [slice(1, 3), slice(2, 4), slice(1, None), slice(None, 2), slice(3, None),
                                   slice(None, None, -1)], ids=str)
def test_slices_of_a_sequential(index, fused_calls):
    ours, theirs = twins(conv_bn_stack)
    x = np.random.default_rng(2).normal(size=(4, 3, 2, 2))
    expected = []
    modules = list(ours[index])
    for a, b in zip(modules, modules[1:] + [None]):
        if isinstance(a, nn.BatchNorm2d) and isinstance(b, (nn.ReLU, nn.LeakyReLU)):
            expected.append(getattr(b, "negative_slope", 0.0))
    compare_step(ours[index], theirs[index], x, fused_calls, expected)
    # the slice shares modules: the originals' running statistics moved too
    np.testing.assert_allclose(ours[1].running_mean, theirs[1].running_mean.numpy(), rtol=1e-12)


def test_replacing_and_deleting_modules_after_a_forward(fused_calls):
    ours, theirs = twins(conv_bn_stack)
    x = np.random.default_rng(3).normal(size=(4, 3, 2, 2))
    compare_step(ours, theirs, x, fused_calls, [0.2, 0.0])
    ours[2], theirs[2] = nn.Tanh(), torch.nn.Tanh()
    compare_step(ours, theirs, x, fused_calls, [0.0])
    ours[2], theirs[2] = nn.ReLU(), torch.nn.ReLU()
    compare_step(ours, theirs, x, fused_calls, [0.0, 0.0])
    del ours[2]
    del theirs[2]  # BN, BN, BN, ReLU: now 3 -> 4 is the only pair
    assert list(ours.state_dict()) == list(theirs.state_dict())
    compare_step(ours, theirs, x, fused_calls, [0.0])
    ours.append(nn.LeakyReLU(0.3))
    theirs.append(torch.nn.LeakyReLU(0.3))
    compare_step(ours, theirs, x, fused_calls, [0.0, 0.3])


def test_nested_sequentials(fused_calls):
    def make(lib, k):
        return lib.Sequential(lib.Sequential(lib.Conv2d(3, 3, 1, **k), lib.BatchNorm2d(3, **k)), lib.ReLU(),
                              lib.Sequential(lib.BatchNorm2d(3, **k), lib.LeakyReLU(0.3)), lib.BatchNorm2d(3, **k))

    ours, theirs = twins(make)
    x = np.random.default_rng(4).normal(size=(4, 3, 2, 2))
    # The BN at the end of the inner Sequential and the ReLU outside it are not fused.
    compare_step(ours, theirs, x, fused_calls, [0.3])


class _Doubled(nn.BatchNorm2d):
    def forward(self, input):
        return super().forward(input) * 2


class _ThinSubclass(nn.BatchNorm2d):
    pass


class _MyReLU(nn.ReLU):
    def forward(self, input):
        return F.relu(input) + 1


def test_subclasses(fused_calls):
    x = np.random.default_rng(5).normal(size=(4, 3, 2, 2)).astype(np.float32)
    tx = torch.tensor(x)
    torch_bn = torch.nn.BatchNorm2d(3)
    cases = [(nn.Sequential(_Doubled(3), nn.ReLU()), torch.relu(torch_bn(tx) * 2), []),
             (nn.Sequential(_ThinSubclass(3), nn.ReLU()), torch.relu(torch_bn(tx)), [0.0]),
             (nn.Sequential(nn.BatchNorm2d(3), _MyReLU()), torch.relu(torch_bn(tx)) + 1, [])]
    for seq, expected, slopes in cases:
        before = len(fused_calls)
        np.testing.assert_allclose(seq(tg.tensor(x)).data, expected.detach().numpy(), rtol=1e-5, atol=1e-6)
        assert fused_calls[before:] == slopes


@pytest.mark.parametrize("which", [0, 1], ids=["on-batchnorm", "on-relu"])
def test_forward_overridden_on_the_instance_is_called(which):
    x = np.random.default_rng(6).normal(size=(4, 3, 2, 2)).astype(np.float32)
    ours = nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())
    theirs = torch.nn.Sequential(torch.nn.BatchNorm2d(3), torch.nn.ReLU())
    for seq in (ours, theirs):
        original = seq[which].forward
        seq[which].forward = (lambda f: lambda input: f(input) * 0 + 5)(original)
    expected = theirs(torch.tensor(x)).detach().numpy()
    np.testing.assert_array_equal(one_by_one(copy.deepcopy(ours), tg.tensor(x)).data, expected)  # the path is fine
    np.testing.assert_array_equal(ours(tg.tensor(x)).data, expected)


# ---------------------------------------------------------------------- autograd situations
def bn_relu(lib, k):
    return lib.Sequential(lib.BatchNorm2d(3, **k), lib.ReLU())


def test_no_grad_forward(fused_calls):
    ours, theirs = twins(bn_relu, np.float32)
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2)).astype(np.float32)
    with tg.no_grad():
        y = ours(tg.tensor(x, requires_grad=True))
    with torch.no_grad():
        expected = theirs(torch.tensor(x, requires_grad=True))
    assert fused_calls == [0.0] and not y.requires_grad
    np.testing.assert_allclose(y.data, expected.numpy(), **TOL[np.float32])
    for key, value in theirs.state_dict().items():  # running statistics still move under no_grad
        np.testing.assert_allclose(ours.state_dict()[key], value.numpy(), **TOL[np.float32])


def test_input_without_grad_and_frozen_parameters(fused_calls):
    x = np.random.default_rng(1).normal(size=(4, 3, 2, 2))
    up = upstream_like(x.shape)
    ours, theirs = twins(bn_relu)
    assert_results(step_tg(ours, x, up, input_grad=False), step_torch(theirs, x, up, input_grad=False),
                   **TOL[np.float64])
    ours, theirs = twins(bn_relu)
    ours[0].weight.requires_grad = False
    theirs[0].weight.requires_grad_(False)
    assert_results(step_tg(ours, x, up), step_torch(theirs, x, up), **TOL[np.float64])
    ours, theirs = twins(bn_relu)
    ours[0].requires_grad_(False)
    theirs[0].requires_grad_(False)
    got = step_tg(ours, x, up)
    assert got[2] == {"0.weight": None, "0.bias": None}
    assert_results(got, step_torch(theirs, x, up), **TOL[np.float64])
    assert len(fused_calls) == 3


@pytest.mark.parametrize("modes", [(True, True), (True, False), (False, False)], ids=str)
def test_backward_twice_with_retain_graph_and_accumulation_over_two_forwards(modes, fused_calls):
    ours, theirs = twins(bn_relu)
    rng = np.random.default_rng(2)
    x1, x2 = rng.normal(size=(4, 3, 2, 2)), rng.normal(size=(4, 3, 2, 2)) * 3 + 1
    weights = rng.normal(size=x1.shape)
    results = []
    for lib, seq in (("tg", ours), ("torch", theirs)):
        make = torch.tensor if lib == "torch" else tg.tensor
        a, b = make(x1, requires_grad=True), make(x2, requires_grad=True)
        seq.train(modes[0])
        y1 = seq(a)
        seq.train(modes[1])
        y2 = seq(b)
        loss = (y1 * make(weights)).sum() + (y2 * y2).sum()
        loss.backward(retain_graph=True)
        loss.backward()
        as_np = (lambda v: v.numpy()) if lib == "torch" else np.asarray
        results.append([as_np(v) for v in (a.grad, b.grad, seq[0].weight.grad, seq[0].bias.grad,
                                            seq[0].running_mean, seq[0].running_var)])
    assert fused_calls == [0.0, 0.0]
    for got, expected in zip(*results):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10)


def _eval_then_train(seq, x1, x2, weights, make, fused=True):
    a, b = make(x1, requires_grad=True), make(x2, requires_grad=True)
    run = seq if fused else (lambda v: one_by_one(seq, v))
    seq.eval()
    y1 = run(a)
    seq.train()
    y2 = run(b)  # updates running_mean in place before the first output's backward
    ((y1 * make(weights)).sum() + (y2 * y2).sum()).backward()
    as_np = (lambda v: v.numpy()) if make is torch.tensor else np.asarray
    return [as_np(v) for v in (a.grad, b.grad, seq[0].weight.grad, seq[0].bias.grad)]


def _eval_then_train_data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(4, 3, 2, 2)), rng.normal(size=(4, 3, 2, 2)) * 3 + 1, np.arange(48.0).reshape(4, 3, 2, 2)


def test_eval_forward_then_train_forward_before_backward_fused_equals_module_by_module():
    ours, _ = twins(bn_relu)
    x1, x2, weights = _eval_then_train_data()
    fused = _eval_then_train(copy.deepcopy(ours), x1, x2, weights, tg.tensor)
    separate = _eval_then_train(copy.deepcopy(ours), x1, x2, weights, tg.tensor, fused=False)
    for got, expected, name in zip(fused, separate, ("dx1", "dx2", "dweight", "dbias")):
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_eval_forward_then_train_forward_weight_gradient_is_that_of_the_computed_function():
    ours, theirs = twins(bn_relu)
    x1, x2, weights = _eval_then_train_data()
    # Truth: each output's gradient from its own copy (torch), summed.
    first, second = copy.deepcopy(theirs).eval(), copy.deepcopy(theirs).train()
    a, b = torch.tensor(x1, requires_grad=True), torch.tensor(x2, requires_grad=True)
    (first(a) * torch.tensor(weights)).sum().backward()
    (second(b) ** 2).sum().backward()
    truth = [a.grad.numpy(), b.grad.numpy(), (first[0].weight.grad + second[0].weight.grad).numpy(),
             (first[0].bias.grad + second[0].bias.grad).numpy()]
    separate = _eval_then_train(copy.deepcopy(ours), x1, x2, weights, tg.tensor, fused=False)
    for got, expected, name in zip(separate, truth, ("dx1", "dx2", "dweight", "dbias")):
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-10, err_msg=name)


def test_bias_changed_in_place_between_forward_and_backward():
    ours, theirs = twins(bn_relu)
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2))
    up = upstream_like(x.shape)
    xt, tx = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = ours(xt), theirs(tx)
    ours[0].bias.data[...] += 0.5
    with torch.no_grad():
        theirs[0].bias.add_(0.5)
    y.backward(up)
    ty.backward(torch.tensor(up))
    np.testing.assert_allclose(xt.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ours[0].bias.grad, theirs[0].bias.grad.numpy(), rtol=1e-9, atol=1e-10)


def test_deepcopy_keeps_fusing_and_matches_the_original(fused_calls):
    ours, theirs = twins(conv_bn_stack)
    x = np.random.default_rng(3).normal(size=(4, 3, 2, 2))
    compare_step(ours, theirs, x, fused_calls, [0.2, 0.0])
    clone, torch_clone = copy.deepcopy(ours), copy.deepcopy(theirs)
    compare_step(clone, torch_clone, x * 2, fused_calls, [0.2, 0.0], seed=4)
    # the clone's state moved, the original's did not
    np.testing.assert_allclose(ours[1].running_mean, theirs[1].running_mean.numpy(), rtol=1e-12)
    assert not np.allclose(ours[1].running_mean, clone[1].running_mean)


def test_state_dict_round_trip_with_torch_after_training():
    ours, theirs = twins(conv_bn_stack, np.float32)
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2)).astype(np.float32)
    for _ in range(3):
        ours(tg.tensor(x))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    back = conv_bn_stack(nn, {})
    back.load_state_dict(theirs.state_dict())
    for key, value in ours.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)
        assert back.state_dict()[key].dtype == theirs.state_dict()[key].numpy().dtype
    assert int(back[1].num_batches_tracked) == 3
    ours.eval(), back.eval(), theirs.eval()
    np.testing.assert_allclose(back(tg.tensor(x)).data, theirs(torch.tensor(x)).detach().numpy(), **TOL[np.float32])


def test_summary_reports_every_module_with_its_own_shape_and_leaves_fusion_on(fused_calls):
    def make(lib, k):
        return lib.Sequential(lib.Conv2d(3, 4, 3, padding=1, **k), lib.BatchNorm2d(4, **k), lib.ReLU(), lib.Flatten(),
                              lib.Linear(16, 5, **k), lib.BatchNorm1d(5, **k), lib.LeakyReLU(0.2))

    ours, theirs = twins(make, np.float32)
    expected = []
    for name, module in theirs.named_children():
        module.register_forward_hook(lambda m, i, o, name=name: expected.append((name, type(m).__name__,
                                                                                 tuple(o.shape))))
    theirs.eval()
    theirs(torch.zeros(2, 3, 2, 2))
    state = ours.state_dict()
    table = summary(ours, (2, 3, 2, 2))
    assert [(layer.name, layer.layer_type, layer.output_shape) for layer in table.layers] == expected
    assert [layer.num_params for layer in table.layers] == [112, 8, 0, 0, 85, 10, 0]
    assert fused_calls == []  # the summary's hooks kept every module apart
    assert ours.training and all(m.training for m in ours.modules())
    for key, value in state.items():
        np.testing.assert_array_equal(ours.state_dict()[key], value)
    assert all(not m._forward_hooks for m in ours.modules())
    ours(tg.tensor(np.ones((2, 3, 2, 2), dtype=np.float32)))
    assert fused_calls == [0.0, 0.2]


# ---------------------------------------------------------------------- the DCGAN models
def _dcgan_step(model, inputs, labels, training, fused, monkeypatch):
    model = copy.deepcopy(model).train(training)
    with monkeypatch.context() as patch:
        if not fused:
            patch.setattr(container, "_fused_activation_slope", lambda module, following: None)
        x = tg.tensor(inputs, requires_grad=True)
        out = model(x, labels) if labels is not None else model(x)
        out.backward(upstream_like(out.shape).astype(out.dtype))
    grads = {k: np.array(p.grad) for k, p in model.named_parameters() if p.grad is not None}
    return out.data.copy(), np.array(x.grad), grads, model.state_dict()


@pytest.mark.parametrize("kind,options", [("G", {}), ("G", dict(num_classes=10)), ("G", dict(upsample="nearest")),
                                          ("D", {}), ("D", dict(num_classes=10)),
                                          ("D", dict(num_classes=10, projection=True))], ids=str)
def test_dcgan_models_fused_equal_unfused(kind, options, fused_calls, monkeypatch):
    tg.manual_seed(0)
    rng = np.random.default_rng(0)
    model = Generator(nz=8, ngf=4, **options) if kind == "G" else Discriminator(ndf=4, **options)
    model.apply(weights_init)
    inputs = rng.normal(size=(4, 8, 1, 1) if kind == "G" else (4, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, 4) if "num_classes" in options else None
    for training in (True, False):
        before = len(fused_calls)
        fused = _dcgan_step(model, inputs, labels, training, True, monkeypatch)
        assert fused_calls[before:] == ([0.0, 0.0] if kind == "G" else [0.2])
        separate = _dcgan_step(model, inputs, labels, training, False, monkeypatch)
        assert len(fused_calls) == before + (2 if kind == "G" else 1)
        for got, expected in zip(fused[:2], separate[:2]):
            np.testing.assert_array_equal(got, expected)
        assert fused[2].keys() == separate[2].keys() and len(fused[2]) == len(list(model.parameters()))
        for key in fused[2]:
            np.testing.assert_array_equal(fused[2][key], separate[2][key], err_msg=key)
        for key in fused[3]:
            np.testing.assert_array_equal(fused[3][key], separate[3][key], err_msg=key)


@pytest.mark.parametrize("kind", ["G", "D"])
def test_dcgan_main_against_module_by_module(kind, fused_calls):
    tg.manual_seed(1)
    model = Generator(nz=8, ngf=4) if kind == "G" else Discriminator(ndf=4)
    model.apply(weights_init)
    x = np.random.default_rng(1).normal(size=(4, 8, 1, 1) if kind == "G" else (4, 1, 28, 28)).astype(np.float32)
    for training in (True, False):
        a, b = copy.deepcopy(model).train(training), copy.deepcopy(model).train(training)
        up = upstream_like((4, 1, 28, 28) if kind == "G" else (4,))
        got = step_tg(a, x, up)
        xt = tg.tensor(x, requires_grad=True)
        y = one_by_one(b.main, xt)
        y = y.reshape(-1) if kind == "D" else y
        y.backward(up.astype(np.float32))
        np.testing.assert_array_equal(got[0], y.data)
        np.testing.assert_array_equal(got[1], xt.grad)
        for key, p in b.named_parameters():
            np.testing.assert_array_equal(got[2][key], p.grad, err_msg=key)
    assert fused_calls


# ---------------------------------------------------------------------- extreme inputs
def test_large_values_with_tiny_spread_and_constant_channels():
    def make(lib, k):
        return lib.Sequential(lib.BatchNorm2d(3, **k), lib.LeakyReLU(0.2))

    rng = np.random.default_rng(0)
    for dtype, spread in ((np.float64, 1e-3), (np.float32, 1.0)):
        x = 1e4 + rng.normal(size=(4, 3, 3, 3)) * spread
        x[:, 1] = 7.25  # constant: var 0
        x[:, 2] = 0.0
        x = x.astype(dtype)
        ours, theirs = twins(make, dtype)
        separate, initial = copy.deepcopy(ours), ours.state_dict()
        up = upstream_like(x.shape)
        got = step_tg(ours, x, up)
        assert_results(got, step_tg(separate, x, up, fused=False), exact=True)
        expected = step_torch(theirs, x, up)
        # Channel 1 in torch is y = x * alpha + beta, within rounding of the bias, so its gradient's
        # mask is ill-posed there: compare channels 0 and 2 everywhere, channel 1's output and statistics.
        np.testing.assert_allclose(got[0], expected[0], rtol=1e-5 if dtype == np.float64 else 2e-3, atol=1e-6)
        for i in (0, 2):
            np.testing.assert_allclose(got[1][:, i], expected[1][:, i], rtol=1e-5 if dtype == np.float64 else 2e-3,
                                       atol=1e-5)
        # var 0 exactly for the constant channel: the running estimates move by momentum towards 0 and 7.25
        assert got[3]["0.running_var"][1] == pytest.approx(0.9 * initial["0.running_var"][1], rel=1e-6)
        assert got[3]["0.running_mean"][1] == pytest.approx(0.9 * initial["0.running_mean"][1] + 0.725, rel=1e-6)
        for key in ("0.running_mean", "0.running_var"):
            np.testing.assert_allclose(got[3][key], expected[3][key], rtol=1e-6)


def _inf_nan_case(value, training, slope):
    def make(lib, k):
        return lib.Sequential(lib.BatchNorm1d(2, **k), lib.LeakyReLU(slope) if slope else lib.ReLU())

    ours, theirs = twins(make)
    ours.train(training), theirs.train(training)
    x = np.random.default_rng(0).normal(size=(5, 2))
    x[1, 0] = value
    up = upstream_like(x.shape)
    separate = copy.deepcopy(ours)
    got = step_tg(ours, x, up)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = step_torch(theirs, x, up)
    return got, step_tg(separate, x, up, fused=False), expected


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan], ids=str)
@pytest.mark.parametrize("slope", [0.0, 0.2])
@pytest.mark.parametrize("training", [True, False])
def test_inf_and_nan_inputs_fused_equal_unfused_and_torch_where_defined(value, slope, training):
    got, separate, expected = _inf_nan_case(value, training, slope)
    assert_results(got, separate, exact=True)  # NaNs in the same places too
    # The clean channel 1 is untouched by channel 0's inf/NaN, as in torch.
    np.testing.assert_allclose(got[0][:, 1], expected[0][:, 1], rtol=1e-12)
    np.testing.assert_allclose(got[1][:, 1], expected[1][:, 1], rtol=1e-10, atol=1e-12)
    for key in ("0.running_mean", "0.running_var"):
        np.testing.assert_allclose(got[3][key], expected[3][key], rtol=1e-12)  # inf/NaN where torch has them
    if training:  # the whole bad channel is NaN, as in torch
        assert np.isnan(got[0][:, 0]).all() and np.isnan(expected[0][:, 0]).all()
        assert np.isnan(got[1][:, 0]).all() and np.isnan(expected[1][:, 0]).all()
    else:  # eval: only the bad element's output is non-finite ...
        finite = np.arange(5) != 1
        np.testing.assert_allclose(got[0][finite, 0], expected[0][finite, 0], rtol=1e-12)
        np.testing.assert_allclose(got[1][finite, 0], expected[1][finite, 0], rtol=1e-12)


def test_eval_gradient_at_an_infinite_input_is_finite_as_in_torch():
    got, separate, expected = _inf_nan_case(np.inf, False, 0.2)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-12)


def test_relu_of_minus_inf_is_zero_as_in_torch():
    got, separate, expected = _inf_nan_case(-np.inf, False, 0.0)
    assert got[0][1, 0] == 0 and not np.signbit(got[0][1, 0])  # not -inf * 0 = NaN, and +0.0 as torch's
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-12, atol=1e-15)


def test_relu_gradient_at_nan_is_passed_as_in_torch():
    got, separate, expected = _inf_nan_case(np.nan, False, 0.0)
    np.testing.assert_allclose(got[2]["0.bias"], expected[2]["0.bias"], rtol=1e-12)


# ---------------------------------------------------------------------- wrong inputs
def _error(call):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    frames = traceback.extract_tb(info.value.__traceback__)
    assert "numpy" not in frames[-1].filename and "numba" not in frames[-1].filename, frames[-1]
    return type(info.value), str(info.value)


@pytest.mark.parametrize("activation", [nn.ReLU, lambda: nn.LeakyReLU(0.2)], ids=["relu", "leaky"])
def test_wrong_inputs_raise_the_unfused_paths_error(activation):
    rng = np.random.default_rng(0)
    cases = [
        ("BatchNorm2d", "channels", nn.BatchNorm2d, rng.normal(size=(2, 4, 3, 3)).astype(np.float32)),
        ("BatchNorm2d", "4-D", nn.BatchNorm2d, rng.normal(size=(2, 3, 3)).astype(np.float32)),
        ("BatchNorm1d", "2-D or 3-D", nn.BatchNorm1d, rng.normal(size=(2, 3, 2, 2)).astype(np.float32)),
        ("batch_norm", "floating-point", nn.BatchNorm2d, np.ones((2, 3, 2, 2), dtype=np.int64)),
        ("batch_norm", "float32 or float64", nn.BatchNorm2d, np.ones((2, 3, 2, 2), dtype=np.float16)),
        ("batch_norm", "dtype", nn.BatchNorm2d, rng.normal(size=(2, 3, 2, 2))),  # float64 into float32 weights
        ("batch_norm", "more than 1 value", nn.BatchNorm2d, rng.normal(size=(1, 3, 1, 1)).astype(np.float32)),
    ]
    for name, fragment, layer, x in cases:
        fused = _error(lambda: nn.Sequential(layer(3), activation())(tg.tensor(x)))
        separate = _error(lambda: one_by_one(nn.Sequential(layer(3), activation()), tg.tensor(x)))
        assert fused == separate
        assert name in fused[1] and fragment in fused[1], fused


def test_bad_slope_error_leaves_the_batch_norm_as_the_unfused_path_does():
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2))
    ours, separate = (nn.Sequential(nn.BatchNorm2d(3, dtype=np.float64), nn.LeakyReLU("0.2")) for _ in range(2))
    theirs = torch.nn.Sequential(torch.nn.BatchNorm2d(3, dtype=torch.float64), torch.nn.LeakyReLU("0.2"))
    for call in (lambda: ours(tg.tensor(x)), lambda: one_by_one(separate, tg.tensor(x)),
                 lambda: theirs(torch.tensor(x))):
        with pytest.raises(TypeError):
            call()
    np.testing.assert_allclose(separate[0].running_mean, theirs[0].running_mean.numpy(), rtol=1e-12)
    for key, value in separate.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[key], value, err_msg=key)
