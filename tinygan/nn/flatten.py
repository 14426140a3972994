"""`Flatten`: merge the axes start_dim..end_dim into one, e.g. (N, C, H, W) -> (N, C*H*W)."""
from __future__ import annotations

from .module import Module


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input):
        ndim = max(input.ndim, 1)
        if not (-ndim <= self.start_dim < ndim and -ndim <= self.end_dim < ndim):
            raise ValueError(f"Flatten: start_dim={self.start_dim} and end_dim={self.end_dim} must be axes of "
                             f"the input, which has shape {input.shape}")
        if self.start_dim % ndim > self.end_dim % ndim:
            raise ValueError(f"Flatten: start_dim={self.start_dim} comes after end_dim={self.end_dim} "
                             f"for an input of shape {input.shape}")
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
