"""Nearest and bilinear resampling, forward and backward: NumPy references and Numba kernels.

Both modes are *separable*: every output row reads one or two input rows, chosen by
the same table for all columns, and every output column likewise.  The tables are
built once per call by ops/upsample.py, which holds torch's rules for where an output
pixel samples the input; this file only applies them:

    nearest:   y[i, j] = x[rows[i], cols[j]]
    bilinear:  y[i, j] =   a0[i] * (b0[j] * x[r0[i], c0[j]] + b1[j] * x[r0[i], c1[j]])
                         + a1[i] * (b0[j] * x[r1[i], c0[j]] + b1[j] * x[r1[i], c1[j]])

with (r0, r1, a0, a1) the two neighbouring rows and their weights (a0 + a1 = 1), and
(c0, c1, b0, b1) the same for columns.

Either way y is linear in x: written with an (OH, H) row matrix A and an (OW, W)
column matrix B, each plane is y = A x B^T.  That is how the references compute it,
and it makes the backward plain to see: the adjoint of x -> A x B^T is
g -> A^T g B, i.e. every input pixel collects the gradients of the outputs that read
it, times the weights it was read with (a scatter-add).  The Numba kernels do the
same without building A and B, parallel over the N*C planes (each plane's gradient is
its own, so the scatter-adds need no locks).  tests/test_kernels_pool_upsample.py
proves kernels and references equal.
"""
from __future__ import annotations

import numba
import numpy as np

from . import kernel, layout


# ---------------------------------------------------------------------- NumPy reference
def selection_matrix(indices, size, dtype):
    """The (len(indices), size) matrix with a 1 at (i, indices[i]): row i picks input indices[i]."""
    matrix = np.zeros((len(indices), size), dtype=dtype)
    matrix[np.arange(len(indices)), indices] = 1
    return matrix


def interpolation_matrix(index0, index1, weight0, weight1, size):
    """The (len(index0), size) matrix of row i = weight0[i] at index0[i] + weight1[i] at index1[i].

    Added, not assigned: at the edge both neighbours are the same pixel and the two
    weights must sum there.
    """
    matrix = np.zeros((len(index0), size), dtype=weight0.dtype)
    rows = np.arange(len(index0))
    np.add.at(matrix, (rows, index0), weight0)
    np.add.at(matrix, (rows, index1), weight1)
    return matrix


def reference_nearest_forward(x, rows, cols):
    """y = A x B^T with one-hot selection matrices A (rows) and B (cols), per plane."""
    a = selection_matrix(rows, x.shape[2], x.dtype)
    b = selection_matrix(cols, x.shape[3], x.dtype)
    return a @ x @ b.T


def reference_nearest_backward(grad_output, rows, cols, input_size):
    """dL/dx = A^T g B: each input pixel sums the gradients of the outputs that copied it."""
    a = selection_matrix(rows, input_size[0], grad_output.dtype)
    b = selection_matrix(cols, input_size[1], grad_output.dtype)
    return a.T @ grad_output @ b


def reference_bilinear_forward(x, row_table, col_table):
    """y = A x B^T, A and B holding each output row's/column's two neighbours and weights."""
    a = interpolation_matrix(*row_table, x.shape[2])
    b = interpolation_matrix(*col_table, x.shape[3])
    return a @ x @ b.T


def reference_bilinear_backward(grad_output, row_table, col_table, input_size):
    """dL/dx = A^T g B: the forward's weights, read backwards."""
    a = interpolation_matrix(*row_table, input_size[0])
    b = interpolation_matrix(*col_table, input_size[1])
    return a.T @ grad_output @ b


# ---------------------------------------------------------------------- Numba kernels
@kernel
def _nearest_forward_kernel(x, y, rows, cols):
    planes, out_h, out_w = y.shape
    for p in numba.prange(planes):
        for i in range(out_h):
            r = rows[i]
            for j in range(out_w):
                y[p, i, j] = x[p, r, cols[j]]


@kernel
def _nearest_backward_kernel(grad_output, grad_input, rows, cols):
    planes, out_h, out_w = grad_output.shape
    for p in numba.prange(planes):
        for i in range(out_h):
            r = rows[i]
            for j in range(out_w):
                grad_input[p, r, cols[j]] += grad_output[p, i, j]


@kernel
def _bilinear_forward_kernel(x, y, r0, r1, a0, a1, c0, c1, b0, b1):
    planes, out_h, out_w = y.shape
    for p in numba.prange(planes):
        for i in range(out_h):
            top, bottom = r0[i], r1[i]
            for j in range(out_w):
                left, right = c0[j], c1[j]
                y[p, i, j] = (a0[i] * (b0[j] * x[p, top, left] + b1[j] * x[p, top, right])
                              + a1[i] * (b0[j] * x[p, bottom, left] + b1[j] * x[p, bottom, right]))


@kernel
def _bilinear_backward_kernel(grad_output, grad_input, r0, r1, a0, a1, c0, c1, b0, b1):
    planes, out_h, out_w = grad_output.shape
    for p in numba.prange(planes):
        for i in range(out_h):
            top, bottom = r0[i], r1[i]
            for j in range(out_w):
                left, right = c0[j], c1[j]
                g = grad_output[p, i, j]
                # The four pixels the forward mixed, each credited with its own weight.
                grad_input[p, top, left] += a0[i] * b0[j] * g
                grad_input[p, top, right] += a0[i] * b1[j] * g
                grad_input[p, bottom, left] += a1[i] * b0[j] * g
                grad_input[p, bottom, right] += a1[i] * b1[j] * g


def _planes(array):
    """(N, C, H, W) -> a contiguous (N*C, H, W) array: the unit the kernels parallelise over
    (a copy when array is in another memory order, kernels/layout.py)."""
    return layout.in_order(array, layout.BATCH_MAJOR).reshape((-1,) + array.shape[2:])


def nearest_forward(x, rows, cols):
    """y[..., i, j] = x[..., rows[i], cols[j]] for an (N, C, H, W) x, in x's dtype (Numba kernel)."""
    n, c = x.shape[:2]
    y = np.empty((n * c, len(rows), len(cols)), dtype=x.dtype)
    _nearest_forward_kernel(_planes(x), y, rows, cols)
    return y.reshape(n, c, len(rows), len(cols))


def nearest_backward(grad_output, rows, cols, input_size):
    """dL/dx of shape (N, C) + input_size, in grad_output's dtype (Numba kernel)."""
    n, c = grad_output.shape[:2]
    grad_input = np.zeros((n * c,) + tuple(input_size), dtype=grad_output.dtype)
    _nearest_backward_kernel(_planes(grad_output), grad_input, rows, cols)
    return grad_input.reshape((n, c) + tuple(input_size))


def bilinear_forward(x, row_table, col_table):
    """Bilinear resampling of an (N, C, H, W) x by the tables (index0, index1, weight0, weight1)."""
    n, c = x.shape[:2]
    y = np.empty((n * c, len(row_table[0]), len(col_table[0])), dtype=x.dtype)
    _bilinear_forward_kernel(_planes(x), y, *row_table, *col_table)
    return y.reshape((n, c) + y.shape[1:])


def bilinear_backward(grad_output, row_table, col_table, input_size):
    """dL/dx of shape (N, C) + input_size, in grad_output's dtype (Numba kernel)."""
    n, c = grad_output.shape[:2]
    grad_input = np.zeros((n * c,) + tuple(input_size), dtype=grad_output.dtype)
    _bilinear_backward_kernel(_planes(grad_output), grad_input, *row_table, *col_table)
    return grad_input.reshape((n, c) + tuple(input_size))
