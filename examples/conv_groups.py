"""Grouped and depthwise convolution, and padding='same' with an even kernel.

What it shows
  1. Which input channels feed which output channel, for groups = 1, 2 and C (depthwise).
     The connections are not drawn from the rule but measured with backward(): output
     channel o depends on input channel c exactly when the gradient of sum(y[:, o])
     with respect to x[:, c] is not zero.  With groups=g the channels split into g
     blocks and block k of the output sees only block k of the input.
  2. Why depthwise-separable convolution is cheap: nn.summary counts the multiply-adds
     of a 3x3 convolution 32 -> 64 and of its depthwise-separable replacement (a 3x3
     depthwise convolution, groups=32, then a 1x1 "pointwise" one 32 -> 64).
  3. padding='same' with a 2x2 kernel: one zero in total per axis, which torch (and
     tinygan) put after the image, at the bottom and on the right.

Run:  python examples/conv_groups.py [--out DIR]
"""
from __future__ import annotations

import tinygan as tg

import sys

import numpy as np

import tinygan.functional as F
import tinygan.nn as nn
from _plotting import example_parser, heading, new_figure, output_folder, print_matrix, save_figure

CHANNELS = 4                       # in and out channels of the connectivity pictures
GROUP_SETTINGS = (1, 2, CHANNELS)  # plain, two groups, depthwise


# ---------------------------------------------------------------------- 1. who feeds whom
def connections(groups: int, channels: int = CHANNELS) -> np.ndarray:
    """(out, in) table of booleans: does output channel o depend on input channel c?

    Measured, not assumed: backward() of sum(y[:, o]) (an upstream gradient of ones on
    channel o, zeros elsewhere) gives x.grad, which is non-zero exactly on the input
    channels that output channel o reads.
    """
    rng = np.random.default_rng(0)
    weight = tg.tensor(rng.uniform(0.5, 1.5, size=(channels, channels // groups, 3, 3)))  # no zero weights
    table = np.zeros((channels, channels), dtype=bool)
    for o in range(channels):
        x = tg.tensor(rng.standard_normal((1, channels, 5, 5)), requires_grad=True)
        y = F.conv2d(x, weight, padding=1, groups=groups)
        upstream = np.zeros(y.shape)
        upstream[:, o] = 1
        y.backward(upstream)
        table[o] = np.abs(x.grad).sum(axis=(0, 2, 3)) > 0
    return table


def draw_connections(axis, table: np.ndarray, groups: int) -> None:
    """Input channels on top, output channels below, a line for each dependence, coloured by group."""
    out_channels, in_channels = table.shape
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for o in range(out_channels):
        for c in range(in_channels):
            if table[o, c]:
                group = o // (out_channels // groups)
                axis.plot([c, o], [1, 0], color=colours[group % len(colours)], linewidth=2)
    axis.scatter(range(in_channels), [1] * in_channels, s=260, color="white", edgecolor="black", zorder=3)
    axis.scatter(range(out_channels), [0] * out_channels, s=260, color="lightgray", edgecolor="black", zorder=3)
    for c in range(in_channels):
        axis.text(c, 1, f"x{c}", ha="center", va="center", fontsize=8, zorder=4)
    for o in range(out_channels):
        axis.text(o, 0, f"y{o}", ha="center", va="center", fontsize=8, zorder=4)
    name = {1: "groups=1 (every input)", in_channels: f"groups={groups} (depthwise)"}.get(groups, f"groups={groups}")
    axis.set_title(f"{name}\nweight {(out_channels, in_channels // groups, 3, 3)}", fontsize=9)
    axis.set_xlim(-0.6, max(in_channels, out_channels) - 0.4)
    axis.set_ylim(-0.35, 1.35)
    axis.axis("off")


def connectivity(folder) -> tuple[dict, object]:
    tables = {groups: connections(groups) for groups in GROUP_SETTINGS}
    for groups, table in tables.items():
        print_matrix(f"groups={groups}: row o, column c is 1 when output channel o reads input channel c",
                     table.astype(int))
    figure, axes = new_figure(1, len(tables), panel_size=(3.0, 2.6))
    for axis, (groups, table) in zip(axes[0], tables.items()):
        draw_connections(axis, table, groups)
    path = save_figure(figure, folder, "conv_groups.png",
                       title="Which input channels feed which output channel (measured with backward)")
    return tables, path


# ---------------------------------------------------------------------- 2. the cost of depthwise-separable
def separable_cost(size: int = 16) -> dict:
    """Multiply-adds of a 3x3 convolution 32 -> 64 and of depthwise 3x3 + pointwise 1x1, from nn.summary."""
    shape = (1, 32, size, size)
    standard = nn.summary(nn.Conv2d(32, 64, 3, padding="same"), shape)
    separable = nn.summary(nn.Sequential(nn.Conv2d(32, 32, 3, padding="same", groups=32),  # depthwise
                                         nn.Conv2d(32, 64, 1)), shape)                     # pointwise
    print("A 3x3 convolution 32 -> 64:")
    print(standard)
    print("\nDepthwise 3x3 (groups=32) then pointwise 1x1 32 -> 64:")
    print(separable)
    ratio = standard.total_mult_adds / separable.total_mult_adds
    print(f"\nPer output pixel the standard convolution does 64 * 32 * 9 = {64 * 32 * 9:,} multiply-adds;\n"
          f"the separable pair 32 * 1 * 9 + 64 * 32 * 1 = {32 * 9 + 64 * 32:,}, "
          f"{ratio:.1f} times fewer (the fraction is 1/64 + 1/9).")
    return {"standard": standard.total_mult_adds, "separable": separable.total_mult_adds,
            "separable_layers": [layer.mult_adds for layer in separable.layers], "ratio": ratio}


# ---------------------------------------------------------------------- 3. 'same' with an even kernel
def same_with_even_kernel() -> np.ndarray:
    x = np.arange(1, 10, dtype=np.float64).reshape(3, 3)
    out = F.conv2d(tg.tensor(x[None, None]), tg.ones(1, 1, 2, 2, dtype=np.float64), padding="same").data[0, 0]
    print_matrix("image", x)
    print_matrix("conv2d(image, 2x2 ones, padding='same'): each output sums the 2x2 block starting at it", out)
    print("  The total padding d (k - 1) = 1 is odd: 0 zeros before, 1 after (the bottom row and the\n"
          "  right column), so out[0, 0] = 1 + 2 + 4 + 5 and out[2, 2] = 9 alone.")
    return out


def main(argv=None) -> dict:
    parser = example_parser("conv_groups", __doc__)
    args = parser.parse_args(argv)
    folder = output_folder(args.out)

    heading("1. Which input channels feed which output channel (groups = 1, 2, C)")
    tables, path = connectivity(folder)

    heading("2. Depthwise-separable convolution: the multiply-adds counted by nn.summary")
    cost = separable_cost()

    heading("3. padding='same' with an even (2x2) kernel")
    same = same_with_even_kernel()
    return {"connections": tables, "cost": cost, "same": same, "figures": [path]}


if __name__ == "__main__":
    main(sys.argv[1:])
