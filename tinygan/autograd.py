"""The autograd machinery: `Function`, its context, and the `no_grad` switch.

Every differentiable operation in tinygan is a subclass of `Function` with two
static methods written side by side:

    forward(ctx, *arrays, **options)  -> np.ndarray
    backward(ctx, grad_output)        -> one gradient (or None) per positional input

`Function.apply` unwraps the Tensors it is given, runs `forward` on plain NumPy
arrays, and -- when gradients are wanted -- records a `Node` on the result that
remembers the function, its context and its parent tensors.  `Tensor.backward`
later walks these nodes in reverse topological order (see tensor.py).
"""
from __future__ import annotations

import contextlib
import threading

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless we are inside a `no_grad()` block."""
    return getattr(_state, "grad_enabled", True)


class no_grad(contextlib.ContextDecorator):
    """Disable graph recording, as a context manager or a decorator (like torch.no_grad).

    Inside the block results never require grad, so no memory is spent on the graph:
    this is what evaluation and sampling use.  (Optimizers need none: they update each
    parameter's `.data` array in place, which no graph ever sees.)
    """

    def __enter__(self):
        self._previous = is_grad_enabled()
        _state.grad_enabled = False
        return self

    def __exit__(self, *exc_info):
        _state.grad_enabled = self._previous
        return False

    def _recreate_cm(self):
        # ContextDecorator's hook, called for every call of a decorated function: a fresh
        # context each time, so a decorated function that calls itself (or runs in two
        # threads at once) gives back the state it found, not another call's.
        return type(self)()


class Context:
    """Scratch space shared by one call's forward and backward.

    `save_for_backward` keeps arrays the backward needs; anything else small (shapes,
    strides, flags) can simply be set as an attribute.  `needs_input_grad[i]` tells the
    backward whether input i wants a gradient, so it can skip work.
    """

    def __init__(self):
        self.saved_tensors: tuple = ()
        self.needs_input_grad: tuple = ()

    def save_for_backward(self, *arrays) -> None:
        self.saved_tensors = arrays


class Node:
    """One recorded call: which Function, its context, and the tensors it consumed.

    `parents[i]` is the Tensor given as positional input i, or None for a non-tensor
    argument.  `freed` becomes True once a backward pass has released the saved arrays.
    """

    __slots__ = ("function", "ctx", "parents", "freed")

    def __init__(self, function, ctx, parents):
        self.function = function
        self.ctx = ctx
        self.parents = parents
        self.freed = False

    def release(self) -> None:
        """Drop the arrays saved for backward so their memory can be reclaimed."""
        self.ctx.saved_tensors = ()
        self.freed = True


class Function:
    """Base class of every differentiable op.

    Subclasses implement `forward(ctx, *inputs, **options)` on NumPy arrays and
    `backward(ctx, grad_output)` returning a tuple with one entry per positional input:
    the gradient of the loss with respect to that input (an ndarray of the input's shape)
    or None where there is none.  Call an op through `apply`, never `forward` directly.
    """

    @staticmethod
    def forward(ctx, *inputs, **options):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        from .tensor import Tensor

        arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        ctx = Context()
        ctx.needs_input_grad = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
        output = cls.forward(ctx, *arrays, **options)
        requires_grad = is_grad_enabled() and any(ctx.needs_input_grad)
        result = Tensor._from_op(output, requires_grad)
        if requires_grad:
            parents = tuple(x if isinstance(x, Tensor) else None for x in inputs)
            result._node = Node(cls, ctx, parents)
        return result
