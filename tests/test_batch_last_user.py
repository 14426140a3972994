"""A user's checks of the batch-last convolutions, against torch (or NumPy copies) as the truth.

The convolutions hand their outputs on batch-last ((N, C, H, W) with (C, H, W, N) memory),
take any input order, and batch norm writes its output in its input's order
(kernels/layout.py).  These tests go through the public API only, with unusual convolution
arguments (groups, dilation, 'same' with even kernels, asymmetric strides, output_padding,
one-pixel images and kernels, the whole-image case, a large ragged batch), inputs in every
memory order and in odd strides, chains of layers with train and eval mode, and what a user
does with a batch-last result (index it, view it, save it, copy it, mutate it under no_grad).
"""
import copy
import pickle

import numpy as np
import pytest

import tinygan as tg
import tinygan.functional as F
import tinygan.nn as nn
import tinygan.optim as optim
from tinygan.kernels import layout

torch = pytest.importorskip("torch")
TF = torch.nn.functional


# ---------------------------------------------------------------------- helpers
def arranged(a: np.ndarray, memory_order: str) -> np.ndarray:
    """a's values in one of the three orders, or in odd strides ('strided': every other column
    of a bigger array, 'reversed': x[:, :, ::2, ::-1] of one twice as tall, 'transposed': a
    (N, C, W, H) array's swapaxes)."""
    if memory_order == "strided":
        big = np.zeros(a.shape[:3] + (2 * a.shape[3],), a.dtype)
        big[..., ::2] = a
        view = big[..., ::2]
    elif memory_order == "reversed":
        big = np.zeros(a.shape[:2] + (2 * a.shape[2], a.shape[3]), a.dtype)
        big[:, :, ::2, ::-1] = a
        view = big[:, :, ::2, ::-1]
    elif memory_order == "transposed":
        view = np.ascontiguousarray(a.swapaxes(2, 3)).swapaxes(2, 3)
    else:
        view = layout.empty(a.shape, a.dtype, memory_order)
        view[...] = a
    np.testing.assert_array_equal(view, a)
    return view


ORDERS = (layout.BATCH_MAJOR, layout.CHANNEL_MAJOR, layout.BATCH_LAST, "strided", "reversed", "transposed")


def tolerance(dtype):
    return dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)


def compare_conv(ours, theirs, x, weight, bias, x_order, grad_order=layout.BATCH_LAST, seed=7):
    """ours(X, W, B) against theirs (torch) on the same values: output, then dL/dx, dL/dW, dL/db."""
    dtype = x.dtype
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    tb = None if bias is None else torch.tensor(bias, requires_grad=True)
    expected = theirs(tx, tw, tb)
    upstream = np.random.default_rng(seed).standard_normal(tuple(expected.shape)).astype(dtype)
    if expected.numel():
        expected.backward(torch.tensor(upstream))
    X, W = tg.Tensor(arranged(x, x_order), requires_grad=True), tg.Tensor(weight.copy(), requires_grad=True)
    B = None if bias is None else tg.Tensor(bias.copy(), requires_grad=True)
    out = ours(X, W, B)
    assert out.shape == tuple(expected.shape) and out.dtype == dtype
    np.testing.assert_allclose(out.data, expected.detach().numpy(), err_msg="forward", **tolerance(dtype))
    if not expected.numel():
        return out
    out.backward(arranged(upstream, grad_order))
    np.testing.assert_allclose(X.grad, tx.grad.numpy(), err_msg="dL/dx", **tolerance(dtype))
    np.testing.assert_allclose(W.grad, tw.grad.numpy(), err_msg="dL/dW", **tolerance(dtype))
    if bias is not None:
        np.testing.assert_allclose(B.grad, tb.grad.numpy(), err_msg="dL/db", **tolerance(dtype))
    for leaf in (X, W) + (() if B is None else (B,)):
        assert leaf.grad.flags.c_contiguous, "a leaf's .grad is a batch-major copy"
    return out


# (N, C, H, W, O, groups, kernel, stride, padding, dilation)
CONV_CASES = {
    "groups": (2, 4, 5, 5, 6, 2, (3, 3), 1, 1, 1),
    "depthwise": (3, 4, 6, 7, 4, 4, (3, 2), 1, 0, 1),
    "dilation, asymmetric stride and padding": (2, 4, 6, 7, 8, 4, (3, 3), (2, 1), (1, 2), (2, 1)),
    "same, even kernel": (2, 2, 6, 6, 3, 1, (2, 2), 1, "same", 1),
    "same, even kernel, dilated": (2, 2, 6, 5, 2, 1, (4, 2), 1, "same", (1, 2)),
    "valid": (2, 2, 6, 5, 2, 2, (3, 3), 1, "valid", 1),
    "one image one channel one pixel": (1, 1, 1, 1, 1, 1, (1, 1), 1, 0, 1),
    "1x1 images": (2, 3, 1, 1, 3, 1, (1, 1), 1, 0, 1),
    "1x1 images, 3x3 kernel, padding": (2, 3, 1, 1, 3, 1, (3, 3), 1, 1, 1),
    "1x1 kernel, padding": (2, 2, 4, 4, 3, 1, (1, 1), 1, 2, 1),
    "1x1 kernel, stride 3, groups": (2, 6, 3, 3, 3, 3, (1, 1), 3, 0, 1),
    "whole image": (2, 3, 5, 4, 2, 1, (5, 4), 1, 0, 1),
    "whole image, N=1": (1, 3, 5, 4, 2, 1, (5, 4), 1, 0, 1),
    "whole image, padding": (2, 3, 5, 4, 2, 1, (5, 4), 1, 1, 1),
    "whole image, stride": (2, 3, 5, 4, 2, 1, (5, 4), 2, 0, 1),
    "whole image, depthwise": (4, 8, 7, 7, 8, 8, (7, 7), 1, 0, 1),
    "large ragged batch, one channel": (200, 1, 6, 6, 2, 1, (3, 3), 2, 1, 1),
    "large ragged batch, two channels": (203, 2, 5, 5, 1, 1, (4, 4), 2, 1, 1),
    "batch of 17": (17, 1, 5, 5, 1, 1, (2, 2), 1, 0, 1),
    "empty batch": (0, 2, 4, 4, 3, 1, (3, 3), 1, 1, 1),
}


def case_orders(cases):
    """(case, input order) pairs: every order, but the large batches only batch-major and batch-last (time)."""
    return [(case, order) for case in cases for order in ORDERS
            if cases[case][0] < 100 or order in (layout.BATCH_MAJOR, layout.BATCH_LAST)]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's, about its own speed
@pytest.mark.parametrize("case, x_order", case_orders(CONV_CASES))
def test_conv2d_unusual_arguments_in_every_order(case, x_order):
    n, c, h, w, o, groups, kernel, stride, padding, dilation = CONV_CASES[case]
    rng = np.random.default_rng(len(case))
    x, weight = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c // groups) + kernel)
    bias = rng.standard_normal(o)
    options = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    compare_conv(lambda X, W, B: F.conv2d(X, W, B, **options), lambda X, W, B: TF.conv2d(X, W, B, **options),
                 x, weight, bias, x_order, grad_order=ORDERS[len(case) % 3])


# (N, C, H, W, O, groups, kernel, stride, padding, output_padding, dilation)
CONV_TRANSPOSE_CASES = {
    "groups, output_padding": (2, 4, 3, 3, 6, 2, (3, 3), 2, 1, 1, 1),
    "depthwise, asymmetric": (2, 4, 3, 4, 4, 4, (3, 2), (2, 3), (0, 1), (1, 2), 1),
    "dilation, output_padding": (2, 4, 3, 4, 4, 2, (3, 3), 1, 0, (1, 0), (2, 1)),
    "whole image (DCGAN's first layer)": (2, 5, 1, 1, 3, 1, (7, 7), 1, 0, 0, 1),
    "whole image, N=1": (1, 5, 1, 1, 3, 1, (7, 7), 1, 0, 0, 1),
    "1x1 input, output_padding": (2, 5, 1, 1, 3, 1, (4, 4), 2, 0, 1, 1),
    "1x1 input, padding": (2, 5, 1, 1, 3, 1, (4, 4), 1, 1, 0, 1),
    "1x1 everything": (2, 1, 1, 1, 1, 1, (1, 1), 1, 0, 0, 1),
    "1x1 kernel, depthwise": (2, 3, 2, 2, 3, 3, (1, 1), 1, 0, 0, 1),
    "large ragged batch, one channel out": (201, 1, 5, 5, 1, 1, (4, 4), 2, 1, 1, 1),
    "large batch, two channels in": (200, 2, 7, 7, 1, 1, (4, 4), 2, 1, 0, 1),
    "batch of 18": (18, 1, 3, 3, 1, 1, (3, 3), 1, 0, 0, 1),
    "stride 3, padding 2": (2, 2, 3, 3, 4, 2, (5, 5), 3, 2, 2, 1),
    "empty batch": (0, 3, 3, 3, 2, 1, (3, 3), 2, 1, 0, 1),
}


@pytest.mark.parametrize("case, x_order", case_orders(CONV_TRANSPOSE_CASES))
def test_conv_transpose2d_unusual_arguments_in_every_order(case, x_order):
    n, c, h, w, o, groups, kernel, stride, padding, output_padding, dilation = CONV_TRANSPOSE_CASES[case]
    rng = np.random.default_rng(len(case))
    x, weight = rng.standard_normal((n, c, h, w)), rng.standard_normal((c, o // groups) + kernel)
    bias = rng.standard_normal(o)
    options = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups, dilation=dilation)
    compare_conv(lambda X, W, B: F.conv_transpose2d(X, W, B, **options),
                 lambda X, W, B: TF.conv_transpose2d(X, W, B, **options),
                 x, weight, bias, x_order, grad_order=ORDERS[len(case) % 3])


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("x_order", [layout.BATCH_MAJOR, layout.BATCH_LAST, "reversed"])
def test_float32_convolutions_and_their_outputs_are_batch_last(transposed, x_order):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4, 6, 6)).astype(np.float32)
    if transposed:
        weight = rng.standard_normal((4, 3, 4, 4)).astype(np.float32)
        ours = lambda X, W, B: F.conv_transpose2d(X, W, B, stride=2, padding=1)  # noqa: E731
        theirs = lambda X, W, B: TF.conv_transpose2d(X, W, B, stride=2, padding=1)  # noqa: E731
    else:
        weight = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
        ours = lambda X, W, B: F.conv2d(X, W, B, stride=(2, 1), padding=(0, 1))  # noqa: E731
        theirs = lambda X, W, B: TF.conv2d(X, W, B, stride=(2, 1), padding=(0, 1))  # noqa: E731
    out = compare_conv(ours, theirs, x, weight, rng.standard_normal(3).astype(np.float32), x_order)
    assert layout.order(out.data) == layout.BATCH_LAST



def test_dcgan_whole_image_layers_chained_match_torch():
    """G's first layer (1x1 -> 7x7) hands D's last layer (7x7 -> 1x1) a batch-last image: both
    whole-image convolutions, one feeding the other, forward and backward."""
    rng = np.random.default_rng(0)
    z, w1, w2 = rng.standard_normal((5, 6, 1, 1)), rng.standard_normal((6, 3, 7, 7)), rng.standard_normal((2, 3, 7, 7))
    Z, W1, W2 = (tg.Tensor(a, requires_grad=True) for a in (z, w1, w2))
    image = F.conv_transpose2d(Z, W1)
    assert layout.order(image.data) == layout.BATCH_LAST
    out = F.conv2d(image, W2)
    tz, tw1, tw2 = (torch.tensor(a, requires_grad=True) for a in (z, w1, w2))
    expected = TF.conv2d(TF.conv_transpose2d(tz, tw1), tw2)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-10)
    upstream = rng.standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for ours, theirs in ((Z, tz), (W1, tw1), (W2, tw2)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------- chains of layers
def _chain(lib):
    return lib.Sequential(
        lib.Conv2d(3, 6, 3, 1, 1), lib.BatchNorm2d(6), lib.LeakyReLU(0.2),
        lib.Conv2d(6, 8, 4, 2, 1, bias=False), lib.BatchNorm2d(8), lib.ReLU(),
        lib.ConvTranspose2d(8, 4, 4, 2, 1), lib.BatchNorm2d(4), lib.LeakyReLU(0.1),
        lib.Conv2d(4, 5, 3, 2, 0), lib.Tanh(), lib.Flatten(), lib.Linear(5 * 2 * 2, 2))


def _as_float64(model):
    for parameter in model.parameters():
        parameter.data = parameter.data.astype(np.float64)
    for module in model.modules():
        for name in ("running_mean", "running_var"):
            if getattr(module, name, None) is not None:
                module._buffers[name] = module._buffers[name].astype(np.float64)
    return model


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("fused", [True, False], ids=["sequential", "one-by-one"])
def test_conv_batchnorm_activation_chain_matches_torch_over_steps(training, fused):
    tg.manual_seed(0)
    ours = _as_float64(_chain(nn))
    theirs = _chain(torch.nn).double()
    theirs.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in ours.state_dict().items()})
    ours.train(training)
    theirs.train(training)
    rng = np.random.default_rng(1)
    for step in range(3):  # the running statistics of step 0 feed step 1's eval, etc.
        x = rng.standard_normal((5, 3, 7, 7))
        X, tx = tg.Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
        if fused:
            y = ours(X)
        else:
            y = X
            for module in ours:
                y = module(y)
        expected = theirs(tx)
        np.testing.assert_allclose(y.data, expected.detach().numpy(), rtol=1e-9, atol=1e-9, err_msg=f"step {step}")
        upstream = rng.standard_normal(y.shape)
        y.backward(upstream)
        expected.backward(torch.tensor(upstream))
        np.testing.assert_allclose(X.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-9)
        for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-9, atol=1e-9, err_msg=name)
        for (name, b), (_, c) in zip(ours.named_buffers(), theirs.named_buffers()):
            np.testing.assert_allclose(np.asarray(b), c.numpy(), rtol=1e-9, atol=1e-9, err_msg=name)
        ours.zero_grad()
        theirs.zero_grad()


@pytest.mark.parametrize("x_order", [layout.BATCH_MAJOR, layout.CHANNEL_MAJOR, layout.BATCH_LAST, "reversed"])
def test_batch_norm_writes_its_input_order_and_matches_torch(x_order):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((6, 3, 4, 5)) * 3 + 2).astype(np.float32)
    weight, bias = rng.standard_normal(3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    X = tg.Tensor(arranged(x, x_order), requires_grad=True)
    y = F.batch_norm_activation(X, None, None, tg.Tensor(weight), tg.Tensor(bias), training=True, negative_slope=0.2)
    if x_order in layout.MEMORY_AXES:
        assert layout.order(y.data) == x_order
    tx = torch.tensor(x, requires_grad=True)
    normalised = TF.batch_norm(tx, None, None, torch.tensor(weight), torch.tensor(bias), training=True)
    expected = TF.leaky_relu(normalised, 0.2)
    np.testing.assert_allclose(y.data, expected.detach().numpy(), rtol=1e-5, atol=1e-5)
    upstream = rng.standard_normal(x.shape).astype(np.float32)
    y.backward(arranged(upstream, layout.BATCH_LAST))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(X.grad, tx.grad.numpy(), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------- what a user does with a result
def _conv_pair():
    """A batch-last conv2d output and torch's, with the leaves of both: (y, t, (x, w), (tx, tw))."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 3, 6, 6)), rng.standard_normal((5, 3, 3, 3))
    leaves = tg.Tensor(x, requires_grad=True), tg.Tensor(w, requires_grad=True)
    torch_leaves = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ours, theirs = F.conv2d(*leaves, padding=1), TF.conv2d(*torch_leaves, padding=1)
    assert layout.order(ours.data) == layout.BATCH_LAST
    return ours, theirs, leaves, torch_leaves


PROJECTION = np.linspace(-1, 1, 2 * 180).reshape(2, 180)  # (2, 5*6*6): a Linear after y.view(N, -1)
USES = {
    "y[0]": (lambda y: y[0], lambda t: t[0]),
    "y[:, :3]": (lambda y: y[:, :3], lambda t: t[:, :3]),
    "y[..., ::2]": (lambda y: y[..., ::2], lambda t: t[..., ::2]),
    "y[1:3, 2, 1:, ::-1]": (lambda y: y[1:3, 2, 1:, ::-1], lambda t: t[1:3, 2, 1:].flip(-1)),
    "view(N, -1)": (lambda y: y.view(4, -1), lambda t: t.reshape(4, -1)),
    "flatten(1)": (lambda y: y.flatten(1), lambda t: t.flatten(1)),
    "reshape(-1)": (lambda y: y.reshape(-1), lambda t: t.reshape(-1)),
    "permute": (lambda y: y.permute(0, 2, 3, 1), lambda t: t.permute(0, 2, 3, 1)),
    "transpose(1, 3)": (lambda y: y.transpose(1, 3), lambda t: t.transpose(1, 3)),
    "cat dim 0": (lambda y: tg.cat([y, y * 2], 0), lambda t: torch.cat([t, t * 2], 0)),
    "cat dim 1": (lambda y: tg.cat([y[:, :2], y], 1), lambda t: torch.cat([t[:, :2], t], 1)),
    "stack dim 2": (lambda y: tg.stack([y, -y], 2), lambda t: torch.stack([t, -t], 2)),
    "sum over N, H, W": (lambda y: y.sum((0, 2, 3)), lambda t: t.sum((0, 2, 3))),
    "max over C": (lambda y: y.max(1).values, lambda t: t.max(1).values),
    "view -> Linear": (lambda y: F.linear(y.view(4, -1), tg.Tensor(PROJECTION)),
                       lambda t: TF.linear(t.reshape(4, -1), torch.tensor(PROJECTION))),
}


@pytest.mark.parametrize("use", list(USES))
def test_using_a_batch_last_result_matches_torch(use):
    ours_fn, theirs_fn = USES[use]
    y, t, leaves, torch_leaves = _conv_pair()
    out, expected = ours_fn(y), theirs_fn(t)
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.tensor(upstream))
    for leaf, torch_leaf in zip(leaves, torch_leaves):
        np.testing.assert_allclose(leaf.grad, torch_leaf.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_batch_last_results_survive_numpy_files_copies_and_pickles(tmp_path):
    y, t, _, _ = _conv_pair()
    expected = np.array(y.data, order="C")  # the values, in a fresh batch-major array
    np.testing.assert_allclose(expected, t.detach().numpy(), rtol=1e-12, atol=1e-12)
    for got in (y.numpy(), np.asarray(y.data), np.array(y.data.tolist()), torch.from_numpy(y.numpy()).numpy(),
                copy.deepcopy(y).data, pickle.loads(pickle.dumps(y)).data):
        np.testing.assert_array_equal(got, expected)
    tg.save({"tensor": y, "array": y.data, "list": [y.data[:, 1:3]]}, tmp_path / "y.tg")
    back = tg.load(tmp_path / "y.tg")
    np.testing.assert_array_equal(np.asarray(back["tensor"].data), expected)
    np.testing.assert_array_equal(np.asarray(back["array"]), expected)
    np.testing.assert_array_equal(np.asarray(back["list"][0]), expected[:, 1:3])


def test_a_state_dict_saved_after_training_on_batch_last_activations_loads_back(tmp_path):
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.Conv2d(4, 3, 4, 2, 1))
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    x = tg.Tensor(np.random.default_rng(0).standard_normal((6, 2, 8, 8)).astype(np.float32))
    for _ in range(2):
        optimizer.zero_grad()
        (model(x) ** 2).mean().backward()
        optimizer.step()
    tg.save(model.state_dict(), tmp_path / "model.tg")
    clone = nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1), nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.Conv2d(4, 3, 4, 2, 1))
    clone.load_state_dict(tg.load(tmp_path / "model.tg"))
    model.eval()
    clone.eval()
    with tg.no_grad():
        np.testing.assert_array_equal(model(x).data, clone(x).data)


def test_leaf_grad_stays_batch_major_when_it_accumulates_batch_last_gradients():
    rng = np.random.default_rng(0)
    x = tg.Tensor(arranged(rng.standard_normal((4, 3, 6, 6)), layout.BATCH_LAST), requires_grad=True)
    w = tg.Tensor(rng.standard_normal((5, 3, 3, 3)), requires_grad=True)
    first = None
    for call in range(3):
        F.conv2d(x, w, padding=1).sum().backward()
        assert x.grad.flags.c_contiguous and x.grad.shape == x.shape
        first = x.grad.copy() if first is None else first
        np.testing.assert_allclose(x.grad, first * (call + 1), rtol=1e-12)
    y = F.conv2d(x, w, padding=1)
    x.grad = None
    y.backward(tg.Tensor(arranged(np.ones(y.shape), layout.BATCH_LAST)), retain_graph=True)
    y.backward(np.ones(y.shape))
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-12)


# ---------------------------------------------------------------------- wrong input
WRONG = {
    "conv2d rank": (lambda: F.conv2d(tg.randn(2, 3, 5), tg.randn(4, 3, 3, 3)),
                    ValueError, "conv2d: input must be 4-D (N, C, H, W), got shape (2, 3, 5)"),
    "conv2d channels of a batch-last input": (
        lambda: F.conv2d(F.conv2d(tg.randn(2, 3, 5, 5), tg.randn(2, 3, 1, 1)), tg.randn(4, 3, 3, 3)),
        ValueError, "conv2d: input has 2 channels but the weight (4, 3, 3, 3) expects 3"),
    "conv2d dtype": (lambda: F.conv2d(tg.randn(2, 3, 5, 5, dtype=np.float64), tg.randn(4, 3, 3, 3)),
                     TypeError, "conv2d: weight has dtype float32 but input has dtype float64"),
    "conv2d integer input": (lambda: F.conv2d(tg.Tensor(np.ones((2, 3, 5, 5), np.int32)), tg.randn(4, 3, 3, 3)),
                             TypeError, "conv2d: input must be a floating-point tensor, got dtype int32"),
    "conv_transpose2d channels": (lambda: F.conv_transpose2d(tg.randn(2, 4, 5, 5), tg.randn(3, 4, 3, 3)),
                                  ValueError, "conv_transpose2d: input has 4 channels but the weight (3, 4, 3, 3) "
                                              "expects 3 (its axis 0)"),
    "conv_transpose2d output_padding": (
        lambda: F.conv_transpose2d(tg.randn(2, 3, 5, 5), tg.randn(3, 4, 3, 3), stride=2, output_padding=2),
        ValueError, "conv_transpose2d: output_padding must be smaller than either stride or dilation"),
    "batch_norm rank": (lambda: F.batch_norm(tg.randn(2, 3, 4), None, None, training=True),
                        ValueError, "batch_norm: input must be 2-D or 4-D (N, C) or (N, C, H, W), got shape (2, 3, 4)"),
    "BatchNorm2d channels of a batch-last input": (
        lambda: nn.BatchNorm2d(3)(F.conv2d(tg.randn(2, 3, 5, 5), tg.randn(4, 3, 1, 1))),
        ValueError, "BatchNorm2d: expected 3 channels (axis 1), got input of shape (2, 4, 5, 5)"),
    "fused BatchNorm2d channels": (lambda: nn.Sequential(nn.BatchNorm2d(3), nn.ReLU())(tg.randn(2, 4, 4, 4)),
                                   ValueError, "BatchNorm2d: expected 3 channels (axis 1)"),
    "BatchNorm2d dtype": (lambda: nn.BatchNorm2d(3)(tg.randn(2, 3, 4, 4, dtype=np.float64)),
                          TypeError, "batch_norm: weight has dtype float32 but input has dtype float64"),
    "batch norm of one value per channel": (lambda: nn.BatchNorm2d(3)(tg.randn(1, 3, 1, 1)),
                                            ValueError, "batch_norm: training needs more than 1 value per channel"),
}


@pytest.mark.parametrize("case", list(WRONG))
def test_wrong_input_is_named(case):
    call, error, message = WRONG[case]
    with pytest.raises(error) as caught:
        call()
    assert message in str(caught.value)


# ---------------------------------------------------------------------- in place
def test_changing_a_conv_output_in_place_under_no_grad_touches_nothing_else():
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((3, 4, 1, 1)).astype(np.float32))
    w_t = tg.Tensor(rng.standard_normal((4, 2, 7, 7)).astype(np.float32))
    w = tg.Tensor(rng.standard_normal((3, 2, 7, 7)).astype(np.float32))
    x_before, w_t_before = x.data.copy(), w_t.data.copy()
    with tg.no_grad():
        image = F.conv_transpose2d(x, w_t)  # the whole-image case: a view of the product
        again = F.conv_transpose2d(x, w_t).data.copy()
        verdict = F.conv2d(image, w)  # reads image's memory as its columns
        image += 1.0
        verdict *= 2.0
    np.testing.assert_array_equal(x.data, x_before)
    np.testing.assert_array_equal(w_t.data, w_t_before)
    np.testing.assert_allclose(image.data, again + 1.0, rtol=1e-6)
    expected = 2 * TF.conv2d(torch.tensor(again), torch.tensor(w.data)).numpy()
    np.testing.assert_allclose(verdict.data, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- the DCGAN
def test_a_few_dcgan_training_steps_match_torch():
    from tinygan.models import Discriminator, Generator, weights_init

    tnn = torch.nn
    tg.manual_seed(0)
    G, D = Generator(nz=8, ngf=8), Discriminator(ndf=8)
    G.apply(weights_init)
    D.apply(weights_init)
    tG = tnn.Sequential(tnn.ConvTranspose2d(8, 32, 7, 1, 0, bias=False), tnn.BatchNorm2d(32), tnn.ReLU(),
                        tnn.ConvTranspose2d(32, 16, 4, 2, 1, bias=False), tnn.BatchNorm2d(16), tnn.ReLU(),
                        tnn.ConvTranspose2d(16, 1, 4, 2, 1, bias=False), tnn.Tanh())
    tD = tnn.Sequential(tnn.Conv2d(1, 8, 4, 2, 1, bias=False), tnn.LeakyReLU(0.2),
                        tnn.Conv2d(8, 16, 4, 2, 1, bias=False), tnn.BatchNorm2d(16), tnn.LeakyReLU(0.2),
                        tnn.Conv2d(16, 1, 7, 1, 0, bias=False), tnn.Sigmoid())
    tG.load_state_dict({k[len("main."):]: torch.tensor(np.asarray(v)) for k, v in G.state_dict().items()})
    tD.load_state_dict({k[len("main."):]: torch.tensor(np.asarray(v)) for k, v in D.state_dict().items()})
    opt_g, opt_d = (optim.SGD(m.parameters(), lr=0.05) for m in (G, D))
    topt_g, topt_d = (torch.optim.SGD(m.parameters(), lr=0.05) for m in (tG, tD))
    rng = np.random.default_rng(1)
    n = 5
    ones, zeros = np.ones(n, np.float32), np.zeros(n, np.float32)
    for _ in range(2):
        real = rng.uniform(-1, 1, (n, 1, 28, 28)).astype(np.float32)
        z = rng.standard_normal((n, 8, 1, 1)).astype(np.float32)
        for o in (opt_d, topt_d):
            o.zero_grad()
        fake, tfake = G(tg.Tensor(z)), tG(torch.tensor(z))
        loss_d = F.binary_cross_entropy(D(tg.Tensor(real)), tg.Tensor(ones)) + \
            F.binary_cross_entropy(D(fake.detach()), tg.Tensor(zeros))
        tloss_d = TF.binary_cross_entropy(tD(torch.tensor(real)).view(-1), torch.tensor(ones)) + \
            TF.binary_cross_entropy(tD(tfake.detach()).view(-1), torch.tensor(zeros))
        loss_d.backward()
        tloss_d.backward()
        opt_d.step()
        topt_d.step()
        for o in (opt_g, topt_g):
            o.zero_grad()
        loss_g = F.binary_cross_entropy(D(fake), tg.Tensor(ones))
        tloss_g = TF.binary_cross_entropy(tD(tfake).view(-1), torch.tensor(ones))
        loss_g.backward()
        tloss_g.backward()
        opt_g.step()
        topt_g.step()
        assert abs(loss_d.item() - tloss_d.item()) < 1e-5 and abs(loss_g.item() - tloss_g.item()) < 1e-5
    for model, tmodel in ((G, tG), (D, tD)):
        theirs = tmodel.state_dict()
        for key, value in model.state_dict().items():
            np.testing.assert_allclose(np.asarray(value), theirs[key[len("main."):]].numpy(), rtol=1e-4, atol=1e-6,
                                       err_msg=key)


def test_generator_and_discriminator_on_one_image_match_their_batched_eval_results():
    from tinygan.models import Discriminator, Generator

    tg.manual_seed(0)
    G, D = Generator(nz=8, ngf=8).eval(), Discriminator(ndf=8).eval()
    z = tg.randn(6, 8, 1, 1)
    with tg.no_grad():
        batch_images, batch_verdicts = G(z), D(G(z))
        for i in range(6):
            image = G(z[i:i + 1])
            np.testing.assert_allclose(image.data, batch_images.data[i:i + 1], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(D(image).data, batch_verdicts.data[i:i + 1], rtol=1e-5, atol=1e-6)
