"""`Module`, the base class of every layer, and `Parameter`, a tensor a module learns.

A module keeps three ordered registries, filled automatically by attribute assignment:

    self.weight = Parameter(...)      -> _parameters["weight"]   (learned, has .grad)
    self.register_buffer("running_mean", np.zeros(c))
                                      -> _buffers["running_mean"] (state, not learned)
    self.conv = Conv2d(...)           -> _modules["conv"]        (a child module)

Everything else -- recursion over children, `parameters()`, `train()`/`eval()`,
`state_dict()` with torch's dotted key names -- is a walk over those registries in
registration order, so weights move between tinygan and torch with no renaming.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module's learnable weight: requires grad, and registers itself.

    Assigning a Parameter to a module attribute adds it to the module's parameters (see
    `Module.__setattr__`).  Results of ops on a Parameter are plain Tensors.
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty(0, dtype=np.float32)
        # A Tensor's array is shared, not copied, as torch.nn.Parameter(t) shares t's storage.
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def to_numpy(value) -> np.ndarray:
    """An ndarray view of `value`: a tinygan Tensor, a torch tensor, or anything np.asarray takes."""
    if isinstance(value, Tensor):
        return value.data
    if not isinstance(value, np.ndarray) and hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()  # a torch tensor, without importing torch
    return np.asarray(value)


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What `load_state_dict` returns: the keys it expected but did not get, and the extras."""

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


class RemovableHandle:
    """Returned by `register_forward_hook`; `handle.remove()` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


_REGISTRIES = ("_parameters", "_buffers", "_modules")


class Module:
    """Base class for layers and models (torch.nn.Module).

    Subclasses call `super().__init__()` first, create their parameters, buffers and
    children as attributes, and implement `forward`.  Calling the module runs `forward`
    and then any forward hooks.
    """

    # Buffers whose absence from a loaded state dict is not an error (torch's BatchNorm
    # fills num_batches_tracked in for checkpoints written before it existed).
    _optional_state_keys: frozenset = frozenset()

    def __init__(self):
        # object.__setattr__: our own __setattr__ needs these registries to exist.
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__}: a Module subclass must implement forward()")

    def __call__(self, *inputs, **kwargs):
        output = self.forward(*inputs, **kwargs)
        for hook in list(self._forward_hooks.values()):
            replaced = hook(self, inputs, output)
            if replaced is not None:
                output = replaced
        return output

    def register_forward_hook(self, hook) -> RemovableHandle:
        """Call `hook(module, inputs, output)` after every forward; a non-None result replaces the output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value) -> None:
        registries = self.__dict__.get("_parameters")
        if registries is None and isinstance(value, (Parameter, Module)):
            raise AttributeError(f"{type(self).__name__}: cannot assign {type(value).__name__} '{name}' "
                                 "before Module.__init__() is called (call super().__init__() first)")
        if isinstance(value, Parameter):
            self._forget(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif registries is not None and name in self._parameters:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as parameter "
                                f"'{name}' (a Parameter or None is expected)")
            self._parameters[name] = None
        elif registries is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} as child module "
                                f"'{name}' (a Module or None is expected)")
            self._modules[name] = None
        elif registries is not None and name in self._buffers:
            self._buffers[name] = _as_buffer(type(self).__name__, name, value)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails, i.e. for registered entries.
        if name not in _REGISTRIES and name != "_non_persistent_buffers":
            for registry in _REGISTRIES:
                entries = self.__dict__.get(registry)
                if entries is not None and name in entries:
                    return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for registry in _REGISTRIES:
            if name in self.__dict__.get(registry, ()):
                del self.__dict__[registry][name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def _forget(self, name: str) -> None:
        """Remove `name` from every registry and the instance dict before it is re-registered."""
        for registry in _REGISTRIES:
            self.__dict__[registry].pop(name, None)
        self._non_persistent_buffers.discard(name)
        self.__dict__.pop(name, None)

    def _check_new_name(self, kind: str, name) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot register a {kind} before Module.__init__() is called")
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"{kind} name must be a non-empty string without '.', got {name!r}")
        if name in self.__dict__ and all(name not in self.__dict__[r] for r in _REGISTRIES):
            raise KeyError(f"attribute '{name}' already exists and is not a {kind}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder, e.g. a disabled bias) under `name`."""
        self._check_new_name("parameter", name)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, got {type(param).__name__}")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, array, persistent: bool = True) -> None:
        """Add non-learned state (an ndarray, or None) under `name`.

        Persistent buffers (the default) are part of `state_dict()`, as BatchNorm's running
        statistics are.
        """
        self._check_new_name("buffer", name)
        self._forget(name)
        self._buffers[name] = _as_buffer(type(self).__name__, name, array)
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        """Add a child module under `name` (what attribute assignment does, for computed names)."""
        self._check_new_name("module", name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a Module or None, got {type(module).__name__}")
        self._forget(name)
        self._modules[name] = module

    register_module = add_module

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """(dotted name, module) for this module and every descendant, depth first, each once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        """(name, module) for each direct child, a module shared under two names only once."""
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry: str, prefix: str, recurse: bool, persistent_only: bool = False):
        seen = set()  # a tensor shared by two modules is yielded once, under its first name
        modules = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in module.__dict__[registry].items():
                if value is None or id(value) in seen:
                    continue
                if persistent_only and name in module._non_persistent_buffers:
                    continue
                seen.add(id(value))
                yield (f"{module_prefix}.{name}" if module_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, Parameter) in registration order, recursively, without duplicates."""
        yield from self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        yield from self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True):
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def apply(self, fn) -> "Module":
        """Call fn(module) on every child (recursively) and then on self, as torch; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and grads
    def train(self, mode: bool = True) -> "Module":
        """Set training mode (BatchNorm uses batch statistics, Dropout drops) on self and all children."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        """Evaluation mode: running statistics in BatchNorm, no dropout.  Same as train(False)."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for param in self.parameters():
            param.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget accumulated gradients: set each parameter's .grad to None (or to zeros)."""
        for param in self.parameters():
            param.zero_grad(set_to_none)

    # ------------------------------------------------------------------ state dict
    def _state_entries(self, prefix: str = ""):
        """(key, array) for every parameter and persistent buffer, with torch's key order.

        Torch's order: a module's own parameters, then its own buffers, then each child's
        entries.  Unlike `named_parameters`, a module shared under two names appears under
        both, as it does in torch's state_dict.
        """
        for name, param in self._parameters.items():
            if param is not None:
                yield prefix + name, param.data
        for name, buffer in self._buffers.items():
            if buffer is not None and name not in self._non_persistent_buffers:
                yield prefix + name, buffer
        for name, child in self._modules.items():
            if child is not None:
                yield from child._state_entries(f"{prefix}{name}.")

    def _optional_keys(self, prefix: str = ""):
        for name in self._optional_state_keys:
            yield prefix + name
        for name, child in self._modules.items():
            if child is not None:
                yield from child._optional_keys(f"{prefix}{name}.")

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Every parameter and persistent buffer as a copied ndarray, under torch's dotted key names."""
        return OrderedDict((key, np.array(array, copy=True)) for key, array in self._state_entries())

    def load_state_dict(self, state_dict: Mapping, strict: bool = True) -> IncompatibleKeys:
        """Copy values from `state_dict` into this module's parameters and buffers, in place.

        Values may be ndarrays, tinygan or torch tensors, or anything np.asarray accepts;
        each is cast to the destination's dtype.  Every key is checked before anything is
        copied, so a failed load leaves the module unchanged.  A shape mismatch always
        raises; with strict=True, so do missing and unexpected keys (all listed in one
        RuntimeError).  Returns (missing_keys, unexpected_keys).
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a dict-like state_dict, got {type(state_dict).__name__}")
        destinations = OrderedDict(self._state_entries())
        optional = set(self._optional_keys())
        missing = [key for key in destinations if key not in state_dict and key not in optional]
        unexpected = [key for key in state_dict if key not in destinations]
        errors, sources = [], {}
        for key, destination in destinations.items():
            if key not in state_dict:
                continue
            source = to_numpy(state_dict[key])
            if source.shape != destination.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape {source.shape} from "
                              f"checkpoint, the shape in current model is {destination.shape}.")
            sources[key] = source
        if strict:
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                errors.insert(1 if missing else 0,
                              "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        for key, source in sources.items():
            destinations[key][...] = source  # in place: the destination keeps its dtype
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The layer's settings, shown inside its repr; subclasses override it."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = []
        for name, child in self._modules.items():
            # Children's own lines are indented by two more spaces under their "(name): " line.
            child_lines.append(f"({name}): " + repr(child).replace("\n", "\n  "))
        lines = extra_lines + child_lines
        if not lines:
            return f"{type(self).__name__}()"
        if len(extra_lines) == 1 and not child_lines:
            return f"{type(self).__name__}({extra_lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _as_buffer(owner: str, name: str, value):
    """A buffer is an ndarray or None; a Tensor contributes its array (shared, not copied)."""
    if value is None or isinstance(value, np.ndarray):
        return value
    if isinstance(value, Tensor):
        return value.data
    raise TypeError(f"{owner}: buffer '{name}' must be a NumPy array or None, got {type(value).__name__}")
