"""Optimizers (torch.optim): `SGD` and `Adam`, with torch's exact update rules and state dicts.

An optimizer holds `param_groups` -- a list of dicts, each with its "params" and its
hyperparameters -- and `state`, per-parameter arrays such as momentum buffers.
`step()` reads each parameter's `.grad` and updates `.data` in place; a parameter
whose grad is None (it took no part in the loss) is skipped.

Speed and dtype: updates run as in-place NumPy operations into per-parameter scratch
arrays, and every scalar is a Python float, so a float32 parameter is updated entirely
in float32 (no float64 temporaries, no fresh arrays per step).  Adam's common case
(no amsgrad) runs the same arithmetic fused into one Numba pass (kernels/optim.py).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .checks import number
from .kernels.optim import adam_update
from .nn.module import to_numpy
from .tensor import Tensor


class Optimizer:
    """Base class: parameter groups, state, zero_grad, state_dict/load_state_dict.

    Subclasses define `_check_group(group)` (validate hyperparameters) and `_update(param,
    grad, state, group)` (one parameter's step).
    """

    def __init__(self, params, defaults: dict):
        name = type(self).__name__
        if isinstance(params, (Tensor, np.ndarray)):
            raise TypeError(f"{name}: params must be an iterable of Parameters (e.g. model.parameters()) "
                            f"or of dicts, got a single {type(params).__name__}")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: params must be an ordered iterable, not a set (its order is arbitrary, "
                            "which would scramble state_dict indices)")
        params = list(params)
        if not params:
            raise ValueError(f"{name}: got an empty parameter list (did the model register its Parameters?)")
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list[dict] = []
        self._scratch: dict = {}
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a dict {"params": [...], optional hyperparameters}; missing ones come from the defaults."""
        name = type(self).__name__
        if not isinstance(group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got {type(group).__name__}")
        params = group.get("params")
        params = [params] if isinstance(params, Tensor) else list(params) if params is not None else []
        if not params:
            raise ValueError(f"{name}: a parameter group needs a non-empty 'params' list")
        for i, param in enumerate(params):
            if not isinstance(param, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors/Parameters, but params[{i}] is "
                                f"{type(param).__name__}")
            if not param.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor (params[{i}] was computed by an op)")
            if not np.issubdtype(param.dtype, np.floating):
                raise TypeError(f"{name}: params[{i}] has dtype {param.dtype}; only floating-point tensors "
                                "can be optimized")
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{name}: a parameter group contains the same parameter twice")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if existing.intersection(ids):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        group = dict(group, params=params)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:  # pragma: no cover
        raise NotImplementedError

    def _buffers(self, param: Tensor, count: int) -> list:
        """`count` scratch arrays shaped and typed like `param`, reused across steps (never saved)."""
        buffers = self._scratch.setdefault(param, [])
        while len(buffers) < count:
            buffers.append(np.empty_like(param.data))
        return buffers

    def step(self, closure=None):
        """Update every parameter that has a gradient.  `closure` (re-computes the loss) is optional."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.shape != param.shape:
                    raise ValueError(f"{type(self).__name__}: a parameter of shape {param.shape} has a grad of "
                                     f"shape {param.grad.shape}")
                self._update(param, param.grad, self.state.setdefault(param, {}), group)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of every parameter (set .grad to None, or to zeros)."""
        for group in self.param_groups:
            for param in group["params"]:
                param.zero_grad(set_to_none)

    # ------------------------------------------------------------------ state dict
    def state_dict(self) -> dict:
        """{"state": {index: {name: array or number}}, "param_groups": [{hyperparameters, "params": [indices]}]}.

        Parameters are numbered 0, 1, ... across groups in order, as torch does; arrays are copies.
        """
        index_of, groups, next_index = {}, [], 0
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = list(range(next_index, next_index + len(group["params"])))
            for param in group["params"]:
                index_of[id(param)] = next_index
                next_index += 1
            groups.append(packed)
        state = {}
        for param, param_state in self.state.items():
            if id(param) in index_of and param_state:
                state[index_of[id(param)]] = {key: np.array(value, copy=True) if isinstance(value, np.ndarray) else value
                                              for key, value in param_state.items()}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore hyperparameters and per-parameter state saved by `state_dict` (arrays are copied).

        The optimizer must have been built over parameters of the same shapes, grouped the
        same way.  Array state is cast to each parameter's dtype.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict or "param_groups" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        param_at = {}
        for group_index, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {group_index} has "
                                 f"{len(saved['params'])} parameters in the saved state but {len(group['params'])} here")
            param_at.update(zip((int(i) for i in saved["params"]), group["params"]))

        new_state = {}
        for index, saved_state in state_dict["state"].items():
            index = int(index)
            if index not in param_at:
                raise ValueError(f"{name}.load_state_dict: state for parameter {index}, which no group lists")
            param = param_at[index]
            new_state[param] = {key: self._restore_state_value(param, index, key, value)
                                for key, value in saved_state.items()}

        new_groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            group = dict(group)
            for key, value in saved.items():
                if key == "params":
                    continue
                if key in self.defaults:
                    group[key] = tuple(value) if isinstance(value, list) else value
                elif value:  # e.g. torch's maximize=True: a behaviour we do not have
                    raise ValueError(f"{name}.load_state_dict: unsupported option {key}={value!r}")
            self._check_group(group)
            new_groups.append(group)
        # Only now, with everything checked, replace the current state.
        self.param_groups[:] = new_groups
        self.state = new_state

    def _restore_state_value(self, param: Tensor, index: int, key: str, value):
        if isinstance(value, np.generic):
            value = value.item()  # a NumPy scalar (e.g. from tinygan.load) becomes a Python number
        if value is None or isinstance(value, (bool, numbers.Number)):
            return value
        array = to_numpy(value)
        if key == "step":  # a count (torch keeps it as a float tensor)
            return int(array)
        if array.shape != param.shape:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state '{key}' of parameter {index} has shape "
                             f"{array.shape}, the parameter has shape {param.shape}")
        return np.array(array, dtype=param.dtype, copy=True)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines + [")"])


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay.

    With learning rate lr (gamma), momentum mu, dampening tau and weight decay lambda,
    each step t = 1, 2, ... does (torch's algorithm):

        g_t = grad + lambda * theta_{t-1}                       (if lambda != 0)
        b_t = g_t                                               (t = 1)
        b_t = mu * b_{t-1} + (1 - tau) * g_t                    (t > 1)      } if mu != 0
        g_t = g_t + mu * b_t  (nesterov)   or   g_t = b_t       (otherwise)  }
        theta_t = theta_{t-1} - lr * g_t

    state per parameter: "momentum_buffer" (b_t), when momentum != 0.
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False):  # torch's order, positional too
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        group["lr"] = number("SGD", "lr", group["lr"])
        group["momentum"] = number("SGD", "momentum", group["momentum"])
        group["dampening"] = number("SGD", "dampening", group["dampening"])
        group["weight_decay"] = number("SGD", "weight_decay", group["weight_decay"])
        group["nesterov"] = bool(group["nesterov"])
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov=True requires momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, param, grad, state, group):
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        g, temp = self._buffers(param, 2)
        np.copyto(g, grad)  # g is ours to change; param.grad stays as the user left it
        if weight_decay != 0:
            np.multiply(param.data, weight_decay, out=temp)
            g += temp
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = g.copy()
            else:
                buffer *= momentum
                np.multiply(g, 1 - group["dampening"], out=temp)
                buffer += temp
            if group["nesterov"]:
                np.multiply(buffer, momentum, out=temp)
                g += temp
            else:
                np.copyto(g, buffer)
        np.multiply(g, lr, out=temp)
        param.data -= temp


class Adam(Optimizer):
    """Adam: steps scaled by running estimates of the gradient's first and second moments.

    With lr (gamma), betas (beta1, beta2), eps and weight decay lambda, each step t = 1, 2, ...:

        g_t = grad + lambda * theta_{t-1}                  (if lambda != 0; L2, not decoupled)
        m_t = beta1 * m_{t-1} + (1 - beta1) * g_t          first moment
        v_t = beta2 * v_{t-1} + (1 - beta2) * g_t^2        second moment
        vmax_t = max(vmax_{t-1}, v_t)                      (amsgrad only; used instead of v_t)
        denom  = sqrt(v_t) / sqrt(1 - beta2^t) + eps
        theta_t = theta_{t-1} - lr / (1 - beta1^t) * m_t / denom

    The divisions by (1 - beta^t) undo the bias of m and v towards their zero start.
    As in torch's implementation, amsgrad keeps the maximum of the *uncorrected* v_t and
    bias-corrects that maximum at step t.
    state per parameter: "step" (t), "exp_avg" (m), "exp_avg_sq" (v), "max_exp_avg_sq" (vmax, amsgrad).
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        group["lr"] = number("Adam", "lr", group["lr"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = (number("Adam", "betas[0]", betas[0], 0.0, 1.0),
                          number("Adam", "betas[1]", betas[1], 0.0, 1.0))
        group["eps"] = number("Adam", "eps", group["eps"])
        group["weight_decay"] = number("Adam", "weight_decay", group["weight_decay"])
        group["amsgrad"] = bool(group["amsgrad"])

    def _update(self, param, grad, state, group):
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = np.zeros_like(param.data)
        if weight_decay != 0:
            decayed = self._buffers(param, 1)[0]
            np.multiply(param.data, weight_decay, out=decayed)
            decayed += grad
            grad = decayed
        state["step"] += 1
        step = state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        if not group["amsgrad"] and all(a.flags.c_contiguous for a in (param.data, exp_avg, exp_avg_sq)):
            # The same update as below, fused into one pass (kernels/optim.py).
            adam_update(param.data, grad, exp_avg, exp_avg_sq, beta1, beta2, group["lr"] / bias_correction1,
                        math.sqrt(bias_correction2), group["eps"])
            return

        temp = self._buffers(param, 2)[1]
        exp_avg *= beta1                       # m = beta1 m + (1 - beta1) g
        np.multiply(grad, 1 - beta1, out=temp)
        exp_avg += temp
        exp_avg_sq *= beta2                    # v = beta2 v + (1 - beta2) g^2
        np.multiply(grad, grad, out=temp)
        temp *= 1 - beta2
        exp_avg_sq += temp
        second_moment = exp_avg_sq
        if group["amsgrad"]:
            second_moment = np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])

        denom = np.sqrt(second_moment, out=temp)  # denom = sqrt(v) / sqrt(1 - beta2^t) + eps
        denom /= math.sqrt(bias_correction2)
        denom += group["eps"]
        update = np.divide(exp_avg, denom, out=temp)
        update *= group["lr"] / bias_correction1
        param.data -= update


__all__ = ["Optimizer", "SGD", "Adam"]
