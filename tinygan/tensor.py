"""`Tensor`: an `np.ndarray` that remembers how it was computed, and `backward()`.

A Tensor holds its numbers in `.data` (a NumPy array).  When it is the result of an
op on tensors that require grad, it also holds a `Node` (see autograd.py) naming the
op and its inputs.  `backward()` walks those nodes from the output back to the
leaves -- iteratively, so a graph 20,000 ops deep is no problem -- and leaves
`dLoss/dLeaf` in each leaf's `.grad`, an ndarray of the leaf's shape and dtype.
"""
from __future__ import annotations

import collections
import numbers
import threading

import numpy as np

from .autograd import DeferredGradient, Function, computed, is_grad_enabled
from .checks import dim as checked_dim
from .ops import elementwise, linalg, reduce
from .ops import shape as shape_ops
from .random import default_generator

# Held while a pending gradient is computed or .grad is set, so that a thread reading .grad
# while another computes it gets the gradient, and a zero_grad() then is not undone.
_GRAD_LOCK = threading.RLock()

# What max(dim) returns, with torch.return_types.max's fields: `_, predicted = logits.max(1)`.
MaxResult = collections.namedtuple("MaxResult", ["values", "indices"])


class Tensor:
    __array_priority__ = 100  # so `ndarray + Tensor` defers to Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        data = _as_array(data, dtype)
        self.data: np.ndarray = data
        self._grad, self._deferred_grad = None, None  # see the `grad` property
        self._node = None
        self.requires_grad = requires_grad  # validated by the property setter

    @classmethod
    def _from_op(cls, data: np.ndarray, requires_grad: bool) -> "Tensor":
        """Wrap an op's result without re-validating it (the hot path of every op)."""
        t = cls.__new__(cls)
        t.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        t._grad, t._deferred_grad, t._node, t._requires_grad = None, None, None, requires_grad
        return t

    @property
    def grad(self) -> np.ndarray | None:
        """dLoss/dself accumulated by backward(), an ndarray of self's shape, or None.

        A weight's gradient may still be pending (autograd.DeferredGradient): it is
        computed here, on the first read, and added in the place it would have had.
        Setting `.grad` (to None, as zero_grad does) drops a pending one unread.
        """
        if self._deferred_grad is not None:
            self._compute_pending_grad()
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        with _GRAD_LOCK:
            self._grad, self._deferred_grad = value, None

    def _compute_pending_grad(self) -> None:
        """Compute the pending gradient, if there is one, and add it into `.grad`."""
        with _GRAD_LOCK:  # another thread may be computing it: wait for it, not compute it twice
            if self._deferred_grad is not None:
                pending, dtype = self._deferred_grad
                self._add_to_grad(pending.compute(), dtype)
                self._deferred_grad = None  # only now: a failed computation leaves it pending

    def _add_to_grad(self, grad: np.ndarray, dtype) -> None:
        grad = grad.astype(dtype, copy=False)
        # Never in place (torch adds into the existing array): an array once read from .grad
        # keeps its numbers, whether the next gradient arrives now or waits to be read.
        # The first is copied: it may be an array the graph still uses elsewhere.
        self._grad = grad.copy() if self._grad is None else self._grad + grad

    def _accumulate_grad(self, grad) -> None:
        """Add a gradient that backward() brought to this leaf: an array, or one to compute later.

        At most one gradient waits: a second one makes the first be computed, so the
        additions happen in the order the gradients arrived.  The dtype is the one this
        tensor has now, as if the gradient had been added now."""
        with _GRAD_LOCK:
            self._compute_pending_grad()  # it arrived first: it is added first
            if isinstance(grad, DeferredGradient):
                self._deferred_grad = (grad, self.dtype)
            else:
                self._add_to_grad(grad, self.dtype)

    def __getstate__(self) -> dict:
        """Pickling and copying see `.grad` computed: a pending gradient is a closure over the graph's arrays."""
        state = self.__dict__.copy()
        state["_grad"], state["_deferred_grad"] = self.grad, None
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        if "grad" in state:  # pickled before gradients could wait, when .grad was a plain attribute
            state["_grad"] = state.pop("grad")
        state.setdefault("_grad", None)
        state["_deferred_grad"] = None
        self.__dict__.update(state)

    # ------------------------------------------------------------------ properties
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if flag and not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(f"requires_grad: only floating-point tensors can require gradients, "
                            f"got dtype {self.data.dtype} (convert with .float() first)")
        self._requires_grad = bool(flag)

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def grad_fn(self):
        """The Function that produced this tensor, or None for a leaf."""
        return None if self._node is None else self._node.function

    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    T = property(lambda self: self.permute(*reversed(range(self.ndim))))

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[checked_dim("size", "dim", dim, self.ndim)]

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted to a Python number, got shape {self.shape}")
        return self.data.item()

    # Python's own conversions, as in torch: `if loss < 1:`, float(t), f"{t:.3f}".  Without
    # __bool__, Python would fall back on __len__ and call any non-empty tensor true.
    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor of shape {self.shape} ({self.data.size} values) is "
                               f"ambiguous: only a one-element tensor is true or false")
        return bool(self.data.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __format__(self, spec: str) -> str:
        return format(self.data.item(), spec) if self.data.ndim == 0 else super().__format__(spec)

    def detach(self) -> "Tensor":
        """The same numbers, cut off from the graph (shares memory, as in torch)."""
        return Tensor._from_op(self.data, False)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extras = ""
        if self.data.dtype != np.float32:
            extras += f", dtype={self.data.dtype}"
        if self._node is not None:
            extras += f", grad_fn=<{self._node.function.__name__}>"
        elif self.requires_grad:
            extras += ", requires_grad=True"
        return f"tensor({body}{extras})"

    # ------------------------------------------------------------------ autograd
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) . gradient into the `.grad` of every leaf that requires grad.

        `gradient` is the upstream gradient (same shape as self); it may be omitted only
        for a one-element tensor, where it is 1.  Gradients add up across calls, as in
        torch; call `zero_grad()` (or set `.grad = None`) between steps.  The saved arrays
        of the graph are released afterwards unless `retain_graph=True`.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no grad_fn; "
                               "create the inputs with requires_grad=True")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: a gradient can be implied only for a one-element output, "
                                   f"got shape {self.shape}; pass gradient= of that shape")
            gradient = np.ones_like(self.data)
        else:
            # A copy: a deferred weight gradient may read it after this call returns, and the
            # caller may change their array by then.
            gradient = np.array(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=self.dtype)
            if gradient.shape != self.shape:
                raise ValueError(f"backward: gradient must have the output's shape {self.shape}, got {gradient.shape}")

        pending = {id(self): gradient}
        for tensor in reversed(self._topological_order()):
            grad = pending.pop(id(tensor), None)
            if grad is None:
                continue
            node = tensor._node
            if node is None:  # a leaf: this is where gradients are kept
                tensor._accumulate_grad(grad)
                continue
            if node.freed:
                raise RuntimeError("backward: trying to backward through the graph a second time; its saved "
                                   "arrays were freed by the first call. Pass retain_graph=True to the first "
                                   "backward if you need to call it twice")
            parent_grads = node.function.backward(node.ctx, grad)
            if not isinstance(parent_grads, tuple):
                parent_grads = (parent_grads,)
            for parent, parent_grad in zip(node.parents, parent_grads):
                if parent is None or parent_grad is None or not parent.requires_grad:
                    continue
                if parent_grad.shape != parent.shape:
                    raise RuntimeError(f"backward of {node.function.__name__} returned a gradient of shape "
                                       f"{parent_grad.shape} for an input of shape {parent.shape}")
                key = id(parent)
                if key in pending or parent._node is not None:  # only a leaf's sole gradient may wait
                    parent_grad = computed(parent_grad)
                # Out of place: a backward may return the very array it was given, or one
                # array for two inputs; adding in place would corrupt the other user.
                pending[key] = parent_grad if key not in pending else computed(pending[key]) + parent_grad
            if not retain_graph:
                node.release()

    def _topological_order(self) -> list:
        """Every tensor this one depends on (that requires grad), each after its inputs.

        Depth-first search with an explicit stack instead of recursion, so depth is
        limited by memory, not by Python's recursion limit.
        """
        order, visited = [], set()
        stack = [(self, False)]
        while stack:
            tensor, inputs_done = stack.pop()
            if inputs_done:
                order.append(tensor)
                continue
            if id(tensor) in visited:
                continue
            visited.add(id(tensor))
            stack.append((tensor, True))
            if tensor._node is not None:
                for parent in tensor._node.parents:
                    if parent is not None and parent.requires_grad and id(parent) not in visited:
                        stack.append((parent, False))
        return order

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the accumulated gradient: `.grad` becomes None, or with set_to_none=False
        zeros (in the array it held), as torch's optimizers do; a tensor without a gradient
        keeps None.  A pending gradient is dropped unread either way."""
        with _GRAD_LOCK:
            pending, self._deferred_grad = self._deferred_grad, None
            if set_to_none:
                self._grad = None
            elif self._grad is not None:
                self._grad[...] = 0
            elif pending is not None:  # it would have been computed by now: zeros of its shape
                self._grad = np.zeros(pending[0].shape, dtype=pending[1])

    # ------------------------------------------------------------------ arithmetic
    def _operand(self, other) -> "Tensor | np.ndarray":
        """A Python number becomes an array of *our* dtype, so 2.0 * float32 stays float32."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, numbers.Number):
            return np.asarray(other, dtype=self.dtype if np.issubdtype(self.dtype, np.floating) else None)
        return np.asarray(other)

    def __add__(self, other): return elementwise.Add.apply(self, self._operand(other))
    def __radd__(self, other): return elementwise.Add.apply(self._operand(other), self)
    def __sub__(self, other): return elementwise.Sub.apply(self, self._operand(other))
    def __rsub__(self, other): return elementwise.Sub.apply(self._operand(other), self)
    def __mul__(self, other): return elementwise.Mul.apply(self, self._operand(other))
    def __rmul__(self, other): return elementwise.Mul.apply(self._operand(other), self)
    def __truediv__(self, other): return elementwise.Div.apply(self, self._operand(other))
    def __rtruediv__(self, other): return elementwise.Div.apply(self._operand(other), self)
    def __pow__(self, other): return elementwise.Pow.apply(self, self._operand(other))
    def __rpow__(self, other): return elementwise.Pow.apply(self._operand(other), self)
    def __neg__(self): return elementwise.Neg.apply(self)
    def __matmul__(self, other): return linalg.MatMul.apply(self, self._operand(other))
    def __rmatmul__(self, other): return linalg.MatMul.apply(self._operand(other), self)

    # In-place arithmetic (`p -= lr * p.grad` in a hand-written optimizer step) changes the
    # numbers where they are, seen through every reference to the tensor, as in torch.
    # (Without these, Python would compute `p = p - ...` and rebind the name only: the
    # model's parameter would never change.)  The graph does not record in-place changes,
    # so while it is recording they are refused for any tensor that requires grad; inside
    # `no_grad()`, where an optimizer step runs, they are allowed.
    def _in_place(self, other, ufunc, symbol: str) -> "Tensor":
        if is_grad_enabled() and (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)):
            raise RuntimeError(f"x {symbol} y: in-place arithmetic on a tensor that requires grad is not recorded "
                               f"in the graph; write x = x {symbol[0]} y, or do it inside `with tg.no_grad():` "
                               f"(as an optimizer step does)")
        other = other.data if isinstance(other, Tensor) else other
        try:
            ufunc(self.data, other, out=self.data, casting="same_kind")
        except TypeError:  # NumPy's casting error, e.g. an int tensor += 1.5
            raise TypeError(f"x {symbol} y: the result ({np.result_type(self.data, other)}) cannot be stored in x's "
                            f"dtype {self.dtype}") from None
        except ValueError:  # the result would not have x's shape
            raise ValueError(f"x {symbol} y: y of shape {np.shape(other)} does not broadcast to x's shape "
                             f"{self.shape}") from None
        return self

    def __iadd__(self, other): return self._in_place(other, np.add, "+=")
    def __isub__(self, other): return self._in_place(other, np.subtract, "-=")
    def __imul__(self, other): return self._in_place(other, np.multiply, "*=")
    def __itruediv__(self, other): return self._in_place(other, np.true_divide, "/=")

    # Comparisons give boolean tensors and never carry a gradient.
    def _compare(self, other, ufunc):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._from_op(ufunc(self.data, other), False)

    def __lt__(self, other): return self._compare(other, np.less)
    def __le__(self, other): return self._compare(other, np.less_equal)
    def __gt__(self, other): return self._compare(other, np.greater)
    def __ge__(self, other): return self._compare(other, np.greater_equal)
    def __eq__(self, other): return self._compare(other, np.equal)
    def __ne__(self, other): return self._compare(other, np.not_equal)
    __hash__ = object.__hash__  # tensors are used as dict keys by identity, as in torch

    def exp(self): return elementwise.Exp.apply(self)
    def log(self): return elementwise.Log.apply(self)
    def sqrt(self): return elementwise.Sqrt.apply(self)
    def abs(self): return elementwise.Abs.apply(self)
    def clip(self, min=None, max=None): return elementwise.Clip.apply(self, low=min, high=max)
    clamp = clip

    def float(self): return self.to(np.float32)
    def double(self): return self.to(np.float64)

    def to(self, dtype):
        """This tensor converted to `dtype` (differentiable); itself if it already is.

        `x.to("cpu")` (torch's idiom for a device) is itself too: tinygan only runs on the CPU.
        """
        if isinstance(dtype, str) and dtype.lower() == "cpu":
            return self
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"to: expected a NumPy dtype (np.float32, 'float64', ...) or 'cpu', got {dtype!r}") from None
        return self if dtype == self.dtype else elementwise.Cast.apply(self, dtype=dtype)

    def relu(self):
        from .ops.activation import ReLU
        return ReLU.apply(self)

    def sigmoid(self):
        from .ops.activation import Sigmoid
        return Sigmoid.apply(self)

    def tanh(self):
        from .ops.activation import Tanh
        return Tanh.apply(self)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        axis, keepdims = _reduction_arguments(axis, keepdims, dim, keepdim)
        return reduce.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        axis, keepdims = _reduction_arguments(axis, keepdims, dim, keepdim)
        return reduce.Mean.apply(self, axis=axis, keepdims=keepdims)

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        """torch's max: with no `dim`, the largest value (a 0-d tensor); with `dim` (one int),
        the pair (values, indices) along it, the first maximum's index on ties, and the
        gradient of `values` going to that element alone, as in torch.

        NumPy's spelling, `axis=` (one int or several, with `keepdims=`), gives the values
        only, as NumPy's max and `amax` do.
        """
        if axis is not None or keepdims is not None:
            return self.amax(axis, bool(keepdims))
        if dim is None:
            return self.amax()
        if isinstance(dim, (tuple, list)):
            raise TypeError(f"max: dim must be one int (amax takes several), got {dim!r}")
        dim = checked_dim("max", "dim", dim, self.ndim)
        indices = self.argmax(dim)
        where = list(np.indices(indices.shape, sparse=True))  # every position of the result...
        where.insert(dim, indices.data)  # ...and, along dim, its maximum's index
        values = self[tuple(where)]
        if keepdim:
            values = values.reshape(indices.shape[:dim] + (1,) + indices.shape[dim:])
            indices = Tensor._from_op(np.expand_dims(indices.data, dim), False)
        return MaxResult(values, indices)

    def amax(self, dim=None, keepdim=False):
        """The largest values over `dim` (an int, a tuple of them, or None for all): values only.
        Elements that tie share the gradient equally, as in torch.amax."""
        return reduce.Max.apply(self, axis=dim, keepdims=keepdim)

    def argmax(self, dim=None, keepdim=False):
        """The index of the largest value along `dim` (the first, on ties), as an int64 tensor;
        with no `dim`, the index into the flattened tensor, as in torch."""
        if self.data.size == 0:
            raise ValueError(f"argmax: an empty tensor (shape {self.shape}) has no largest value")
        if dim is None:
            return Tensor._from_op(np.asarray(np.argmax(self.data), dtype=np.int64), False)
        dim = checked_dim("argmax", "dim", dim, self.ndim)
        return Tensor._from_op(np.argmax(self.data, axis=dim, keepdims=keepdim).astype(np.int64, copy=False), False)

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape):
        """The same numbers in another shape: a view of the same memory when NumPy can make one,
        else a copy, as torch's reshape.  `view` is the same method; torch's view would raise
        where no view is possible.  (The output of a convolution is batch-last, and so is that of
        a batch norm after one, kernels/layout.py: `y.view(N, -1)` of one is a view, but a shape
        that splits the batch from the pixels differently, such as `y.reshape(N * C, H * W)`,
        is a copy, and an in-place change through it leaves y as it was.)"""
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return shape_ops.Reshape.apply(self, shape=tuple(shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        """Merge the axes start_dim..end_dim into one, e.g. (N, C, H, W) -> (N, C*H*W) with 1, -1."""
        axes = max(self.ndim, 1)  # a 0-d tensor flattens like a 1-d one, as in torch
        start, end = checked_dim("flatten", "start_dim", start_dim, axes), checked_dim("flatten", "end_dim", end_dim, axes)
        if start > end:
            raise ValueError(f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for shape {self.shape}")
        new_shape = self.shape[:start] + (-1,) + self.shape[end + 1:]
        return shape_ops.Reshape.apply(self, shape=new_shape)

    def permute(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return shape_ops.Permute.apply(self, axes=tuple(axes))

    def transpose(self, dim0: int = 0, dim1: int = 1):
        """Swap two axes (torch's meaning; use `permute` for a full reordering)."""
        dim0, dim1 = checked_dim("transpose", "dim0", dim0, self.ndim), checked_dim("transpose", "dim1", dim1, self.ndim)
        axes = list(range(self.ndim))
        axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
        return shape_ops.Permute.apply(self, axes=tuple(axes))

    def __getitem__(self, key):
        key = tuple(k.data if isinstance(k, Tensor) else k for k in key) if isinstance(key, tuple) else (
            key.data if isinstance(key, Tensor) else key)
        return shape_ops.Index.apply(self, key=key)


def _reduction_arguments(axis, keepdims, dim, keepdim):
    """Accept NumPy's (axis, keepdims) and torch's (dim, keepdim) spellings."""
    if dim is not None:
        if axis is not None:
            raise TypeError("reduction: pass either axis or dim, not both")
        axis = dim
    return axis, keepdims if keepdim is None else keepdim


def native_byte_order(array: np.ndarray) -> np.ndarray:
    """`array` itself, or a copy in this machine's byte order if its bytes are in the other.

    Numbers read as ">f4" (a file written on a big-endian machine, or by a format that
    stores them so) would reach the compiled kernels, which take only native numbers, and
    fail deep inside Numba.  torch.tensor refuses such arrays; tinygan converts them, both
    when a tensor is made and when an op is handed a raw array (Function.apply).
    """
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))


def _as_array(data, dtype=None) -> np.ndarray:
    """Convert constructor input to an ndarray: Python floats default to float32, as torch."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=np.dtype(dtype))
    if isinstance(data, np.ndarray):
        return native_byte_order(data)
    array = np.array(data)
    if array.dtype == np.float64:  # a Python float or a list of them
        array = array.astype(np.float32)
    elif array.dtype == object:
        raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} {data!r}")
    return array


# ---------------------------------------------------------------------- constructors
def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """A new leaf tensor from a number, nested list or ndarray.

    Python floats become float32 (as torch); an ndarray keeps its dtype unless `dtype`
    is given.  The data is copied, so later changes to `data` don't leak in.
    """
    source = data.data if isinstance(data, Tensor) else data
    array = _as_array(data, dtype)
    return Tensor(array.copy() if array is source else array, requires_grad=requires_grad)


def zeros(*shape, dtype=np.float32, requires_grad=False) -> Tensor:
    return Tensor(np.zeros(_shape_arg(shape), dtype=dtype), requires_grad=requires_grad)


def ones(*shape, dtype=np.float32, requires_grad=False) -> Tensor:
    return Tensor(np.ones(_shape_arg(shape), dtype=dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad=False) -> Tensor:
    return Tensor(np.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad=False) -> Tensor:
    return Tensor(np.ones_like(t.data), requires_grad=requires_grad)


def randn(*shape, dtype=np.float32, requires_grad=False) -> Tensor:
    return Tensor(default_generator().standard_normal(_shape_arg(shape), dtype=np.float64).astype(dtype), requires_grad=requires_grad)


def rand(*shape, dtype=np.float32, requires_grad=False) -> Tensor:
    return Tensor(default_generator().random(_shape_arg(shape)).astype(dtype), requires_grad=requires_grad)


def _shape_arg(shape) -> tuple:
    return tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else tuple(shape)


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing axis (torch.cat)."""
    return shape_ops.Cat.apply(*tensors, axis=dim)


def stack(tensors, dim: int = 0) -> Tensor:
    """Stack tensors along a new axis (torch.stack)."""
    return shape_ops.Stack.apply(*tensors, axis=dim)


__all__ = ["Tensor", "tensor", "zeros", "ones", "zeros_like", "ones_like", "randn", "rand",
           "cat", "stack", "Function", "is_grad_enabled"]
