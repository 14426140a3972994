"""Embedding: a lookup table of learned vectors, one row per class (or word, or token).

It is the layer that turns a label into something a network can add to its input: row
`i` of the weight is the vector for label `i`.  Mathematically it is a linear layer fed
a one-hot vector (one_hot(i) @ W = W[i]), computed as the row lookup it really is.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..checks import check_float, check_rank


class Embedding(Function):
    """z[..., :] = W[indices[...], :]   for integer indices (any shape) and W (num_embeddings, embedding_dim).

    Forward: each index picks a row of W, so z has shape indices.shape + (embedding_dim,).
    Backward: dL/dW[k] = sum of g[...] over every position whose index is k; the rows of
    g are scatter-added into a zero matrix with `np.add.at`, which adds all of them when an
    index repeats (plain fancy assignment, W_grad[indices] += g, would keep only the last).
    The indices are not differentiable (they are integers): their gradient is None.
    """

    @staticmethod
    def forward(ctx, indices, weight):
        check_float("embedding", "weight", weight)
        check_rank("embedding", "weight", weight, 2, "(num_embeddings, embedding_dim)")
        indices = np.asarray(indices)
        if not np.issubdtype(indices.dtype, np.integer):
            raise TypeError(f"embedding: input must hold integer indices, got dtype {indices.dtype}")
        count = weight.shape[0]
        if indices.size and (indices.min() < 0 or indices.max() >= count):
            bad = indices.min() if indices.min() < 0 else indices.max()
            raise ValueError(f"embedding: index {bad} is out of range for a table of {count} rows "
                             f"(expected 0 <= index < {count})")
        ctx.indices, ctx.weight_shape = indices, weight.shape
        return weight[indices]

    @staticmethod
    def backward(ctx, grad):
        grad_weight = np.zeros(ctx.weight_shape, dtype=grad.dtype)
        np.add.at(grad_weight, ctx.indices.reshape(-1), grad.reshape(-1, ctx.weight_shape[1]))
        return None, grad_weight


def embedding(input, weight):
    """The rows of `weight` picked by the integer `input` (torch.nn.functional.embedding)."""
    return Embedding.apply(input, weight)


__all__ = ["Embedding", "embedding"]
