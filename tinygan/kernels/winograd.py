"""Fewer multiplications for stride-2 4x4 convolutions: four phases, then Winograd's F(4x4, 2x2).

The DCGAN's two big layers are a 4x4 convolution with stride 2 and padding 1 (D's 64 -> 128)
and its adjoint, the transposed convolution (G's 256 -> 128).  im2col computes each output
with 16 C multiply-adds.  This module computes the same numbers with about half as many
multiplications, in two exact steps.

**1. Four phases (polyphase).**  Split the kernel taps by parity, ky = 2u + p and kx = 2v + q
(u, v, p, q in {0, 1}), and the zero-padded image likewise: X_pq[c, a, b] = x_pad[c, 2a + p, 2b + q].
Then

    y[o, i, j] = sum over c, p, q, u, v of  W[o, c, 2u + p, 2v + q] * X_pq[c, i + u, j + v]

is a stride-1 convolution with a 2x2 kernel over 4C channels (p, q, c) of half-size images.

**2. Winograd's minimal filtering F(4, 2).**  Four outputs of a 2-tap filter g over five
inputs d, y_i = g_0 d_i + g_1 d_(i+1), need 8 multiplications done directly.  Winograd
(1980; for convolutions, Lavin and Gray 2016) does them with 5:

    y = AT @ ((G @ g) * (BT @ d))          AT (4, 5), G (5, 2), BT (5, 5)

where G @ g evaluates the filter, as a polynomial, at five points (here 0, 1, -1, -1/2 and
infinity), and BT and AT are the rest of Toom-Cook's multiplication of two polynomials,
transposed: the interpolation and the other evaluation (`toom_cook` derives all three,
exactly, in fractions).  In 2-D a 4x4 tile of outputs needs a 5x5 tile of inputs
and 25 products instead of 64:

    Y = AT @ [(G @ g @ G.T) * (BT @ d @ BT.T)] @ AT.T

Summed over the 4C channels, each of the 25 positions (xi, eta) of the tiles is one matrix
product: M[xi, eta] = U[xi, eta] @ V[xi, eta], with U (O, 4C) the transformed filters and V
(4C, tiles*N) the transformed input tiles.  So a layer is 25 products of 4C-deep matrices
with tiles*N columns, against im2col's one product of 16C-deep matrices with OH*OW*N
columns: for D's 7x7 outputs (two tiles a side, the eighth row and column thrown away)
25 * 4 * 4 = 400 multiply-adds per (o, c, n) against 16 * 49 = 784.

The three products of a layer's forward and backward all have this form, and every
transform has an adjoint (its transpose):

    forward        y  = Tout(U @ Tin(x))
    input grad     gx = Tin.T(U^T @ Tout.T(gy))
    weight grad    gW = Tw.T(Tout.T(gy) @ Tin(x)^T)          with U = Tw(W)

and the transposed convolution is the same three read backwards (ops/conv.py).

Layouts: V is (25, 4C, T) with rows (p, q, c) and columns (tile row, tile column, n), the
batch innermost as everywhere in the convolutions; images are read and written
batch-last, (C, H, W, N) in memory (kernels/layout.py).  Rounding: the transforms add and
subtract a few numbers of similar size, so float32 results differ from the exact ones by
a few millionths of the largest value, about ten times as much as im2col's
(tests/test_winograd.py bounds the difference from torch's float32 at 2e-5 of the largest
value).

`reference_*` are the same transforms in NumPy (einsum); the Numba kernels do each in
one call, one pass per axis, in parallel over channels.
"""
from __future__ import annotations

from fractions import Fraction

import numba
import numpy as np

from . import kernel, layout

TILE, TAPS = 4, 2  # F(4, 2): 4 outputs per tile and axis, of a 2-tap filter (one phase of 4 taps)
SPAN = TILE + TAPS - 1  # 5 inputs per tile and axis
# The finite points; the fifth is infinity.  Any distinct points give exact transforms, and in
# float32 the choice of the fourth among 2, -2, 1/2 and -1/2 matters little: on random 1-D
# tiles their errors are within 10% of each other, and on the DCGAN's two layers none was
# clearly best (mean error over two inputs each, in millionths of the largest value: -2 4.4,
# 2 4.9, -1/2 5.2, 1/2 5.4).
POINTS = (0, 1, -1, Fraction(-1, 2))


def toom_cook(points, outputs: int, taps: int):
    """(AT, G, BT) of Winograd's F(outputs, taps), from `points` and infinity, in exact fractions.

    Toom-Cook multiplies two polynomials by evaluating both at n = outputs + taps - 1
    points, multiplying the values and interpolating the product back: s = C [(Vg g) * (Vh h)],
    with Vg, Vh the evaluation matrices and C = V^-1 the interpolation.  Filtering (a
    correlation) is that map's transpose in h:  y = Vh^T [(Vg g) * (C^T d)].  So AT = Vh^T,
    G = Vg, BT = C^T.  ("Infinity" evaluates a polynomial's leading coefficient.)
    """
    n = outputs + taps - 1
    if len(points) != n - 1:
        raise ValueError(f"toom_cook: F({outputs}, {taps}) needs {n - 1} finite points, got {len(points)}")

    def evaluation(columns):  # rows: powers of each point, then infinity
        rows = [[Fraction(a) ** k for k in range(columns)] for a in points]
        return rows + [[Fraction(0)] * (columns - 1) + [Fraction(1)]]

    interpolation = _inverse(evaluation(n))
    at = [[row[i] for row in evaluation(outputs)] for i in range(outputs)]
    bt = [[interpolation[j][k] for j in range(n)] for k in range(n)]
    return at, evaluation(taps), bt


def _inverse(matrix):
    """The inverse of a square matrix of Fractions (Gauss-Jordan, exact)."""
    n = len(matrix)
    rows = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(i for i in range(col, n) if rows[i][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [v / rows[col][col] for v in rows[col]]
        for i in range(n):
            if i != col and rows[i][col] != 0:
                factor = rows[i][col]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[col])]
    return [row[n:] for row in rows]


AT, G, BT = (np.array(m, dtype=np.float64) for m in toom_cook(POINTS, TILE, TAPS))
for _m in (AT, G, BT):
    _m.setflags(write=False)


# Below these the transforms cost more than the multiplications they save (measured
# forward + backward against im2col, batch-last input, benchmarks/bench_winograd.py): with fewer
# channels the products are thin, and with fewer tile columns (tiles x images) the
# transformed filters, 25/4 times the weight, are read for too little work.
MIN_CHANNELS = 4
MIN_COLUMNS = 128


def applies(kernel_hw, stride, padding_before, padding_after, dilation, groups, channels, image_hw, batch) -> bool:
    """Whether a convolution is computed here: 4x4 kernel, stride 2, padding 1 on every side, no
    dilation, one group, both channel counts >= MIN_CHANNELS, and >= MIN_COLUMNS tile columns
    (tiles(H) * tiles(W) * N, with H, W the size of the strided convolution's input).

    Everything else -- the DCGAN's 1-channel layers, a batch of a few images -- stays with im2col.
    """
    return (tuple(kernel_hw) == (4, 4) and tuple(stride) == (2, 2) and tuple(padding_before) == (1, 1)
            and tuple(padding_after) == (1, 1) and tuple(dilation) == (1, 1) and groups == 1
            and min(channels) >= MIN_CHANNELS and tiles(image_hw[0]) * tiles(image_hw[1]) * batch >= MIN_COLUMNS)


def tiles(size: int) -> int:
    """Tiles along an axis of a conv's `size`-long input: output floor(size / 2), TILE outputs a tile."""
    return -(-(size // 2) // TILE)


# ---------------------------------------------------------------------- NumPy reference
def _tile_view(x: np.ndarray, tiles_h: int, tiles_w: int) -> np.ndarray:
    """(N, C, H, W) -> the 5x5 input tiles of every phase, (C, p, q, ti, tj, a, b, N): a view of a padded copy."""
    n, c, h, w = x.shape
    padded = np.zeros((c, 8 * tiles_h + 2, 8 * tiles_w + 2, n), dtype=x.dtype)
    padded[:, 1:h + 1, 1:w + 1] = x.transpose(1, 2, 3, 0)  # h <= 8 tiles_h + 1: every row fits
    s_c, s_h, s_w, s_n = padded.strides
    # tile (ti, tj) of phase (p, q) starts at phase row 4 ti, i.e. padded row 8 ti + p
    return np.lib.stride_tricks.as_strided(
        padded, (c, 2, 2, tiles_h, tiles_w, SPAN, SPAN, n),
        (s_c, s_h, s_w, 8 * s_h, 8 * s_w, 2 * s_h, 2 * s_w, s_n), writeable=False)


def reference_image_tiles(x: np.ndarray) -> np.ndarray:
    """Tin: (N, C, H, W) -> V (25, 4C, T), V[xi, eta] = BT d BT^T of every tile d."""
    th, tw = tiles(x.shape[2]), tiles(x.shape[3])
    bt = BT.astype(x.dtype)
    v = np.einsum("xa,yb,cpqijabn->xypqcijn", bt, bt, _tile_view(x, th, tw))
    return v.reshape(SPAN * SPAN, 4 * x.shape[1], th * tw * x.shape[0])


def reference_image_from_tiles(v: np.ndarray, shape) -> np.ndarray:
    """Tin^T, the adjoint of Tin: V (25, 4C, T) -> an (N, C, H, W) image.  Each tile's
    BT^T V BT is added back onto the pixels the tile was read from; what lands in the
    padding is dropped."""
    n, c, h, w = shape
    th, tw = tiles(h), tiles(w)
    bt = BT.astype(v.dtype)
    d = np.einsum("xa,yb,xypqcijn->cpqijabn", bt, bt, v.reshape(SPAN, SPAN, 2, 2, c, th, tw, n))
    padded = np.zeros((c, 8 * th + 2, 8 * tw + 2, n), dtype=v.dtype)
    for ti in range(th):
        for tj in range(tw):
            for a in range(SPAN):
                for b in range(SPAN):  # input (a, b) of the four phases: padded rows 8 ti + 2a + p, p = 0, 1
                    padded[:, 8 * ti + 2 * a:8 * ti + 2 * a + 2, 8 * tj + 2 * b:8 * tj + 2 * b + 2] += d[:, :, :, ti, tj, a, b]
    return np.ascontiguousarray(padded[:, 1:h + 1, 1:w + 1].transpose(3, 0, 1, 2))


def reference_filter_tiles(weight: np.ndarray) -> np.ndarray:
    """Tw: (O, C, 4, 4) -> U (25, O, 4C), U[xi, eta] = G g G^T of every phase's 2x2 filter g."""
    o, c = weight.shape[:2]
    g = G.astype(weight.dtype)
    u = np.einsum("xu,yv,ocupvq->xyopqc", g, g, weight.reshape(o, c, 2, 2, 2, 2), optimize=True)
    return np.ascontiguousarray(u).reshape(SPAN * SPAN, o, 4 * c)


def reference_filter_from_tiles(u: np.ndarray, weight_shape) -> np.ndarray:
    """Tw^T: U (25, O, 4C) -> (O, C, 4, 4), adjoint of filter_tiles."""
    o, c = weight_shape[:2]
    g = G.astype(u.dtype)
    w = np.einsum("xu,yv,xyopqc->ocupvq", g, g, u.reshape(SPAN, SPAN, o, 2, 2, c), optimize=True)
    return np.ascontiguousarray(w).reshape(weight_shape)


def reference_output_from_tiles(m: np.ndarray, shape) -> np.ndarray:
    """Tout: M (25, O, T) -> y (N, O, OH, OW), y's tiles = AT M AT^T, cropped to OH x OW."""
    n, o, oh, ow = shape
    th, tw = -(-oh // TILE), -(-ow // TILE)
    at = AT.astype(m.dtype)
    y = np.einsum("ix,jy,xyotsn->otisjn", at, at, m.reshape(SPAN, SPAN, o, th, tw, n))
    return np.ascontiguousarray(y.reshape(o, TILE * th, TILE * tw, n)[:, :oh, :ow].transpose(3, 0, 1, 2))


def reference_output_tiles(grad: np.ndarray) -> np.ndarray:
    """Tout^T: (N, O, OH, OW) -> (25, O, T), adjoint of output_from_tiles."""
    n, o, oh, ow = grad.shape
    th, tw = -(-oh // TILE), -(-ow // TILE)
    padded = np.zeros((o, TILE * th, TILE * tw, n), dtype=grad.dtype)
    padded[:, :oh, :ow] = grad.transpose(1, 2, 3, 0)
    at = AT.astype(grad.dtype)
    m = np.einsum("ix,jy,otisjn->xyotsn", at, at, padded.reshape(o, th, TILE, tw, TILE, n))
    return m.reshape(SPAN * SPAN, o, th * tw * n)


# ---------------------------------------------------------------------- Numba kernels
# Each task transforms whole tiles in two passes (columns, then rows), for the N images of
# a tile position side by side: every innermost loop runs over the batch (k), computes one
# output run from five input runs, and is made SIMD by the compiler.  (One output per
# loop on purpose: a loop writing five runs at once needs more overlap checks than the
# compiler will add, and then it stays scalar.)  Inputs in the zero padding are read from
# a run of zeros, not from the image: a NaN at the image's edge stays in the tiles that
# hold it.
@numba.njit(inline="always")
def _phase_taps(tile, parity, size, inside, at):
    """The image rows (or columns) of a tile's five inputs of one phase (input a is padded
    row 8 tile + 2a + parity), and whether each is inside the image rather than the padding."""
    for a in range(SPAN):
        y = 8 * tile + 2 * a + parity - 1
        inside[a] = 0 <= y < size
        at[a] = y if inside[a] else 0


@kernel
def _image_tiles_kernel(images, bt, tiles_h, tiles_w, v):
    channels, height, width, n = images.shape
    for task in numba.prange(channels * 4):  # task = row of V = (p, q, c)
        p, q, c = task // (2 * channels), (task // channels) % 2, task % channels
        columns = np.empty((SPAN, SPAN, n), dtype=v.dtype)  # BT @ d, one tile: [xi, b, k]
        zeros = np.zeros(n, dtype=v.dtype)  # the padding's run
        rows, row_in = np.empty(SPAN, np.int64), np.empty(SPAN, np.bool_)
        cols, col_in = np.empty(SPAN, np.int64), np.empty(SPAN, np.bool_)
        for ti in range(tiles_h):
            _phase_taps(ti, p, height, row_in, rows)
            for tj in range(tiles_w):
                _phase_taps(tj, q, width, col_in, cols)
                for b in range(SPAN):
                    if not col_in[b]:  # a column of padding: BT @ 0
                        columns[:, b] = 0
                        continue
                    x = cols[b]
                    d0 = images[c, rows[0], x] if row_in[0] else zeros
                    d1 = images[c, rows[1], x] if row_in[1] else zeros
                    d2 = images[c, rows[2], x] if row_in[2] else zeros
                    d3 = images[c, rows[3], x] if row_in[3] else zeros
                    d4 = images[c, rows[4], x] if row_in[4] else zeros
                    for xi in range(SPAN):
                        f0, f1, f2, f3, f4 = bt[xi, 0], bt[xi, 1], bt[xi, 2], bt[xi, 3], bt[xi, 4]
                        out = columns[xi, b]
                        for k in range(n):
                            out[k] = f0 * d0[k] + f1 * d1[k] + f2 * d2[k] + f3 * d3[k] + f4 * d4[k]
                start = (ti * tiles_w + tj) * n
                for xi in range(SPAN):
                    c0, c1, c2, c3, c4 = columns[xi, 0], columns[xi, 1], columns[xi, 2], columns[xi, 3], columns[xi, 4]
                    for eta in range(SPAN):
                        f0, f1, f2, f3, f4 = bt[eta, 0], bt[eta, 1], bt[eta, 2], bt[eta, 3], bt[eta, 4]
                        out = v[xi * SPAN + eta, task, start:start + n]
                        for k in range(n):
                            out[k] = f0 * c0[k] + f1 * c1[k] + f2 * c2[k] + f3 * c3[k] + f4 * c4[k]


@kernel
def _image_from_tiles_kernel(v, bt, tiles_h, tiles_w, images):
    channels, height, width, n = images.shape
    for c in numba.prange(channels):  # one task per channel: its four phases' tiles overlap in it
        images[c] = 0
        columns = np.empty((SPAN, SPAN, n), dtype=v.dtype)  # V @ BT, one tile: [xi, b, k]
        pixel = np.empty(n, dtype=v.dtype)
        rows, row_in = np.empty(SPAN, np.int64), np.empty(SPAN, np.bool_)
        cols, col_in = np.empty(SPAN, np.int64), np.empty(SPAN, np.bool_)
        for p in range(2):
            for q in range(2):
                task = (p * 2 + q) * channels + c
                for ti in range(tiles_h):
                    _phase_taps(ti, p, height, row_in, rows)
                    for tj in range(tiles_w):
                        _phase_taps(tj, q, width, col_in, cols)
                        start = (ti * tiles_w + tj) * n
                        for xi in range(SPAN):
                            s0, s1, s2 = (v[xi * SPAN, task, start:start + n], v[xi * SPAN + 1, task, start:start + n],
                                          v[xi * SPAN + 2, task, start:start + n])
                            s3, s4 = v[xi * SPAN + 3, task, start:start + n], v[xi * SPAN + 4, task, start:start + n]
                            for b in range(SPAN):
                                f0, f1, f2, f3, f4 = bt[0, b], bt[1, b], bt[2, b], bt[3, b], bt[4, b]
                                out = columns[xi, b]
                                for k in range(n):
                                    out[k] = f0 * s0[k] + f1 * s1[k] + f2 * s2[k] + f3 * s3[k] + f4 * s4[k]
                        for b in range(SPAN):
                            if not col_in[b]:  # a column in the padding: nothing to add
                                continue
                            c0, c1, c2, c3, c4 = (columns[0, b], columns[1, b], columns[2, b], columns[3, b],
                                                  columns[4, b])
                            for a in range(SPAN):
                                if not row_in[a]:
                                    continue
                                f0, f1, f2, f3, f4 = bt[0, a], bt[1, a], bt[2, a], bt[3, a], bt[4, a]
                                for k in range(n):
                                    pixel[k] = f0 * c0[k] + f1 * c1[k] + f2 * c2[k] + f3 * c3[k] + f4 * c4[k]
                                target = images[c, rows[a], cols[b]]  # where two phases' tiles may meet
                                for k in range(n):
                                    target[k] += pixel[k]


@kernel
def _output_from_tiles_kernel(m, at, tiles_h, tiles_w, out):
    channels, out_h, out_w, n = out.shape
    for o in numba.prange(channels):
        rows = np.empty((TILE, SPAN, n), dtype=m.dtype)  # AT @ M, one tile: [i, eta, k]
        for ti in range(tiles_h):
            for tj in range(tiles_w):
                start = (ti * tiles_w + tj) * n
                for eta in range(SPAN):
                    s0, s1, s2 = m[eta, o, start:start + n], m[SPAN + eta, o, start:start + n], m[2 * SPAN + eta, o, start:start + n]
                    s3, s4 = m[3 * SPAN + eta, o, start:start + n], m[4 * SPAN + eta, o, start:start + n]
                    for i in range(TILE):
                        f0, f1, f2, f3, f4 = at[i, 0], at[i, 1], at[i, 2], at[i, 3], at[i, 4]
                        target = rows[i, eta]
                        for k in range(n):
                            target[k] = f0 * s0[k] + f1 * s1[k] + f2 * s2[k] + f3 * s3[k] + f4 * s4[k]
                for i in range(min(TILE, out_h - TILE * ti)):
                    r0, r1, r2, r3, r4 = rows[i, 0], rows[i, 1], rows[i, 2], rows[i, 3], rows[i, 4]
                    for j in range(min(TILE, out_w - TILE * tj)):
                        target = out[o, TILE * ti + i, TILE * tj + j]
                        f0, f1, f2, f3, f4 = at[j, 0], at[j, 1], at[j, 2], at[j, 3], at[j, 4]
                        for k in range(n):
                            target[k] = f0 * r0[k] + f1 * r1[k] + f2 * r2[k] + f3 * r3[k] + f4 * r4[k]


@kernel
def _output_tiles_kernel(grad, at, tiles_h, tiles_w, m):
    channels, out_h, out_w, n = grad.shape
    for o in numba.prange(channels):
        columns = np.empty((SPAN, TILE, n), dtype=m.dtype)  # AT^T @ gY, one tile: [xi, j, k]
        zeros = np.zeros(n, dtype=m.dtype)  # past the output's edge: the last tile's missing rows
        for ti in range(tiles_h):
            y0, y1, y2, y3 = TILE * ti, TILE * ti + 1, TILE * ti + 2, TILE * ti + 3
            for tj in range(tiles_w):
                start = (ti * tiles_w + tj) * n
                for j in range(TILE):
                    x = TILE * tj + j
                    if x >= out_w:  # a column past the output: AT^T @ 0
                        columns[:, j] = 0
                        continue
                    g0 = grad[o, y0, x]  # (y0 < out_h: every tile starts inside)
                    g1 = grad[o, y1, x] if y1 < out_h else zeros
                    g2 = grad[o, y2, x] if y2 < out_h else zeros
                    g3 = grad[o, y3, x] if y3 < out_h else zeros
                    for xi in range(SPAN):
                        f0, f1, f2, f3 = at[0, xi], at[1, xi], at[2, xi], at[3, xi]
                        target = columns[xi, j]
                        for k in range(n):
                            target[k] = f0 * g0[k] + f1 * g1[k] + f2 * g2[k] + f3 * g3[k]
                for xi in range(SPAN):
                    c0, c1, c2, c3 = columns[xi, 0], columns[xi, 1], columns[xi, 2], columns[xi, 3]
                    for eta in range(SPAN):
                        f0, f1, f2, f3 = at[0, eta], at[1, eta], at[2, eta], at[3, eta]
                        target = m[xi * SPAN + eta, o, start:start + n]
                        for k in range(n):
                            target[k] = f0 * c0[k] + f1 * c1[k] + f2 * c2[k] + f3 * c3[k]


def image_tiles(x: np.ndarray) -> np.ndarray:
    """Tin: (N, C, H, W) in any memory order -> V (25, 4C, T), T = tiles(H) * tiles(W) * N."""
    n, c, h, w = x.shape
    th, tw = tiles(h), tiles(w)
    v = np.empty((SPAN * SPAN, 4 * c, th * tw * n), dtype=x.dtype)
    _image_tiles_kernel(layout.batch_last_memory(x), BT.astype(x.dtype), th, tw, v)
    return v


def image_from_tiles(v: np.ndarray, shape) -> np.ndarray:
    """Tin^T: V (25, 4C, T) -> the (N, C, H, W) image, batch-last (the adjoint of image_tiles)."""
    image = layout.empty(tuple(shape), v.dtype, layout.BATCH_LAST)
    _image_from_tiles_kernel(np.ascontiguousarray(v), BT.astype(v.dtype), tiles(shape[2]), tiles(shape[3]),
                             layout.batch_last_memory(image))
    return image


def output_from_tiles(m: np.ndarray, shape) -> np.ndarray:
    """Tout: M (25, O, T) -> y (N, O, OH, OW), batch-last."""
    out = layout.empty(tuple(shape), m.dtype, layout.BATCH_LAST)
    _output_from_tiles_kernel(np.ascontiguousarray(m), AT.astype(m.dtype), -(-shape[2] // TILE),
                              -(-shape[3] // TILE), layout.batch_last_memory(out))
    return out


def output_tiles(grad: np.ndarray) -> np.ndarray:
    """Tout^T: (N, O, OH, OW) in any memory order -> (25, O, T) (the adjoint of output_from_tiles)."""
    n, o, oh, ow = grad.shape
    th, tw = -(-oh // TILE), -(-ow // TILE)
    m = np.empty((SPAN * SPAN, o, th * tw * n), dtype=grad.dtype)
    _output_tiles_kernel(layout.batch_last_memory(grad), AT.astype(grad.dtype), th, tw, m)
    return m


@kernel
def _filter_tiles_kernel(weight, g, u):
    out_channels, in_channels = weight.shape[:2]
    for o in numba.prange(out_channels):
        taps = np.empty((4, 4, in_channels), dtype=u.dtype)  # this filter, channels innermost
        for c in range(in_channels):
            for ky in range(4):
                for kx in range(4):
                    taps[ky, kx, c] = weight[o, c, ky, kx]
        half = np.empty((SPAN, 4, in_channels), dtype=u.dtype)  # G @ g over the rows (u), every phase: [xi, kx, c]
        for xi in range(SPAN):
            for p in range(2):
                f0, f1 = g[xi, 0], g[xi, 1]
                for kx in range(4):
                    top, bottom, target = taps[p, kx], taps[2 + p, kx], half[xi, kx]
                    for c in range(in_channels):
                        target[c] = f0 * top[c] + f1 * bottom[c]
                for eta in range(SPAN):
                    h0, h1 = g[eta, 0], g[eta, 1]
                    for q in range(2):
                        left, right = half[xi, q], half[xi, 2 + q]
                        target = u[xi * SPAN + eta, o, (p * 2 + q) * in_channels:(p * 2 + q + 1) * in_channels]
                        for c in range(in_channels):
                            target[c] = h0 * left[c] + h1 * right[c]


@kernel
def _filter_from_tiles_kernel(u, g, weight):
    out_channels, in_channels = weight.shape[:2]
    for o in numba.prange(out_channels):
        taps = np.empty((4, 4, in_channels), dtype=u.dtype)
        half = np.empty((SPAN, 4, in_channels), dtype=u.dtype)  # U @ G over eta: [xi, kx, c] of phase row p
        for p in range(2):
            for xi in range(SPAN):
                for q in range(2):
                    first, last = (p * 2 + q) * in_channels, (p * 2 + q + 1) * in_channels
                    s0, s1, s2 = u[xi * SPAN, o, first:last], u[xi * SPAN + 1, o, first:last], u[xi * SPAN + 2, o, first:last]
                    s3, s4 = u[xi * SPAN + 3, o, first:last], u[xi * SPAN + 4, o, first:last]
                    for b in range(2):
                        f0, f1, f2, f3, f4 = g[0, b], g[1, b], g[2, b], g[3, b], g[4, b]
                        target = half[xi, 2 * b + q]
                        for c in range(in_channels):
                            target[c] = f0 * s0[c] + f1 * s1[c] + f2 * s2[c] + f3 * s3[c] + f4 * s4[c]
            for a in range(2):
                f0, f1, f2, f3, f4 = g[0, a], g[1, a], g[2, a], g[3, a], g[4, a]
                for kx in range(4):
                    s0, s1, s2, s3, s4 = half[0, kx], half[1, kx], half[2, kx], half[3, kx], half[4, kx]
                    target = taps[2 * a + p, kx]
                    for c in range(in_channels):
                        target[c] = f0 * s0[c] + f1 * s1[c] + f2 * s2[c] + f3 * s3[c] + f4 * s4[c]
        for c in range(in_channels):
            for ky in range(4):
                for kx in range(4):
                    weight[o, c, ky, kx] = taps[ky, kx, c]


def filter_tiles(weight: np.ndarray) -> np.ndarray:
    """Tw: (O, C, 4, 4) -> U (25, O, 4C) (Numba kernel)."""
    o, c = weight.shape[:2]
    u = np.empty((SPAN * SPAN, o, 4 * c), dtype=weight.dtype)
    _filter_tiles_kernel(np.ascontiguousarray(weight), G.astype(weight.dtype), u)
    return u


def filter_from_tiles(u: np.ndarray, weight_shape) -> np.ndarray:
    """Tw^T: U (25, O, 4C) -> (O, C, 4, 4), the adjoint of filter_tiles (Numba kernel)."""
    weight = np.empty(tuple(weight_shape), dtype=u.dtype)
    _filter_from_tiles_kernel(np.ascontiguousarray(u), G.astype(u.dtype), weight)
    return weight
