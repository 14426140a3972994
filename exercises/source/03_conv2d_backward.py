# %% [markdown]
# # Exercise 3: the backward of conv2d
#
# tinygan computes a convolution as im2col and one matrix product (exercise 2). With
# $x$ of shape $(N, C, H, W)$, a weight $W$ of shape $(O, C, k, k)$ and a bias $b$ of shape $(O,)$:
#
# $$\text{cols} = \text{im2col}(x) \quad (C k^2,\ N \cdot OH \cdot OW), \qquad
#   Y = W_2\, \text{cols} + b \quad (O,\ N \cdot OH \cdot OW),$$
#
# where $W_2$ = `weight.reshape(O, C*k*k)`, and $Y$ is then laid out as $y$ of shape $(N, O, OH, OW)$.
# Write the upstream gradient $g = \partial L/\partial y$ in the same layout as $Y$:
# $G$ = `grad.transpose(1, 0, 2, 3).reshape(O, -1)`. Then the backward is three matrix
# facts, each from $Y = W_2\,\text{cols} + b$:
#
# $$\frac{\partial L}{\partial W_2} = G\, \text{cols}^T, \qquad
#   \frac{\partial L}{\partial b} = \textstyle\sum_{\text{columns}} G, \qquad
#   \frac{\partial L}{\partial x} = \text{col2im}\!\left(W_2^T G\right).$$
#
# The last one reads: $W_2^T G$ is the gradient of every entry of cols, and col2im adds
# each one back onto the pixel it was copied from, so a pixel seen by several windows
# collects from all of them. See [docs/convolution.md](../docs/convolution.md) and
# `tinygan/ops/conv.py`. Reference answer: `solutions/conv2d_backward.py`.

# %%
import numpy as np

import tinygan as tg
import tinygan.functional as F
from tinygan import exercises as ex
from tinygan.exercises import col2im, im2col  # tinygan's versions of exercise 2, same signatures

rng = np.random.default_rng(0)


def conv_case(x_shape, weight_shape, stride, padding):
    """(grad, x, weight, stride, padding) with random numbers and a grad of the output's shape."""
    x, weight = rng.standard_normal(x_shape), rng.standard_normal(weight_shape)
    out_shape = F.conv2d(x, weight, stride=stride, padding=padding).shape
    return rng.standard_normal(out_shape), x, weight, stride, padding


CASES = [conv_case((2, 3, 5, 5), (4, 3, 3, 3), 1, 1), conv_case((2, 3, 6, 5), (4, 3, 3, 3), 2, 0),
         conv_case((1, 2, 5, 6), (3, 2, 2, 2), 2, 1)]

# %% [markdown]
# ## conv2d_backward
# Return the three gradients as a tuple `(dx, dweight, dbias)`, with the shapes of `x`,
# `weight` and the bias $(O,)$. Use `im2col(x, k, stride, padding)` and
# `col2im(cols, x.shape, k, stride, padding)`; reshape `dweight` back to $(O, C, k, k)$.

# %% [exercise]
def conv2d_backward(grad, x, weight, stride, padding):
    """(dL/dx, dL/dweight, dL/dbias) for y = conv2d(x, weight, bias, stride, padding), given grad = dL/dy."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
def tinygan_conv2d_backward(grad, x, weight, stride, padding):
    bias = np.zeros(weight.shape[0])  # the bias does not change any gradient, but it gets one
    return ex.reference_backward(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding),
                                 grad, x, weight, bias)


ex.check_against(conv2d_backward, tinygan_conv2d_backward, CASES, names=("dx", "dweight", "dbias"))
ex.check_gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
                   lambda grad, x, w, b: conv2d_backward(grad, x, w, 2, 1),
                   [rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)],
                   name="conv2d_backward")

# %% [markdown]
# ## What next
# `dx` is a col2im of a matrix product: a transposed convolution of the gradient with the
# same weight. Exercise 7 turns this around and builds `conv_transpose2d`'s forward the same way.
