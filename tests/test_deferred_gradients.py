"""Weight gradients computed when `.grad` is read (autograd.DeferredGradient), not in backward().

What a user must not be able to tell, except by the clock: every `.grad` holds the same
numbers as if it had been computed in backward(), whatever happens in between (another
backward, a second use of the weight, the caller changing their arrays, zero_grad, pickling).
The truth each test compares with is independent of the deferral: the same computation
with the deferral switched off (`eager`), float64 central differences, or torch.
"""
import copy
import importlib.util
import pathlib
import pickle

import numpy as np
import pytest

import tinygan as tg
import tinygan.functional as F
import tinygan.nn as nn
from tinygan import optim
from tinygan.kernels import layout
from tinygan.ops import conv

from helpers import random_array


@pytest.fixture
def products(monkeypatch):
    """Counts conv.py's matrix products, so a test can see which ones ran."""
    calls = []
    original = conv.gemm

    def counted(a, b):
        calls.append((a.shape, b.shape))
        return original(a, b)

    monkeypatch.setattr(conv, "gemm", counted)
    return calls


def conv_case(seed=0, dtype=np.float32):
    x = tg.tensor(random_array((3, 2, 6, 6), seed, dtype), requires_grad=True)
    w = tg.tensor(random_array((4, 2, 3, 3), seed + 1, dtype), requires_grad=True)
    return x, w


def test_a_weight_gradient_nobody_reads_is_never_computed(products):
    x, w = conv_case()
    F.conv2d(x, w, stride=2, padding=1).sum().backward()
    assert len(products) == 2  # the forward's product and the input gradient's, not the weight's
    w.grad = None  # what zero_grad does
    assert len(products) == 2
    assert x.grad is not None and w.grad is None


def test_a_weight_gradient_read_is_the_one_backward_would_have_computed(products, eager):
    x, w = conv_case()
    upstream = random_array((3, 4, 3, 3), 5, np.float32)
    F.conv2d(x, w, stride=2, padding=1).backward(upstream)
    before = len(products)
    lazily = w.grad
    assert len(products) == before + 1  # computed on this first read ...
    assert w.grad is lazily and len(products) == before + 1  # ... and only then
    with eager():
        x2, w2 = conv_case()
        F.conv2d(x2, w2, stride=2, padding=1).backward(upstream)
    np.testing.assert_array_equal(lazily, w2.grad)


def test_the_weight_gradient_matches_central_differences():
    x, w = conv_case(dtype=np.float64)
    upstream = random_array((3, 4, 3, 3), 5)
    F.conv2d(x, w, stride=2, padding=1).backward(upstream)
    numeric, step = np.zeros_like(w.data), 1e-6
    for index in np.ndindex(w.shape):
        shifted = []
        for sign in (1, -1):
            probe = w.data.copy()
            probe[index] += sign * step
            shifted.append(np.sum(F.conv2d(tg.tensor(x.data), tg.tensor(probe), stride=2, padding=1).data * upstream))
        numeric[index] = (shifted[0] - shifted[1]) / (2 * step)
    np.testing.assert_allclose(w.grad, numeric, rtol=1e-6, atol=1e-8)


def test_gradients_add_up_in_the_order_they_arrived(eager):
    """Two backwards, the weight also used outside a convolution, and a second convolution in
    one graph: the same bits as with every gradient computed in backward()."""
    def run():
        x, w = conv_case(seed=3)
        F.conv2d(x, w, padding=1).sum().backward()               # deferred
        (w * w).sum().backward()                                 # an array arrives: the pending one first
        loss = (F.conv2d(x, w) ** 2).sum() + F.conv2d(x * 2.0, w, stride=2).sum()
        loss.backward()                                          # twice in one graph
        return w.grad.copy(), x.grad.copy()

    lazily = run()
    with eager():
        expected = run()
    for mine, reference in zip(lazily, expected):
        np.testing.assert_array_equal(mine, reference)


def test_the_callers_arrays_may_change_before_grad_is_read():
    """The upstream gradient the caller passed, and the input's data, are the caller's: changing
    them after backward() must not change the gradient read later."""
    for kernel in (3, 6):  # 6: one window over the whole image, whose columns are a batch-last x's memory
        def backward():
            x, _ = conv_case()
            x.data = layout.in_order(x.data, layout.BATCH_LAST)
            w = tg.tensor(random_array((4, 2, kernel, kernel), 1, np.float32), requires_grad=True)
            # batch-last, the convolution's own order: read in place, not copied
            upstream = layout.in_order(random_array((3, 4, 7 - kernel, 7 - kernel), 5, np.float32), layout.BATCH_LAST)
            F.conv2d(x, w).backward(upstream)
            return x, w, upstream

        _, w_read_at_once, _ = backward()
        expected = w_read_at_once.grad.copy()
        x, w, upstream = backward()
        upstream[...] = 0
        x.data[...] = 0
        np.testing.assert_array_equal(w.grad, expected, err_msg=f"kernel {kernel}")


def test_a_weight_computed_by_an_op_gets_its_gradient_at_once(eager):
    def run():
        x, w = conv_case(seed=4)
        scaled = w * 0.5  # not a leaf: the gradient flows on through Mul, so it cannot wait
        (F.conv2d(x, scaled, padding=1) ** 2).sum().backward()
        return w.grad.copy()

    lazily = run()
    with eager():
        np.testing.assert_array_equal(lazily, run())


def test_zero_grad_keeping_zeros_and_retain_graph(eager):
    x, w = conv_case()
    out = F.conv2d(x, w).sum()
    out.backward(retain_graph=True)
    module_like = optim.SGD([w], lr=0.1)
    module_like.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad, np.zeros_like(w.data))
    out.backward(retain_graph=True)
    out.backward()
    with eager():
        x2, w2 = conv_case()
        F.conv2d(x2, w2).sum().backward()
    np.testing.assert_allclose(w.grad, 2 * w2.grad, rtol=1e-6)


def test_zero_grad_keeping_zeros_never_computes_a_pending_gradient(products):
    """zero_grad(set_to_none=False): zeros where torch has zeros (its gradient would exist by
    now), None where it has None, and the pending product is never run."""
    torch = pytest.importorskip("torch")
    x, w = conv_case()
    unused = tg.tensor(random_array((4, 2, 3, 3), 9, np.float32), requires_grad=True)
    tw, tunused = torch.tensor(w.data, requires_grad=True), torch.tensor(unused.data, requires_grad=True)
    F.conv2d(x, w, padding=1).sum().backward()
    torch.nn.functional.conv2d(torch.tensor(x.data), tw, padding=1).sum().backward()
    before = len(products)
    optim.SGD([w, unused], lr=0.1).zero_grad(set_to_none=False)
    torch.optim.SGD([tw, tunused], lr=0.1).zero_grad(set_to_none=False)
    assert len(products) == before
    np.testing.assert_array_equal(w.grad, tw.grad.numpy())
    assert w.grad.dtype == np.float32 and unused.grad is None and tunused.grad is None


def test_pickle_and_deepcopy_carry_a_pending_gradient():
    x, w = conv_case()
    F.conv2d(x, w, padding=1).sum().backward()
    copied, unpickled = copy.deepcopy(w), pickle.loads(pickle.dumps(w))
    assert w._deferred_grad is None  # copying computed it, once, for all three
    for other in (copied, unpickled):
        np.testing.assert_array_equal(other.grad, w.grad)


def _benchmarked_plain_step():
    """benchmarks/plain_step.py's plain_step: the step bench_dcgan.py times, loaded by its path."""
    path = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "plain_step.py"
    spec = importlib.util.spec_from_file_location("benchmarks_plain_step", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.plain_step


def test_the_plain_gan_step_skips_ds_weight_gradients_in_gs_half(products, eager):
    """The step benchmarks/bench_dcgan.py times, on small networks: D's convolution weights get
    gradients in loss_G.backward() that the next opt_D.zero_grad() drops unread; the weights
    after two steps are the same bits as with every gradient computed at once."""
    plain_step = _benchmarked_plain_step()

    def two_steps():
        tg.manual_seed(0)
        D = nn.Sequential(nn.Conv2d(1, 4, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
                          nn.Conv2d(4, 1, 4, 1, 0, bias=False), nn.Sigmoid())
        G = nn.Sequential(nn.ConvTranspose2d(3, 1, 8, 1, 0, bias=False), nn.Tanh())
        opt_d, opt_g = optim.Adam(D.parameters(), lr=1e-2), optim.Adam(G.parameters(), lr=1e-2)
        real = tg.tensor(random_array((5, 1, 8, 8), 0, np.float32))
        noise = tg.tensor(random_array((5, 3, 1, 1), 1, np.float32))
        for _ in range(2):
            plain_step(G, D, opt_g, opt_d, real, noise)
        return [p.data.copy() for p in list(D.parameters()) + list(G.parameters())]

    lazily = two_steps()
    lazy_products = len(products)
    with eager():
        expected = two_steps()
    for mine, reference in zip(lazily, expected):
        np.testing.assert_array_equal(mine, reference)
    # D's first layer's weight gradient (its columns made by im2col) skipped in each G half.
    assert len(products) - lazy_products == lazy_products + 2


def test_the_weight_gradient_agrees_with_torch():
    torch = pytest.importorskip("torch")
    x, w = conv_case(dtype=np.float64)
    upstream = random_array((3, 4, 3, 3), 5)
    F.conv2d(x, w, stride=2, padding=1).backward(upstream)
    tx, tw = (torch.tensor(a.data, requires_grad=True) for a in (x, w))
    torch.nn.functional.conv2d(tx, tw, stride=2, padding=1).backward(torch.tensor(upstream))
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-10, atol=1e-12)
