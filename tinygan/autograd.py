"""The autograd machinery: `Function`, its context, and the `no_grad` switch.

Every differentiable operation in tinygan is a subclass of `Function` with two
static methods written side by side:

    forward(ctx, *arrays, **options)  -> np.ndarray
    backward(ctx, grad_output)        -> one gradient (or None) per positional input

`Function.apply` unwraps the Tensors it is given, runs `forward` on plain NumPy
arrays, and -- when gradients are wanted -- records a `Node` on the result that
remembers the function, its context and its parent tensors.  `Tensor.backward`
later walks these nodes in reverse topological order (see tensor.py).

A backward may hand back a `DeferredGradient` instead of an array for an input whose
gradient can wait until someone reads it (a weight's: see the class).
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


class DeferredGradient:
    """A gradient computed only when it is needed: when someone reads the leaf's `.grad`.

    A convolution's weight gradient, G @ cols^T, depends only on the upstream gradient G and
    the input's columns saved in the forward -- never on the weight -- so the product can
    wait, and it costs as much as the forward's.  Why wait?  The plain GAN step, written as
    in PyTorch, runs loss_G.backward() through D, which leaves a gradient in every one of
    D's weights; nobody reads them, and the next opt_D.zero_grad() throws them away.  torch
    computes them anyway; here those of D's convolutions that can wait (all but a
    whole-image one) are never computed, which saved 4-5% of the DCGAN's plain step
    (docs/performance.md).

    `compute()` must return a fresh array of `shape` that the leaf may keep, and must read
    only arrays nobody changes afterwards (the op's own saved arrays, not the caller's):
    a backward that cannot promise that returns the array instead.  Only a leaf keeps one
    waiting, and at most one: Tensor.backward computes a deferred gradient at once when it
    goes to a tensor made by an op or meets another gradient for the same tensor, and a
    leaf computes its pending one before adding the next (`Tensor._accumulate_grad`), so
    the additions into `.grad` come in the same order as if all had been computed at once.
    """

    __slots__ = ("compute", "shape")

    def __init__(self, compute, shape: tuple):
        self.compute, self.shape = compute, tuple(shape)


def computed(grad):
    """An array, whether `grad` is one already or a DeferredGradient (computed now)."""
    return grad.compute() if isinstance(grad, DeferredGradient) else grad


class Function:
    """Base class of every differentiable op.

    Subclasses implement `forward(ctx, *inputs, **options)` on NumPy arrays and
    `backward(ctx, grad_output)` returning a tuple with one entry per positional input:
    the gradient of the loss with respect to that input (an ndarray of the input's shape,
    or a DeferredGradient) or None where there is none.  Call an op through `apply`, never `forward` directly.

    A backward must not change the arrays it is given (write `grad = grad * mask`, not
    `grad[~mask] = 0`): the engine may hand one array to several ops -- Add gives its
    gradient to both inputs -- and a pending weight gradient may read it after backward()
    has returned.  tinygan's own ops keep to that (tests/test_deferred_user.py checks every
    op of the DCGAN's training step, in every model variant).
    """

    @staticmethod
    def forward(ctx, *inputs, **options):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **options):
        import numpy as np

        from .tensor import Tensor, native_byte_order

        arrays = [x.data if isinstance(x, Tensor) else native_byte_order(x) if isinstance(x, np.ndarray) else x
                  for x in inputs]
        ctx = Context()
        ctx.needs_input_grad = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
        output = cls.forward(ctx, *arrays, **options)
        requires_grad = is_grad_enabled() and any(ctx.needs_input_grad)
        result = Tensor._from_op(output, requires_grad)
        if requires_grad:
            parents = tuple(x if isinstance(x, Tensor) else None for x in inputs)
            result._node = Node(cls, ctx, parents)
        return result
