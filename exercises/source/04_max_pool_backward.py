# %% [markdown]
# # Exercise 4: the backward of max pooling
#
# Max pooling keeps the largest value of each $k \times k$ window (stride $s$, no padding here):
#
# $$y[n, c, o_h, o_w] = \max_{0 \le i, j < k}\ x[n,\ c,\ o_h s + i,\ o_w s + j]$$
#
# Only the winner of a window influences its output, with slope 1; the other pixels of the
# window have no effect at all. So each output's gradient goes, whole, to the pixel that won
# its window, and nowhere else:
#
# $$\frac{\partial L}{\partial x[n, c, h, w]} = \sum_{(o_h, o_w)\ :\ \text{the window } (o_h, o_w) \text{ was won by } (h, w)} g[n, c, o_h, o_w]$$
#
# When windows overlap ($s < k$), one pixel can win several windows: it then collects the
# gradient of **each** of them, which is why this is a sum. (On ties the first maximum in
# row-major window order wins, as in torch; the random inputs here have no ties.)
# See [docs/pooling_upsampling.md](../docs/pooling_upsampling.md). Reference answer:
# `solutions/max_pool_backward.py`.

# %%
import numpy as np

import tinygan as tg
import tinygan.functional as F
from tinygan import exercises as ex

rng = np.random.default_rng(0)


def pool_case(x_shape, kernel_size, stride):
    """(grad, x, kernel_size, stride) with a random x and a grad of the output's shape."""
    x = rng.standard_normal(x_shape)
    out_shape = F.max_pool2d(x, kernel_size, stride).shape
    return rng.standard_normal(out_shape), x, kernel_size, stride


# Overlapping windows (3, 1) and (3, 2) let a pixel win more than one window; (2, 2) tiles the image.
CASES = [pool_case((2, 2, 5, 5), 3, 1), pool_case((2, 3, 4, 6), 2, 2), pool_case((1, 2, 7, 5), 3, 2)]

# %% [markdown]
# ## max_pool2d_backward
# Loop over the output positions $(o_h, o_w)$ (they are few); for each, find the winner of
# the window in every $(n, c)$ plane at once: reshape the window to $(N, C, k^2)$ and take
# `argmax` over the last axis; `np.divmod(winner, k)` gives its row and column within the
# window. Then **add** `grad[:, :, oh, ow]` onto that pixel of the result.

# %% [exercise]
def max_pool2d_backward(grad, x, kernel_size, stride):
    """dL/dx for y = max_pool2d(x, kernel_size, stride) (no padding), given grad = dL/dy."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
ex.check_against(max_pool2d_backward,
                 lambda grad, x, k, s: ex.reference_backward(lambda t: F.max_pool2d(t, k, s), grad, x), CASES,
                 names=("dx",))
ex.check_gradcheck(lambda x: F.max_pool2d(x, 3, 2), lambda grad, x: max_pool2d_backward(grad, x, 3, 2),
                   [rng.standard_normal((1, 2, 5, 5))], name="max_pool2d_backward")

# %% [markdown]
# ## What next
# tinygan's forward remembers each winner's index (`argmax`, torch's indices too), so its
# backward is a single scatter-add (`tinygan/kernels/pooling.py`). Average pooling instead
# sends $g / k^2$ to every pixel of the window: try writing that one too.
