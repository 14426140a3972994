"""`Dropout`: randomly zero activations while training (a regulariser); the identity in eval mode."""
from __future__ import annotations

import numbers

from .. import functional as F
from .module import Module


class Dropout(Module):
    """Zero each element with probability p and scale the survivors by 1/(1-p) (see ops/dropout.py)."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: probability p must be a number between 0 and 1, got {p!r}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
