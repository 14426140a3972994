"""`Embedding`: a table of `num_embeddings` learned vectors of size `embedding_dim`, looked up by index."""
from __future__ import annotations

import numpy as np

from .. import functional as F
from ..checks import integer
from . import init
from .module import Module, Parameter


class Embedding(Module):
    """y = weight[input]  for integer input (any shape) -> y (*input.shape, embedding_dim).

    As torch.nn.Embedding, the weight starts as N(0, 1) (not fan-in scaled: a row is used
    alone, not summed with others as a linear layer's inputs are).  torch's optional
    padding_idx, max_norm and sparse gradients are not implemented.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, dtype=np.float32):
        super().__init__()
        self.num_embeddings = integer("Embedding", "num_embeddings", num_embeddings, minimum=1)
        self.embedding_dim = integer("Embedding", "embedding_dim", embedding_dim, minimum=1)
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight)

    def forward(self, input):
        return F.embedding(input, self.weight)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"
