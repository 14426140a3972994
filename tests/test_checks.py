"""The shared argument checks (tinygan/checks.py) as every layer of tinygan meets them.

One rule for the error type: TypeError for the wrong kind of value (a string for an int, a
list for a tensor, float16 for a kernel op, two dtypes mixed), ValueError for a right kind
with a wrong value.  Each message names the op or layer, the argument and what was given.
"""
import numpy as np
import pytest

import tinygan as tg
import tinygan.functional as F
import tinygan.nn as nn
from tinygan.checks import integer, number, pair
from tinygan.data import DataLoader
from tinygan.optim import SGD


def _image(dtype=np.float32):
    return tg.tensor(np.ones((2, 3, 6, 6), dtype=dtype))


def _kernel_op_calls(dtype):
    x = _image(dtype)
    channels = tg.tensor(np.ones(3, dtype=dtype))
    return [
        ("conv2d", lambda: F.conv2d(x, tg.tensor(np.ones((4, 3, 3, 3), dtype=dtype)))),
        ("conv_transpose2d", lambda: F.conv_transpose2d(x, tg.tensor(np.ones((3, 4, 3, 3), dtype=dtype)))),
        ("max_pool2d", lambda: F.max_pool2d(x, 2)),
        ("avg_pool2d", lambda: F.avg_pool2d(x, 2)),
        ("interpolate", lambda: F.interpolate(x, scale_factor=2, mode="nearest")),
        ("interpolate", lambda: F.interpolate(x, scale_factor=2, mode="bilinear")),
        ("batch_norm", lambda: F.batch_norm(x, None, None, channels, channels, training=True)),
    ]


@pytest.mark.parametrize("index", range(7))
def test_float16_is_refused_by_every_kernel_op_with_a_message(index):
    # The Numba kernels are compiled for float32 and float64 only; float16 used to reach
    # them and die in Numba's bare "NotImplementedError: float16".
    op, call = _kernel_op_calls(np.float16)[index]
    with pytest.raises(TypeError, match=rf"{op}: input must be float32 or float64, got dtype float16"):
        call()


def test_float16_still_works_where_no_kernel_is_involved():
    x = tg.tensor(np.ones((2, 3), dtype=np.float16))
    w = tg.tensor(np.ones((4, 3), dtype=np.float16))
    out = F.linear(x, w)
    assert out.dtype == np.float16 and np.all(out.data == 3)


@pytest.mark.parametrize("value, given", [([[1.0, 2.0]], "list"), (None, "NoneType"), (3.0, "float")])
def test_a_non_tensor_input_is_a_type_error_naming_the_op(value, given):
    w = tg.tensor(np.ones((1, 1, 1, 1), dtype=np.float32))
    with pytest.raises(TypeError, match=rf"conv2d: input must be a Tensor, got {given}"):
        F.conv2d(value, w)


@pytest.mark.parametrize("call, op, name", [
    (lambda x: F.conv2d(x, tg.tensor(np.ones((4, 3, 3, 3)))), "conv2d", "weight"),
    (lambda x: F.conv2d(x, tg.tensor(np.ones((4, 3, 3, 3), np.float32)), tg.tensor(np.ones(4))), "conv2d", "bias"),
    (lambda x: F.conv_transpose2d(x, tg.tensor(np.ones((3, 4, 3, 3)))), "conv_transpose2d", "weight"),
    (lambda x: F.linear(x.reshape(2, -1), tg.tensor(np.ones((5, 108)))), "linear", "weight"),
    (lambda x: F.batch_norm(x, None, None, tg.tensor(np.ones(3)), None, training=True), "batch_norm", "weight"),
])
def test_mixed_dtypes_are_refused_instead_of_silently_upcast(call, op, name):
    # NumPy would compute float32 @ float64 in float64 and hand back a float64 result.
    with pytest.raises(TypeError, match=rf"{op}: {name} has dtype float64 but input has dtype float32"):
        call(_image(np.float32))


@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Conv2d("3", 8, 3), TypeError, r"Conv2d: in_channels must be a positive int, got str '3'"),
    (lambda: nn.Conv2d(3, 8, "3"), TypeError, r"Conv2d: kernel_size must be an int or a pair"),
    (lambda: nn.Conv2d(0, 8, 3), ValueError, r"Conv2d: in_channels must be a positive int, got 0"),
    (lambda: nn.Linear(2.5, 3), TypeError, r"Linear: in_features must be a positive int, got float 2.5"),
    (lambda: nn.BatchNorm2d(True), TypeError, r"num_features must be a positive int, got bool True"),
    (lambda: SGD([tg.zeros(1, requires_grad=True)], lr="0.1"), TypeError, r"SGD: lr must be a number"),
    (lambda: SGD([tg.zeros(1, requires_grad=True)], lr=float("nan")), ValueError, r"SGD: lr must be >= 0.0"),
    (lambda: DataLoader(np.zeros((4, 2, 2), np.uint8), batch_size="2"), TypeError, r"DataLoader: batch_size"),
])
def test_layers_optimizers_and_loaders_share_one_rule(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_the_helpers_themselves():
    assert pair("op", "stride", 2) == (2, 2) and pair("op", "stride", [1, 3]) == (1, 3)
    with pytest.raises(TypeError, match=r"op: stride must be an int or a pair of ints \(h, w\), got \(1, 2, 3\)"):
        pair("op", "stride", (1, 2, 3))
    with pytest.raises(TypeError):
        pair("op", "stride", (True, 1))
    with pytest.raises(ValueError, match=r"op: stride must be positive, got 0"):
        pair("op", "stride", 0, minimum=1)
    assert integer("op", "n", np.int64(3), minimum=0) == 3 and type(integer("op", "n", np.int64(3))) is int
    with pytest.raises(ValueError, match=r"op: n must be an int >= 2, got 1"):
        integer("op", "n", 1, minimum=2)
    assert number("op", "beta", 0.5, 0.0, 1.0) == 0.5
    with pytest.raises(ValueError, match=r"op: beta must be in \[0.0, 1.0\), got 1.0"):
        number("op", "beta", 1.0, 0.0, 1.0)
