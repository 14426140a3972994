"""`Sequential`: a chain of modules, each fed the previous one's output.

Children are named "0", "1", ... (or by the keys of an OrderedDict), which is where
state_dict keys such as "0.weight" and "1.running_mean" come from.

One thing torch's Sequential does not do: a BatchNorm directly followed by a ReLU or
LeakyReLU runs as one op (`_BatchNorm.forward_with_activation`).  The numbers are the
same as the two modules', but the normalised values are never written out and read back
in between, in the forward or in the backward: in a DCGAN training step that is 1-2% of
the time (docs/performance.md).  Only a BatchNorm whose forward is the library's, followed
by the library's own ReLU or LeakyReLU, with no forward hooks, no forward set on either
instance and a slope leaky_relu accepts, is fused; anything else runs one module at a
time, as written.
"""
from __future__ import annotations

import numbers
from collections import OrderedDict

from ..checks import number
from .activation import LeakyReLU, ReLU
from .module import Module
from .norm import _BatchNorm


class Sequential(Module):
    """Sequential(m0, m1, ...) or Sequential(OrderedDict(name=module, ...));  forward: x -> m0 -> m1 -> ...

    Supports len(), iteration, indexing (negative indices too) and slicing (a slice is a
    new Sequential sharing the same modules under their original names), and `append`.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, _check_module(module, name))
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), _check_module(module, index))

    def forward(self, input):
        modules = list(self._modules.values())
        index = 0
        while index < len(modules):
            module = modules[index]
            slope = _fused_activation_slope(module, modules[index + 1]) if index + 1 < len(modules) else None
            if slope is None:
                input = module(input)
                index += 1
            else:
                input = module.forward_with_activation(input, slope)
                index += 2
        return input

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def _key(self, index) -> str:
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"Sequential indices must be ints or slices, got {type(index).__name__}")
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"Sequential index {index} is out of range for {size} modules")
        return list(self._modules)[index % size]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return self._modules[self._key(index)]

    def __setitem__(self, index, module) -> None:
        self._modules[self._key(index)] = _check_module(module, index)

    def __delitem__(self, index) -> None:
        keys = list(self._modules)[index] if isinstance(index, slice) else [self._key(index)]
        for key in keys:
            del self._modules[key]
        # Renumber so the names stay "0", "1", ... as in torch (only if they were numbers).
        if all(key.isdigit() for key in self._modules):
            renumbered = OrderedDict((str(i), module) for i, module in enumerate(self._modules.values()))
            self._modules.clear()
            self._modules.update(renumbered)

    def append(self, module: Module) -> "Sequential":
        """Add `module` at the end (named by the current length); returns self."""
        self.add_module(str(len(self)), _check_module(module, len(self)))
        return self

    def extend(self, modules) -> "Sequential":
        for module in modules:
            self.append(module)
        return self


def _fused_activation_slope(module, following) -> float | None:
    """The slope to fuse into `module` when it is a plain BatchNorm followed by a plain ReLU or
    LeakyReLU (0.0 for ReLU), else None.  Anything that could look at the BatchNorm's output or
    change what either module does keeps the two apart: a subclass with its own forward, a
    forward assigned on the instance, a forward hook, a slope the activation would refuse."""
    plain_batch_norm = isinstance(module, _BatchNorm) and type(module).forward is _BatchNorm.forward
    if not plain_batch_norm or type(following) not in (ReLU, LeakyReLU):
        return None
    if module._forward_hooks or following._forward_hooks or "forward" in vars(module) or "forward" in vars(following):
        return None
    if type(following) is ReLU:
        return 0.0
    try:  # the check leaky_relu makes; a refused slope is left for the LeakyReLU itself to report
        return number("leaky_relu", "negative_slope", following.negative_slope, low=-float("inf"))
    except (TypeError, ValueError):
        return None


def _check_module(module, where):
    if not isinstance(module, Module):
        raise TypeError(f"Sequential: entry {where!r} must be a Module, got {type(module).__name__}")
    return module
