# %% [markdown]
# # Exercise 2: im2col and col2im
#
# A convolution slides a $k \times k$ window over the zero-padded image. **im2col** copies
# every window into one column of a matrix, so that the whole convolution becomes a single
# matrix product. For an input $x$ of shape $(N, C, H, W)$, stride $s$ and padding $p$:
#
# $$\text{cols}[(c, i, j),\ (n, o_h, o_w)] = x_{\text{pad}}[n,\ c,\ o_h s + i,\ o_w s + j]$$
#
# a matrix of shape $(C k^2,\ N \cdot OH \cdot OW)$ with $OH = \lfloor (H + 2p - k) / s \rfloor + 1$
# (and $OW$ likewise). Rows run over $(c, i, j)$ and columns over $(n, o_h, o_w)$, each in
# row-major order: row $(c, i, j)$ is number $c k^2 + i k + j$. That is tinygan's layout
# (`tinygan/kernels/im2col.py`), so `weight.reshape(O, C*k*k) @ cols` is the convolution.
#
# **col2im** goes the other way: it adds every entry of such a matrix back onto the pixel it
# was read from, and drops what lands in the padding. Where windows overlap ($s < k$) a
# pixel was read several times, so col2im **sums** those entries. That sum is the chain
# rule for a value used several times: col2im is the backward (the adjoint) of im2col,
#
# $$\langle \text{im2col}(x),\ c \rangle = \langle x,\ \text{col2im}(c) \rangle \quad\text{for every } x, c.$$
#
# See [docs/convolution.md](../docs/convolution.md). Fill in each cell marked
# `# YOUR CODE HERE`, run it, then run the check below it. Reference answers:
# `solutions/im2col_col2im.py`.

# %%
import numpy as np

import tinygan as tg
from tinygan import exercises as ex

rng = np.random.default_rng(0)
# (input shape, kernel_size, stride, padding): overlapping windows, a stride, padding, non-square images
CASES = [((2, 2, 5, 5), 3, 1, 1), ((1, 3, 5, 6), 3, 2, 0), ((2, 1, 4, 5), 2, 2, 1), ((1, 2, 6, 4), 4, 1, 2)]
inputs = [rng.standard_normal(shape) for shape, *_ in CASES]
print("output sizes (OH, OW):", [(ex.conv_output_size(s[2], k, st, p), ex.conv_output_size(s[3], k, st, p))
                                 for s, k, st, p in CASES])

# %% [markdown]
# ## 1. im2col
# Hint: pad once with `np.pad`. Then for each kernel tap $(i, j)$ the pixels it reads in
# *all* windows are one strided slice, `padded[:, :, i : i + s*(OH-1) + 1 : s, j : ...]`, of
# shape $(N, C, OH, OW)$. Put it in the right place of an array shaped
# $(C, k, k, N, OH, OW)$, and reshape at the end.

# %% [exercise]
def im2col(x, kernel_size, stride, padding):
    """x (N, C, H, W) -> cols (C*k*k, N*OH*OW): column (n, oh, ow) is the window of output pixel (oh, ow) of image n."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
ex.check_against(im2col, ex.im2col, [(x, k, s, p) for x, (_, k, s, p) in zip(inputs, CASES)])

# %% [markdown]
# ## 2. col2im
# The same slices, the other way round: start from zeros of the *padded* shape, **add**
# (`+=`) each tap's block of columns onto its slice, then cut the padding off.

# %% [exercise]
def col2im(cols, x_shape, kernel_size, stride, padding):
    """cols (C*k*k, N*OH*OW) -> the (N, C, H, W) image x_shape, each entry added onto the pixel it came from."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
col_cases = []
for x, (_, k, s, p) in zip(inputs, CASES):
    col_cases.append((rng.standard_normal(ex.im2col(x, k, s, p).shape), x.shape, k, s, p))
ex.check_against(col2im, ex.col2im, col_cases)

# %% [markdown]
# ## 3. col2im is the backward of im2col
# Two checks of the same fact. The adjoint identity, with *your* two functions:
# $\langle \text{im2col}(x), c\rangle = \langle x, \text{col2im}(c)\rangle$. And `tg.gradcheck`
# on an op whose forward is tinygan's im2col and whose backward is your col2im: if the
# numbers agree with central differences, col2im is the right backward.

# %% [check]
for x, (_, k, s, p) in zip(inputs, CASES):
    cols = ex.answer(im2col, x, k, s, p)
    c = rng.standard_normal(np.shape(cols))
    back = ex.answer(col2im, c, x.shape, k, s, p)
    ex.expect_shape(back, x.shape, f"col2im(c, {x.shape}, {k}, {s}, {p})")
    ex.expect_close(np.sum(cols * c), np.sum(x * back),
                    f"<im2col(x), c> for input {x.shape}, k={k}, s={s}, p={p} (the right side is <x, col2im(c)>)")
print("OK: <im2col(x), c> = <x, col2im(c)> in every case")
small = rng.standard_normal((1, 2, 4, 4))
ex.check_gradcheck(lambda x: ex.im2col(x, 3, 2, 1), lambda grad, x: col2im(grad, x.shape, 3, 2, 1), [small],
                   name="col2im as the backward of im2col")

# %% [markdown]
# ## What next
# tinygan's Numba kernels (`tinygan/kernels/im2col.py`) do the same in one parallel pass,
# with each kernel tap's valid output range computed once so the inner loops need no
# bounds tests. In exercise 3 these two functions carry the whole convolution backward.
