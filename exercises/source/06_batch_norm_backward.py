# %% [markdown]
# # Exercise 6: the closed-form backward of batch normalisation
#
# In training mode, batch norm normalises each channel $c$ over its $m = N \cdot H \cdot W$
# values in the batch, then scales and shifts it:
#
# $$\mu = \frac1m \sum x, \qquad \sigma^2 = \frac1m \sum (x - \mu)^2 \ \text{(biased)}, \qquad
#   s = \frac{1}{\sqrt{\sigma^2 + \varepsilon}}, \qquad \hat x = (x - \mu)\, s, \qquad
#   y = \gamma\, \hat x + \beta$$
#
# ($\gamma$ = `weight`, $\beta$ = `bias`, $\varepsilon = 10^{-5}$; sums over the channel's $m$ values).
# With $g = \partial L/\partial y$, the parameters are easy:
# $\partial L/\partial\beta = \sum g$ and $\partial L/\partial\gamma = \sum g\,\hat x$.
# The input is harder, because $x$ reaches $\hat x$ three ways: directly, through $\mu$ and
# through $\sigma^2$. With $d = \partial L/\partial \hat x = g\,\gamma$:
#
# $$\frac{\partial L}{\partial \sigma^2} = -\tfrac12 s^3 \sum d\,(x - \mu), \qquad
#   \frac{\partial L}{\partial \mu} = -s \sum d \quad (\text{the } \sigma^2 \text{ path adds } 0\text{, as } \textstyle\sum (x - \mu) = 0),$$
#
# $$\frac{\partial L}{\partial x} = s\, d + \frac{\partial L}{\partial \sigma^2}\, \frac{2 (x - \mu)}{m} + \frac{\partial L}{\partial \mu}\, \frac1m$$
#
# and, writing $(x - \mu)s = \hat x$ and $\text{mean}$ for $\frac1m\sum$ over the channel, it all folds into
#
# $$\boxed{\ \frac{\partial L}{\partial x} = \gamma\, s\,\big(g - \text{mean}(g) - \hat x\ \text{mean}(g\,\hat x)\big)\ }$$
#
# The two subtracted terms remove from $g$ what would move the channel's mean and its
# spread: those are normalised away, so they cannot change $L$. See
# [docs/batch_norm.md](../docs/batch_norm.md) and `tinygan/ops/norm.py`. Reference answer:
# `solutions/batch_norm_backward.py`.

# %%
import numpy as np

import tinygan as tg
import tinygan.functional as F
from tinygan import exercises as ex

rng = np.random.default_rng(0)


def bn_case(shape):
    """(grad, x, weight): x with a mean and spread of its own per channel, weights away from 1."""
    channels = shape[1]
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3, (1, channels, 1, 1)) + rng.normal(0, 2, (1, channels, 1, 1))
    return rng.standard_normal(shape), x, rng.uniform(0.5, 2, channels)


CASES = [bn_case((4, 3, 2, 2)), bn_case((2, 2, 3, 5)), bn_case((8, 1, 1, 1))]

# %% [markdown]
# ## batch_norm_backward
# Recompute $\mu$, $\sigma^2$, $s$ and $\hat x$ from `x` (reduce over the axes `(0, 2, 3)`
# with `keepdims=True` so everything broadcasts), then return the tuple
# `(dx, dweight, dbias)` with the shapes of `x`, `weight` and `weight`. Use the boxed formula.

# %% [exercise]
def batch_norm_backward(grad, x, weight, eps=1e-5):
    """(dL/dx, dL/dweight, dL/dbias) for y = batch_norm(x, weight, bias) in training mode, given grad = dL/dy."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
def tinygan_batch_norm_backward(grad, x, weight):
    bias = np.zeros_like(weight)  # it does not change any gradient, but it gets one
    return ex.reference_backward(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                                 grad, x, weight, bias)


ex.check_against(batch_norm_backward, tinygan_batch_norm_backward, CASES, names=("dx", "dweight", "dbias"))
ex.check_gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
                   lambda grad, x, w, b: batch_norm_backward(grad, x, w),
                   [CASES[0][1], CASES[0][2], rng.standard_normal(3)], name="batch_norm_backward")

# %% [markdown]
# ## What next
# Try the eval-mode backward: with the running statistics as constants, only the first
# term survives, $\partial L/\partial x = \gamma\, s\, g$. Forgetting that the statistics
# depend on $x$ in training mode is the classic batch-norm bug; `tg.gradcheck` finds it at once.
