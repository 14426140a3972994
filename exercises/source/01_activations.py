# %% [markdown]
# # Exercise 1: activations and their backward
#
# An activation acts on each element on its own, $y_i = f(x_i)$, so by the chain rule its
# backward is the upstream gradient $g = \partial L / \partial y$ times the derivative at
# that element:
#
# $$\frac{\partial L}{\partial x_i} = g_i \, f'(x_i)$$
#
# | activation | $f(x)$ | $f'$, written with what backward has at hand |
# |---|---|---|
# | ReLU | $\max(0, x)$ | $1$ if $x > 0$, else $0$ (at $x = 0$ torch and tinygan use $0$) |
# | LeakyReLU | $x$ if $x > 0$, else $a x$ | $1$ if $x > 0$, else $a$ (ReLU is $a = 0$) |
# | Sigmoid | $\sigma(x) = 1 / (1 + e^{-x})$ | $\sigma'(x) = y (1 - y)$ with $y = \sigma(x)$, the output |
# | Tanh | $\tanh x$ | $1 - y^2$ with $y = \tanh x$, the output |
#
# Sigmoid and tanh are written with their *output* $y$: the forward already computed it, so
# the backward saves $y$ and needs no second `exp`. Read more in
# [docs/activations.md](../docs/activations.md).
#
# **How these notebooks work.** Run the cells in order. Fill in each cell marked
# `# YOUR CODE HERE` (replace `raise NotImplementedError`), run it, then run the check below
# it. The check compares your function with tinygan's own op and with central differences
# (`tg.gradcheck`) on small random inputs, and if something differs it tells you what: the
# shape, the first wrong element, a constant factor, a transposed result, a NaN.
# The reference answers are in `solutions/activations.py`; try without them first.

# %%
import numpy as np

import tinygan as tg
import tinygan.functional as F
from tinygan import exercises as ex

rng = np.random.default_rng(0)
x = rng.standard_normal((3, 5))  # float64: checks run in double precision
g = rng.standard_normal((3, 5))  # an upstream gradient dL/dy

# %% [markdown]
# ## 1. LeakyReLU (and so ReLU)
# Return $\partial L/\partial x$: `grad` where `x > 0`, `negative_slope * grad` elsewhere.
# One `np.where` is enough.

# %% [exercise]
def leaky_relu_backward(grad, x, negative_slope):
    """dL/dx for y = leaky_relu(x, negative_slope), given grad = dL/dy (same shape as x)."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
# The last two cases have x = 0 exactly in column 1: there the derivative is the one of
# x <= 0 (0 for ReLU, the slope for LeakyReLU), as in torch. Central differences cannot
# judge a kink, so gradcheck gets x without zeros.
x_at_kink = x.copy()
x_at_kink[:, 1] = 0.0
ex.check_against(leaky_relu_backward,
                 lambda grad, x, slope: ex.reference_backward(lambda t: F.leaky_relu(t, slope), grad, x),
                 [(g, x, 0.0), (g, x, 0.2), (g, x_at_kink, 0.0), (g, x_at_kink, 0.2)])
ex.check_gradcheck(lambda x: F.leaky_relu(x, 0.2), lambda grad, x: leaky_relu_backward(grad, x, 0.2), [x],
                   name="leaky_relu_backward")

# %% [markdown]
# ## 2. Sigmoid
# Return $\partial L/\partial x = g \, y (1 - y)$, given the output `y` $= \sigma(x)$.

# %% [exercise]
def sigmoid_backward(grad, y):
    """dL/dx for y = sigmoid(x), from grad = dL/dy and the forward's output y."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
y = F.sigmoid(tg.tensor(x)).data
ex.expect_close(ex.answer(sigmoid_backward, g, y), ex.reference_backward(F.sigmoid, g, x), "sigmoid_backward(g, y)",
                factor_hints={2.0: "the derivative is y (1 - y), not 2 y (1 - y)"})
ex.check_gradcheck(F.sigmoid, lambda grad, x: sigmoid_backward(grad, F.sigmoid(x).data), [x],
                   name="sigmoid_backward")

# %% [markdown]
# ## 3. Tanh
# Return $\partial L/\partial x = g \, (1 - y^2)$, given the output `y` $= \tanh x$.

# %% [exercise]
def tanh_backward(grad, y):
    """dL/dx for y = tanh(x), from grad = dL/dy and the forward's output y."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
y = F.tanh(tg.tensor(x)).data
ex.expect_close(ex.answer(tanh_backward, g, y), ex.reference_backward(F.tanh, g, x), "tanh_backward(g, y)")
ex.check_gradcheck(F.tanh, lambda grad, x: tanh_backward(grad, F.tanh(x).data), [x], name="tanh_backward")

# %% [markdown]
# ## What next
# tinygan computes ReLU and LeakyReLU in one fused kernel (`tinygan/kernels/activation.py`,
# beside its NumPy reference) and sigmoid and tanh in `tinygan/ops/activation.py`. Try:
# what does `sigmoid_backward` give for `y` near 0 or 1, i.e. $|x|$ large? That is the
# vanishing gradient the docs page shows.
