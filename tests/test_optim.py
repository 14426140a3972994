"""tinygan.optim: SGD and Adam against hand computations, torch.optim, and their own state dicts."""
import inspect
import math

import numpy as np
import pytest

import tinygan as tg
import tinygan.nn as nn
from tinygan import optim

# A small linear regression: minimise mean((X W + b - Y)^2) over W (3, 2) and b (2,).
_rng = np.random.default_rng(0)
X = _rng.normal(size=(20, 3))
Y = X @ np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]]) + 0.3 + 0.1 * _rng.normal(size=(20, 2))
W0, B0 = _rng.normal(size=(3, 2)), _rng.normal(size=2)


def make_params(dtype=np.float64):
    return [nn.Parameter(W0.astype(dtype)), nn.Parameter(B0.astype(dtype))]


def regression_step(params, optimizer):
    weight, bias = params
    optimizer.zero_grad()
    error = tg.tensor(X.astype(weight.dtype)) @ weight + bias - tg.tensor(Y.astype(weight.dtype))
    (error * error).mean().backward()
    optimizer.step()


def run(make_optimizer, steps, params=None):
    params = make_params() if params is None else params
    optimizer = make_optimizer(params)
    for _ in range(steps):
        regression_step(params, optimizer)
    return params, optimizer


CONFIGS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, weight_decay=0.1, momentum=0.5, nesterov=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.5, 0.9))),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, weight_decay=0.05, amsgrad=True, eps=1e-6)),
]


@pytest.mark.parametrize("name,options", CONFIGS, ids=[f"{n}-{o}" for n, o in CONFIGS])
def test_trajectory_matches_torch(name, options):
    torch = pytest.importorskip("torch")
    ours = make_params()
    theirs = [torch.tensor(W0, requires_grad=True), torch.tensor(B0, requires_grad=True)]
    our_optimizer = getattr(optim, name)(ours, **options)
    their_optimizer = getattr(torch.optim, name)(theirs, **options)
    x, y = torch.tensor(X), torch.tensor(Y)
    for step in range(100):
        regression_step(ours, our_optimizer)
        their_optimizer.zero_grad()
        ((x @ theirs[0] + theirs[1] - y) ** 2).mean().backward()
        their_optimizer.step()
        for mine, reference in zip(ours, theirs):
            np.testing.assert_allclose(mine.data, reference.detach().numpy(), rtol=1e-6, atol=1e-6,
                                       err_msg=f"step {step + 1}")


def test_sgd_steps_by_hand():
    p = nn.Parameter(np.array([1.0, 2.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.5)
    p.grad = np.array([0.5, -1.0])
    opt.step()
    # g1 = grad + 0.5 p = [1.0, 0.0]; b1 = g1; p1 = p - 0.1 b1
    np.testing.assert_allclose(p.data, [0.9, 2.0])
    p.grad = np.array([0.5, -1.0])
    opt.step()
    # g2 = grad + 0.5 p1 = [0.95, 0.0]; b2 = 0.9 b1 + g2 = [1.85, 0.0]; p2 = p1 - 0.1 b2
    np.testing.assert_allclose(p.data, [0.9 - 0.185, 2.0])
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [1.85, 0.0])


def test_sgd_nesterov_by_hand():
    p = nn.Parameter(np.array([1.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.5, nesterov=True)
    p.grad = np.array([2.0])
    opt.step()  # b = 2, step direction g + mu b = 3
    np.testing.assert_allclose(p.data, [0.7])
    opt.step()  # b = 0.5 * 2 + 2 = 3, direction 2 + 1.5 = 3.5
    np.testing.assert_allclose(p.data, [0.35])


def test_sgd_dampening_spares_the_first_step():
    # torch: the first momentum buffer is the gradient itself; dampening applies from step 2 on.
    p = nn.Parameter(np.array([1.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    p.grad = np.array([2.0])
    opt.step()  # b1 = g = 2 (not (1 - 0.5) * 2 = 1), p = 1 - 0.1 * 2
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [2.0])
    np.testing.assert_allclose(p.data, [0.8])
    opt.step()  # b2 = 0.9 * 2 + (1 - 0.5) * 2 = 2.8, p = 0.8 - 0.28
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [2.8])
    np.testing.assert_allclose(p.data, [0.52])


def test_sgd_nesterov_with_weight_decay_by_hand():
    p = nn.Parameter(np.array([1.0]))
    opt = optim.SGD([p], lr=0.1, momentum=0.5, weight_decay=0.1, nesterov=True)
    p.grad = np.array([2.0])
    opt.step()  # g = 2 + 0.1 * 1 = 2.1, b = 2.1, direction g + 0.5 b = 3.15
    np.testing.assert_allclose(p.data, [1 - 0.315])
    opt.step()  # g = 2 + 0.1 * 0.685 = 2.0685, b = 0.5 * 2.1 + 2.0685 = 3.1185, direction 2.0685 + 1.55925
    np.testing.assert_allclose(p.data, [0.685 - 0.362775])


def test_adam_steps_by_hand():
    p = nn.Parameter(np.array([1.0, -1.0]))
    opt = optim.Adam([p], lr=0.1, betas=(0.9, 0.99), eps=1e-8)
    g1, g2 = np.array([0.5, -2.0]), np.array([1.0, 1.0])
    p.grad = g1
    opt.step()
    # Step 1: m = 0.1 g, v = 0.01 g^2; corrected they are g and g^2, so the step is lr * g / (|g| + eps).
    np.testing.assert_allclose(p.data, [1.0 - 0.1 * 0.5 / (0.5 + 1e-8), -1.0 + 0.1 * 2.0 / (2.0 + 1e-8)])
    after_first = p.data.copy()
    p.grad = g2
    opt.step()
    m = 0.9 * 0.1 * g1 + 0.1 * g2
    v = 0.99 * 0.01 * g1 ** 2 + 0.01 * g2 ** 2
    denom = np.sqrt(v) / math.sqrt(1 - 0.99 ** 2) + 1e-8
    expected = after_first - 0.1 / (1 - 0.9 ** 2) * m / denom
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)
    assert opt.state[p]["step"] == 2


def test_adam_weight_decay_is_l2_added_to_the_gradient_and_eps_is_outside_the_root():
    # eps = 0.1 is large on purpose: it shows where eps is added.
    p = nn.Parameter(np.array([1.0]))
    opt = optim.Adam([p], lr=0.1, betas=(0.9, 0.99), eps=0.1, weight_decay=0.1)
    p.grad = np.array([0.5])
    opt.step()
    # g = 0.5 + 0.1 * 1 = 0.6 (L2, as torch.optim.Adam; AdamW would decay p separately);
    # m = 0.06, v = 0.0036; corrected 0.6 and 0.36; denom = sqrt(0.36) + eps = 0.7.
    np.testing.assert_allclose(p.data, [1 - 0.1 * 0.6 / 0.7], rtol=1e-12)


def test_amsgrad_steps_with_the_largest_second_moment():
    p = nn.Parameter(np.array([0.0]))
    opt = optim.Adam([p], lr=0.1, betas=(0.5, 0.5), eps=0.0, amsgrad=True)
    p.grad = np.array([4.0])
    opt.step()  # m = 2, v = vmax = 8; corrected 4 and 16: step lr * 4 / 4
    np.testing.assert_allclose(p.data, [-0.1])
    p.grad = np.array([0.0])
    opt.step()  # m = 1, v = 4 but vmax stays 8; both corrections are 1 - 0.5^2 = 0.75
    np.testing.assert_allclose(p.data, [-0.1 - 0.1 * (1 / 0.75) / math.sqrt(8 / 0.75)], rtol=1e-12)


def test_amsgrad_keeps_the_largest_second_moment():
    p = nn.Parameter(np.array([0.0]))
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    p.grad = np.array([10.0])
    opt.step()
    p.grad = np.array([0.0])
    opt.step()
    state = opt.state[p]
    assert state["max_exp_avg_sq"][0] == pytest.approx(0.001 * 100)
    assert state["exp_avg_sq"][0] < state["max_exp_avg_sq"][0]


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9, weight_decay=0.1),
                                  lambda ps: optim.Adam(ps, lr=0.01, weight_decay=0.1, amsgrad=True)])
def test_float32_stays_float32(make):
    params = make_params(np.float32)
    params, optimizer = run(make, 3, params)
    for p in params:
        assert p.dtype == np.float32
        for value in optimizer.state[p].values():
            assert not isinstance(value, np.ndarray) or value.dtype == np.float32


def test_parameter_without_grad_is_skipped():
    used, unused = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    for optimizer in (optim.SGD([used, unused], lr=0.1, momentum=0.9), optim.Adam([used, unused])):
        used.grad, unused.grad = np.ones(2), None
        optimizer.step()
        np.testing.assert_array_equal(unused.data, [1.0, 1.0])
        assert unused not in optimizer.state or not optimizer.state[unused]
    assert not np.array_equal(used.data, [1.0, 1.0])


def test_step_leaves_grad_untouched_and_zero_grad_clears():
    p = nn.Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.2)
    p.grad = np.full(3, 2.0)
    opt.step()
    np.testing.assert_array_equal(p.grad, [2.0, 2.0, 2.0])
    opt.zero_grad()
    assert p.grad is None


def test_param_groups_with_their_own_lr():
    a, b = nn.Parameter(np.zeros(1)), nn.Parameter(np.zeros(1))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = b.grad = np.ones(1)
    opt.step()
    assert a.data[0] == pytest.approx(-0.1) and b.data[0] == pytest.approx(-1.0)
    assert opt.state_dict()["param_groups"][1]["params"] == [1]


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.02, momentum=0.9, nesterov=True),
                                  lambda ps: optim.Adam(ps, lr=0.02, amsgrad=True, weight_decay=0.01)],
                         ids=["sgd", "adam"])
def test_state_dict_round_trip_resumes_exactly(make, tmp_path):
    straight, _ = run(make, 100)
    halfway, optimizer = run(make, 50)
    tg.save({"params": [p.data for p in halfway], "optimizer": optimizer.state_dict()}, tmp_path / "ckpt")
    checkpoint = tg.load(tmp_path / "ckpt")
    resumed = [nn.Parameter(array) for array in checkpoint["params"]]
    new_optimizer = make(resumed)
    new_optimizer.load_state_dict(checkpoint["optimizer"])
    for _ in range(50):
        regression_step(resumed, new_optimizer)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a.data, b.data)


def test_state_dict_structure_is_torch_like_and_copied():
    params, optimizer = run(lambda ps: optim.Adam(ps, lr=0.01), 2)
    state = optimizer.state_dict()
    assert set(state) == {"state", "param_groups"}
    assert list(state["state"]) == [0, 1]
    assert set(state["state"][0]) == {"step", "exp_avg", "exp_avg_sq"} and state["state"][0]["step"] == 2
    group = state["param_groups"][0]
    assert group["params"] == [0, 1] and group["betas"] == (0.9, 0.999) and group["lr"] == 0.01
    state["state"][0]["exp_avg"][...] = 99
    assert not np.any(optimizer.state[params[0]]["exp_avg"] == 99)


def test_load_state_dict_checks_and_restores_hyperparameters():
    params, optimizer = run(lambda ps: optim.SGD(ps, lr=0.01, momentum=0.9), 2)
    saved = optimizer.state_dict()
    fresh = optim.SGD(make_params(), lr=0.5, momentum=0.1)
    fresh.load_state_dict(saved)
    assert fresh.param_groups[0]["lr"] == 0.01 and fresh.param_groups[0]["momentum"] == 0.9
    with pytest.raises(ValueError, match="parameter groups"):
        optim.SGD([{"params": [params[0]]}, {"params": [params[1]]}], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="parameters in the saved state"):
        optim.SGD([params[0]], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="shape"):
        optim.SGD([nn.Parameter(np.zeros(4)), nn.Parameter(np.zeros(2))], lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        fresh.load_state_dict({"state": {}})


def test_bad_arguments():
    p = nn.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="Tensors"):
        optim.SGD([p, np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="single"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        optim.SGD([p], lr=-0.1)
    with pytest.raises(ValueError, match="lr"):
        optim.Adam([p], lr=-1e-3)
    with pytest.raises(ValueError, match=r"betas\[0\]"):
        optim.Adam([p], betas=(1.0, 0.999))
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        optim.Adam([p], betas=(0.9, -0.1))
    with pytest.raises(TypeError, match="betas"):
        optim.Adam([p], betas=0.9)
    with pytest.raises(ValueError, match="eps"):
        optim.Adam([p], eps=-1e-8)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.Adam([p], weight_decay=-0.1)
    with pytest.raises(ValueError, match="weight_decay"):
        optim.SGD([p], lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(TypeError, match="number"):
        optim.SGD([p], lr="fast")
    with pytest.raises(ValueError, match="twice"):
        optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)


def test_torch_optimizer_state_resumes_in_tinygan():
    torch = pytest.importorskip("torch")
    theirs = [torch.tensor(W0, requires_grad=True), torch.tensor(B0, requires_grad=True)]
    their_optimizer = torch.optim.Adam(theirs, lr=0.05, amsgrad=True)
    x, y = torch.tensor(X), torch.tensor(Y)

    def torch_step():
        their_optimizer.zero_grad()
        ((x @ theirs[0] + theirs[1] - y) ** 2).mean().backward()
        their_optimizer.step()

    for _ in range(10):
        torch_step()
    ours = [nn.Parameter(p.detach().numpy().copy()) for p in theirs]
    our_optimizer = optim.Adam(ours, lr=0.5)
    our_optimizer.load_state_dict(their_optimizer.state_dict())  # tensors, float steps, extra falsy options
    assert our_optimizer.param_groups[0]["lr"] == 0.05 and our_optimizer.state[ours[0]]["step"] == 10
    for _ in range(10):
        torch_step()
        regression_step(ours, our_optimizer)
    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine.data, reference.detach().numpy(), rtol=1e-6, atol=1e-9)


# torch.optim's positional order (torch 2.x): a call such as SGD(params, 0.1, 0.9, 0, 1e-4)
# must mean the same in both.  Written out, so that it is checked without torch too.
TORCH_POSITIONAL = {"SGD": ["params", "lr", "momentum", "dampening", "weight_decay", "nesterov"],
                    "Adam": ["params", "lr", "betas", "eps", "weight_decay", "amsgrad"]}


@pytest.mark.parametrize("name", TORCH_POSITIONAL)
def test_positional_arguments_are_in_torchs_order(name):
    ours = [p.name for p in inspect.signature(getattr(optim, name)).parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert ours == TORCH_POSITIONAL[name]
    torch = pytest.importorskip("torch")
    theirs = [p.name for p in inspect.signature(getattr(torch.optim, name)).parameters.values()
              if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert theirs == TORCH_POSITIONAL[name]  # torch's own order, as written above


def test_sgd_positional_call_means_what_it_means_in_torch():
    group = optim.SGD([tg.zeros(1, requires_grad=True)], 0.1, 0.9, 0, 1e-4).param_groups[0]
    assert (group["lr"], group["momentum"], group["dampening"], group["weight_decay"], group["nesterov"]) == \
        (0.1, 0.9, 0.0, 1e-4, False)
