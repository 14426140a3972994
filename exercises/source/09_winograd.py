# %% [markdown]
# # Exercise 9: four phases and Winograd's F(4, 2)
#
# The DCGAN's two big layers are 4x4 convolutions with stride 2 and padding 1. im2col spends
# $16C$ multiply-adds on every output number; tinygan's Winograd path
# (`tinygan/kernels/winograd.py`) computes the same numbers with about half as many
# multiplications, in two exact rewrites. You write both here, then put them together.
#
# **Winograd's minimal filtering F(4, 2).** Four outputs of a 2-tap filter $g$ over five inputs $d$,
#
# $$y_i = g_0\, d_i + g_1\, d_{i+1}, \qquad i = 0, 1, 2, 3,$$
#
# take 8 multiplications. These take 5, the element-wise product $\odot$ of two 5-vectors:
#
# $$y = A^T \big[ (G\, g) \odot (B^T d) \big]$$
#
# with constant matrices $A^T$ (4x5), $G$ (5x2) and $B^T$ (5x5). $G g$ is the filter as the
# polynomial $g_0 + g_1 t$ at five points, here $0, 1, -1, -\tfrac12$ and infinity (where it is
# the top coefficient $g_1$); $B^T$ and $A^T$ come from interpolating the product back, and
# `winograd.toom_cook` derives all three in exact fractions. The multiplications by these
# constants do not grow with the layer: $G g$ is computed once per filter, $B^T d$ once per
# input tile (for every filter), $A^T$ once per output tile (after the sum over channels).
# In 2-D, a 4x4 tile of outputs of a 2x2 filter over a 5x5 input tile takes 25 products
# instead of 64:
#
# $$Y = A^T \big[ (G\, g\, G^T) \odot (B^T d\, B) \big] A .$$
#
# **Four phases.** Only a 2-tap filter fits F(4, 2), and the layer's kernel is 4x4 with
# stride 2. But with stride 2, the taps in even rows of the kernel only ever meet even rows of
# the padded image, and the odd taps odd rows. Split both by parity, $k_y = 2u + p$,
# $k_x = 2v + q$ ($u, v, p, q \in \{0, 1\}$):
#
# $$X_{pq}[c, a, b] = x_\text{pad}[c,\ 2a + p,\ 2b + q], \qquad W_{pq}[o, c, u, v] = W[o, c,\ 2u + p,\ 2v + q],$$
#
# $$y[o, i, j] = \sum_{c,\, p,\, q} \ \sum_{u, v} W_{pq}[o, c, u, v]\ X_{pq}[c,\ i + u,\ j + v]:$$
#
# a stride-1 convolution with a 2x2 kernel over $4C$ channels of half-size images, which
# F(4, 2) can do. See [docs/convolution.md](../docs/convolution.md#half-the-multiplications-four-phases-and-winograd)
# and `python examples/winograd.py`. Fill in each cell marked `# YOUR CODE HERE`, run it,
# then run the check below it. Reference answers: `solutions/winograd.py`.

# %%
import numpy as np

import tinygan.functional as F
from tinygan import exercises as ex
from tinygan.kernels import winograd

AT, G, BT = winograd.AT, winograd.G, winograd.BT  # A^T, G, B^T for the points 0, 1, -1, -1/2 and infinity
for name, exact in zip(("AT", "G", "BT"), winograd.toom_cook(winograd.POINTS, 4, 2)):
    print(f"{name} =")
    for row in exact:  # the exact fractions behind the float64 matrices
        print("   ", "".join(f"{str(value):>6}" for value in row))
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. F(4, 2) in 1-D
# Three matrix-vector products and one element-wise product. Use the matrices you are
# given: the check also passes those of other points ($0, 1, -1, 2$ and infinity), and any
# five distinct points give the same four outputs.

# %% [exercise]
def winograd_1d(g, d, AT, G, BT):
    """The 4 outputs y[i] = g[0] d[i] + g[1] d[i + 1] of a 2-tap filter g over 5 inputs d, with 5 multiplications."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
OTHER_POINTS = [np.array(m, dtype=np.float64) for m in winograd.toom_cook((0, 1, -1, 2), 4, 2)]
cases = [(np.array([2.0, 1.0]), np.arange(1.0, 6.0))] + [(rng.standard_normal(2), rng.standard_normal(5))
                                                         for _ in range(3)]
for points, matrices in (("0, 1, -1, -1/2", (AT, G, BT)), ("0, 1, -1, 2", OTHER_POINTS)):
    for g, d in cases:
        direct = g[0] * d[:4] + g[1] * d[1:]  # the definition: 8 multiplications
        ex.expect_close(ex.answer(winograd_1d, g, d, *matrices), direct,
                        f"winograd_1d(g, d, ...) with g = {g.round(3)}, d = {d.round(3)}, the points {points}, inf")
print("g = (2, 1), d = (1, 2, 3, 4, 5):", winograd_1d(*cases[0], AT, G, BT), " (directly: 4, 7, 10, 13)")
print(f"OK: winograd_1d gives the direct outputs in all {2 * len(cases)} cases")

# %% [markdown]
# ## 2. F(4x4, 2x2): one tile in 2-D
# The same transforms along both axes: $G g G^T$ is 5x5, and so is $B^T d B$. Remember that
# you are given $B^T$ (`BT`) and $A^T$ (`AT`): $B$ is `BT.T`. The check compares your tile with
# tinygan's `conv2d` of the 5x5 tile and the 2x2 filter (stride 1, no padding), a 4x4 output.

# %% [exercise]
def winograd_tile_2d(g, d, AT, G, BT):
    """The 4x4 outputs Y[i, j] = sum over u, v of g[u, v] d[i + u, j + v] of a 2x2 filter g over a 5x5 tile d."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
tile_cases = [(np.array([[1.0, 2.0], [3.0, 4.0]]), np.arange(25.0).reshape(5, 5), AT, G, BT)]
tile_cases += [(rng.standard_normal((2, 2)), rng.standard_normal((5, 5)), AT, G, BT) for _ in range(3)]
ex.check_against(winograd_tile_2d, lambda g, d, *matrices: F.conv2d(d[None, None], g[None, None]).data[0, 0],
                 tile_cases)

# %% [markdown]
# ## 3. The four phases
# Split a padded batch $(N, C, H, W)$, $H$ and $W$ even, into its four parity phases, an
# array $(N, 4C, H/2, W/2)$. The channels go phase by phase, as in tinygan's kernels:
# channel $(2p + q)\,C + c$ is phase $(p, q)$ of channel $c$, `x_pad[:, c, p::2, q::2]`.
#
# Hint: one `reshape` gives every row index $2a + p$ its own two axes $(a, p)$, and every
# column $2b + q$ the axes $(b, q)$; a `transpose` puts $p, q$ before $c$; a last `reshape`
# merges $(p, q, c)$ into one axis. (A loop over the four phases with slices works too.)
#
# A kernel's taps split the same way: `phases(weight)` of a weight $(O, C, 4, 4)$ is the
# $(O, 4C, 2, 2)$ weight of the stride-1 convolution over the phases.

# %% [exercise]
def phases(x_pad):
    """(N, C, H, W), H and W even -> (N, 4C, H/2, W/2): channel (2p + q) C + c is x_pad[:, c, p::2, q::2]."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
def phases_by_slicing(x_pad):
    """The truth, phase by phase: the rows of parity p and the columns of parity q."""
    return np.concatenate([x_pad[:, :, p::2, q::2] for p in (0, 1) for q in (0, 1)], axis=1)


for shape in [(1, 1, 4, 4), (2, 3, 8, 8), (1, 2, 6, 10)]:
    x_pad = rng.standard_normal(shape)
    ex.expect_close(ex.answer(phases, x_pad), phases_by_slicing(x_pad),
                    f"phases(x_pad) for x_pad of shape {shape} (channel (2p + q) C + c: x_pad[:, c, p::2, q::2])")
print("OK: phases splits every image into its four phases, channel (2p + q) C + c")

# %% [markdown]
# ## 4. The stride-2 convolution as a stride-1 one over the phases
# No new code: your `phases` of the padded image and of the weight, convolved with stride 1,
# must give the stride-2, padding-1 convolution. (This would pass with any channel order
# used for both; the check above fixes tinygan's.)

# %% [check]
for x_shape, weight_shape in [((2, 3, 8, 8), (5, 3, 4, 4)), ((1, 2, 14, 10), (4, 2, 4, 4))]:
    x, weight = rng.standard_normal(x_shape), rng.standard_normal(weight_shape)
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    over_phases = F.conv2d(ex.answer(phases, x_pad), ex.answer(phases, weight)).data  # stride 1, 2x2 kernels
    ex.expect_close(over_phases, F.conv2d(x, weight, stride=2, padding=1).data,
                    f"conv2d(phases(x_pad), phases(weight)) for x {x_shape}, weight {weight_shape}")
print("OK: conv2d(x, weight, stride=2, padding=1) = conv2d(phases(x_pad), phases(weight)), stride 1")

# %% [markdown]
# ## 5. Putting it together: one 8x8 image, one 4x4 tile
# An 8x8 image padded by 1 is 10x10, so each of its phases is 5x5: exactly one input tile of
# F(4x4, 2x2), and the stride-2 output is 4x4, exactly one output tile. Compute it with
# `phases` (of `x_pad[None]` and of `weight[None]`: a batch of one) and `winograd_tile_2d`,
# one tile per phase channel, summed.

# %% [exercise]
def stride2_tile(x, weight, AT, G, BT):
    """conv2d(x, weight, stride=2, padding=1) of one 8x8 image x (C, 8, 8) with one filter weight (C, 4, 4): (4, 4)."""
    # YOUR CODE HERE
    raise NotImplementedError

# %% [check]
tile_cases = [(rng.standard_normal((c, 8, 8)), rng.standard_normal((c, 4, 4)), AT, G, BT) for c in (1, 3, 8)]
ex.check_against(stride2_tile, lambda x, weight, *matrices: F.conv2d(x[None], weight[None], stride=2, padding=1)
                 .data[0, 0], tile_cases)

# %% [markdown]
# ## What next
# Count the products your `stride2_tile` made: 25 per phase channel, $4C \cdot 25 = 100\,C$
# for the 16 outputs, against $16 \cdot 16\,C = 256\,C$ directly (16 taps per output, $C$
# channels). A layer does the same for every filter and tile at once: tinygan transforms
# every filter once, $U$ of shape (25, O, 4C), and every input tile once, $V$ of shape
# (25, 4C, tiles x N), and then the layer is 25 matrix products $U[\xi, \eta]\, V[\xi, \eta]$:
# the sum over the phase channels is each product's inner dimension. D's 7x7 outputs need
# 2x2 tiles of 4x4 (the eighth row and column are thrown away), so there it is $4 \cdot 4 \cdot 25 = 400$
# multiply-adds per filter, channel and image against im2col's $16 \cdot 49 = 784$. The backward is the same
# transforms transposed; [docs/performance.md](../docs/performance.md#half-the-multiplications-winograd)
# says what it gained.
