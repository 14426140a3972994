# %% [markdown]
# # Exercise 5: the backward of bilinear upsampling
#
# Bilinear resampling works on rows and columns separately. Output row $i$ reads two
# neighbouring input rows $r_0[i], r_1[i]$ with weights $a_0[i] + a_1[i] = 1$, and output
# column $j$ two input columns $c_0[j], c_1[j]$ with weights $b_0[j] + b_1[j] = 1$:
#
# $$y[i, j] = a_0[i]\,\big(b_0[j]\, x[r_0[i], c_0[j]] + b_1[j]\, x[r_0[i], c_1[j]]\big)
#           + a_1[i]\,\big(b_0[j]\, x[r_1[i], c_0[j]] + b_1[j]\, x[r_1[i], c_1[j]]\big)$$
#
# (for every image $n$ and channel $c$). With `align_corners=False` (torch's default) output
# pixel $i$ samples the input at $\text{src} = \max\big((i + \tfrac12)\,\tfrac{\text{in}}{\text{out}} - \tfrac12,\ 0\big)$,
# $r_0 = \lfloor \text{src} \rfloor$, $r_1 = \min(r_0 + 1, \text{in} - 1)$, $a_1 = \text{src} - r_0$.
# The tables are given below (tinygan's own, `tinygan/ops/upsample.py`).
#
# $y$ is linear in $x$, so the backward just reads the forward backwards: every output
# gradient $g[i, j]$ goes to the four pixels $y[i, j]$ was mixed from, times the weight each
# was mixed with, and each input pixel **adds up** everything it receives:
#
# $$\frac{\partial L}{\partial x[r_0[i], c_0[j]]} \mathrel{+}= a_0[i]\, b_0[j]\, g[i, j], \quad
#   \frac{\partial L}{\partial x[r_0[i], c_1[j]]} \mathrel{+}= a_0[i]\, b_1[j]\, g[i, j], \quad \dots$$
#
# At the border $r_0 = r_1$ (the clamp), so two of the four terms land on the same pixel:
# adding, not assigning, gets that right. In matrix form, each plane is $y = A x B^T$ with an
# $(OH, H)$ row matrix $A$ and an $(OW, W)$ column matrix $B$, and $\partial L/\partial x = A^T g B$.
# See [docs/pooling_upsampling.md](../docs/pooling_upsampling.md). Reference answer:
# `solutions/bilinear_backward.py`.

# %%
import numpy as np

import tinygan as tg
import tinygan.functional as F
from tinygan import exercises as ex
from tinygan.ops.upsample import linear_source_index

rng = np.random.default_rng(0)


def bilinear_table(in_size, out_size):
    """(i0, i1, w0, w1): output index i reads w0[i] * x[i0[i]] + w1[i] * x[i1[i]] (align_corners=False)."""
    return linear_source_index(in_size, out_size, None, False, np.float64)


def upsample_bilinear(x, out_size):
    """The forward written out: x (N, C, H, W) -> (N, C, OH, OW), the formula above for all (i, j) at once."""
    r0, r1, a0, a1 = bilinear_table(x.shape[2], out_size[0])
    c0, c1, b0, b1 = bilinear_table(x.shape[3], out_size[1])
    a0, a1 = a0[:, None], a1[:, None]  # weights per row, broadcast over the columns
    top, bottom = x[:, :, r0], x[:, :, r1]
    return (a0 * (b0 * top[..., c0] + b1 * top[..., c1])
            + a1 * (b0 * bottom[..., c0] + b1 * bottom[..., c1]))


x = rng.standard_normal((1, 1, 3, 4))
assert np.allclose(upsample_bilinear(x, (6, 8)), F.interpolate(x, size=(6, 8), mode="bilinear").data)
print("the written-out forward agrees with F.interpolate")
print("row table for 3 -> 6 (i0, i1, w0, w1):", *bilinear_table(3, 6), sep="\n")


def bilinear_case(x_shape, out_size):
    """(grad, input_size) with a random grad of shape (N, C) + out_size."""
    return rng.standard_normal(x_shape[:2] + out_size), x_shape[2:]


# x2 upsampling, a non-integer scale, and a mix of enlarging and shrinking
CASES = [bilinear_case((2, 2, 3, 4), (6, 8)), bilinear_case((1, 3, 4, 4), (7, 5)), bilinear_case((2, 1, 5, 3), (3, 7))]

# %% [markdown]
# ## upsample_bilinear_backward
# Given `grad` of shape $(N, C, OH, OW)$ and the input size $(H, W)$, return $\partial L/\partial x$
# of shape $(N, C, H, W)$. Build the tables with `bilinear_table`, loop over the output
# pixels $(i, j)$ and add the four weighted shares of `grad[:, :, i, j]` (all planes at once).

# %% [exercise]
def upsample_bilinear_backward(grad, input_size):
    """dL/dx for y = interpolate(x, size=grad.shape[2:], mode="bilinear", align_corners=False)."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
def tinygan_bilinear_backward(grad, input_size):
    x = np.zeros(grad.shape[:2] + tuple(input_size))  # the backward of a linear map does not depend on x
    upsample = lambda t: F.interpolate(t, size=grad.shape[2:], mode="bilinear", align_corners=False)
    return ex.reference_backward(upsample, grad, x)


ex.check_against(upsample_bilinear_backward, tinygan_bilinear_backward, CASES, names=("dx",))
ex.check_gradcheck(lambda x: F.interpolate(x, size=(5, 7), mode="bilinear"),
                   lambda grad, x: upsample_bilinear_backward(grad, x.shape[2:]),
                   [rng.standard_normal((1, 2, 3, 4))], name="upsample_bilinear_backward")

# %% [markdown]
# ## What next
# Upsampling x2 and back: compare the sum of `upsample_bilinear_backward(g, ...)` with the
# sum of `g`. Each output pixel's weights add up to 1, so no gradient is lost or created.
# tinygan's Numba kernel (`tinygan/kernels/upsampling.py`) does this same scatter-add.
