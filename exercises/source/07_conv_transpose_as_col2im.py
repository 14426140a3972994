# %% [markdown]
# # Exercise 7: transposed convolution, forward, as col2im
#
# A transposed convolution with weight $W$ of shape $(C, O, k, k)$ (torch's layout: *in*
# channels first) turns $x$ of shape $(N, C, H, W)$ into $y$ of shape $(N, O, OH, OW)$,
#
# $$OH = (H - 1)\, s - 2p + k \qquad (\text{and } OW \text{ likewise}).$$
#
# Picture it as painting: every input pixel $x[n, c, h, w]$ paints the $k \times k$ patch
# $x[n, c, h, w] \cdot W[c, o, :, :]$ onto output channel $o$, with its corner at
# $(h s - p,\ w s - p)$, and where patches overlap the paint adds up. In matrices, with
# $X$ = `x.transpose(1, 0, 2, 3).reshape(C, N*H*W)` and $W_2$ = `weight.reshape(C, O*k*k)`:
#
# $$\text{cols} = W_2^T X \quad (O k^2,\ N H W), \qquad y = \text{col2im}(\text{cols}) \text{ onto an } (N, O, OH, OW) \text{ image}$$
#
# Column $(n, h, w)$ of cols is the patch pixel $(h, w)$ paints, and col2im adds each patch
# into place, exactly as it added the windows back in exercise 2: the *output* plays the
# image whose windows are the patches. This is, line for line, the $\partial L/\partial x$ of
# conv2d from exercise 3: a transposed convolution is the backward (the adjoint) of a
# convolution with the same weight,
#
# $$\langle \operatorname{conv2d}(a, W),\ y\rangle = \langle a,\ \operatorname{conv\_transpose2d}(y, W)\rangle .$$
#
# No zeros are inserted between the input pixels, and no kernel is flipped: those are
# another way to *describe* the same map, but they would multiply mostly by zeros.
# See [docs/transposed_convolution.md](../docs/transposed_convolution.md). Reference answer:
# `solutions/conv_transpose_as_col2im.py`.

# %%
import numpy as np

import tinygan as tg
import tinygan.functional as F
from tinygan import exercises as ex
from tinygan.exercises import col2im  # tinygan's col2im, the signature of exercise 2

rng = np.random.default_rng(0)
# (x shape, weight shape, stride, padding): stride 1, the DCGAN's k=4/s=2/p=1 doubling, and k=3/s=2/p=1
CASES = [(rng.standard_normal((2, 3, 3, 3)), rng.standard_normal((3, 2, 3, 3)), 1, 0),
         (rng.standard_normal((2, 3, 3, 4)), rng.standard_normal((3, 2, 4, 4)), 2, 1),
         (rng.standard_normal((1, 2, 4, 3)), rng.standard_normal((2, 3, 3, 3)), 2, 1)]

# %% [markdown]
# ## conv_transpose2d
# Compute $OH, OW$, build `cols` $= W_2^T X$, then
# `col2im(cols, (N, O, OH, OW), k, stride, padding)`.

# %% [exercise]
def conv_transpose2d(x, weight, stride, padding):
    """y = conv_transpose2d(x, weight, stride=stride, padding=padding): x (N, C, H, W), weight (C, O, k, k)."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
ex.check_against(conv_transpose2d,
                 lambda x, w, s, p: F.conv_transpose2d(x, w, stride=s, padding=p).data, CASES, names=("y",))

# %% [markdown]
# ## The adjoint of conv2d
# Your `conv_transpose2d` must satisfy
# $\langle \operatorname{conv2d}(a, W), y\rangle = \langle a, \operatorname{conv\_transpose2d}(y, W)\rangle$
# for every $a$ and $y$; and, used as the backward of `conv2d` with respect to its input,
# it must pass `tg.gradcheck`.

# %% [check]
for x, weight, s, p in CASES:
    a = rng.standard_normal(F.conv_transpose2d(x, weight, stride=s, padding=p).shape)  # conv2d's input
    y = F.conv2d(a, weight, stride=s, padding=p).data  # weight (C, O, k, k) is conv2d's (out, in, k, k)
    c = rng.standard_normal(y.shape)
    back = ex.answer(conv_transpose2d, c, weight, s, p)
    ex.expect_shape(back, a.shape, f"conv_transpose2d(c, W) with c {c.shape}, W {weight.shape}, s={s}, p={p}")
    ex.expect_close(np.sum(a * back), np.sum(y * c),
                    f"<a, conv_transpose2d(c, W)> with W {weight.shape}, s={s}, p={p} (should be <conv2d(a, W), c>)")
print("OK: <conv2d(a, W), c> = <a, conv_transpose2d(c, W)> in every case")
weight = rng.standard_normal((2, 3, 4, 4))
ex.check_gradcheck(lambda a: F.conv2d(a, weight, stride=2, padding=1),
                   lambda grad, a: conv_transpose2d(grad, weight, 2, 1), [rng.standard_normal((1, 3, 6, 6))],
                   name="conv_transpose2d as conv2d's backward")

# %% [markdown]
# ## What next
# Count the paint: feed `np.ones` as both `x` and `weight` and look at `y`. With $k = 4, s = 2$
# every interior output pixel is covered by 2 patches along each axis, 4 in all (the border
# by fewer); with $k = 3, s = 2$ the interior alternates between 1 and 2 along each axis,
# so neighbouring pixels are covered by 1, 2 or 4 patches. That uneven overlap is where
# checkerboard artefacts can start (see the docs page).
