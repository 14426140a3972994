"""`BatchNorm1d` and `BatchNorm2d`: normalise each channel over the batch, then scale and shift.

    y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c

Training mode uses the batch's mean and (biased) variance and updates the running
estimates in place (with the *unbiased* variance):

    running = (1 - momentum) * running + momentum * batch_statistic
    momentum=None: a cumulative average instead, momentum_t = 1 / num_batches_tracked

Evaluation mode uses the running estimates, so a single sample gives the same output
whatever batch it sits in.  The formulas live in ops/norm.py; this layer holds the state.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import functional as F
from . import init
from ..checks import integer
from ..ops.norm import batch_norm_activation
from .module import Module, Parameter


class _BatchNorm(Module):
    _optional_state_keys = frozenset({"num_batches_tracked"})  # as torch: old checkpoints lack it
    _input_ranks: tuple = ()
    _input_meaning = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=np.float32, *, bias: bool = True):
        super().__init__()
        layer = type(self).__name__
        self.num_features = integer(layer, "num_features", num_features, minimum=1)
        if not (isinstance(eps, numbers.Real) and eps >= 0):
            raise ValueError(f"{layer}: eps must be a number >= 0, got {eps!r}")
        if momentum is not None and not (isinstance(momentum, numbers.Real) and 0 <= momentum <= 1):
            raise ValueError(f"{layer}: momentum must be a number in [0, 1] or None, got {momentum!r}")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input(self, input):
        shape = getattr(input, "shape", None)
        if shape is None or len(shape) not in self._input_ranks:
            expected = " or ".join(f"{r}-D" for r in self._input_ranks)
            raise ValueError(f"{type(self).__name__}: expected {expected} input {self._input_meaning}, "
                             f"got shape {shape}")
        if shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels (axis 1), "
                             f"got input of shape {shape}")

    def forward(self, input):
        return self.forward_with_activation(input, None)

    def forward_with_activation(self, input, negative_slope: float | None):
        """forward(input), then leaky_relu(..., negative_slope) (0: relu) in the same op; None: no activation.

        nn.Sequential calls this for a BatchNorm followed by a ReLU or LeakyReLU
        (container.py): the same numbers as the two modules, one pass over memory fewer.
        """
        self._check_input(input)
        return self._normalise(input, negative_slope)

    def _normalise(self, input, negative_slope):
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1  # in place on the 0-d int64 buffer
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        # Batch statistics in training, and also in evaluation when there are no running ones.
        use_batch_stats = self.training or self.running_mean is None
        update_running = not self.training or self.track_running_stats
        statistics = (self.running_mean, self.running_var) if update_running else (None, None)
        if negative_slope is None:
            return F.batch_norm(input, *statistics, self.weight, self.bias, use_batch_stats, momentum, self.eps)
        return batch_norm_activation(input, *statistics, self.weight, self.bias, use_batch_stats, momentum, self.eps,
                                     negative_slope)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs: statistics per channel over N (and L)."""

    _input_ranks = (2, 3)
    _input_meaning = "(N, C) or (N, C, L)"

    def forward_with_activation(self, input, negative_slope: float | None):
        self._check_input(input)
        if input.ndim == 3:
            # (N, C, L) normalises exactly like an image with H = L, W = 1.
            n, c, length = input.shape
            return self._normalise(input.reshape(n, c, length, 1), negative_slope).reshape(n, c, length)
        return self._normalise(input, negative_slope)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs: statistics per channel over N, H and W."""

    _input_ranks = (4,)
    _input_meaning = "(N, C, H, W)"
