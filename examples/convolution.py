"""Convolution, worked by hand and then by tinygan: stride, padding, and im2col.

What it shows
  1. A 5x5 image (three bright columns of 10, two dark columns of 0) and a 3x3
     vertical-edge filter (columns 1, 0, -1).  Each output number is the sum of the
     element-wise products of the filter with one 3x3 window of the image; every window
     and every sum is printed, then checked against tinygan's conv2d.
  2. Stride and padding change which windows are taken: stride 1 gives 3x3, stride 2
     gives 2x2, padding 1 gives 5x5, and the strides need not be equal (4 down, 2 right).
  3. How often each pixel is visited.  A pixel's count is the gradient of
     sum(conv2d(x, a kernel of ones)) with respect to that pixel -- computed here with
     backward().  Without padding a corner is visited once and the centre many times.
  4. im2col: copy every window into a column of one matrix, and the whole convolution is
     one matrix product (weights as a row) @ (windows as columns).  That is how
     tinygan/ops/conv.py computes it.  The image here numbers its pixels 1 to 25, so
     every window (every column) is different and can be traced back to its place.
  5. Several channels: 3 input channels and 2 filters.  Each filter has one 3x3 slice per
     input channel; an output number is the sum, over the three channels, of that slice
     times that channel's window, plus the filter's bias.  Every partial sum is printed.

Run:  python examples/convolution.py [--out DIR]
"""
from __future__ import annotations

import tinygan as tg

import sys

import numpy as np

import tinygan.functional as F
from _plotting import (example_parser, format_matrix, heading, new_figure, output_folder, print_matrix, save_figure,
                       show_matrix)
from tinygan.kernels.im2col import im2col, output_size, reference_im2col

# The article's example: bright on the left, dark on the right, and a filter that
# responds where brightness falls from left to right (a vertical edge).
IMAGE = np.array([[10, 10, 10, 0, 0]] * 5, dtype=np.float64)
EDGE_FILTER = np.array([[1, 0, -1]] * 3, dtype=np.float64)

# For im2col: every pixel a different number (1 to 25, row by row), so no two windows look
# alike.  With the edge filter each window gives  (a - (a + 2)) * 3 rows = -6.
NUMBERED_IMAGE = np.arange(1, 26, dtype=np.float64).reshape(5, 5)

# (label, stride, padding) for the variations of the worked example.
SETTINGS = [("stride 1", 1, 0), ("stride 2", 2, 0), ("stride 1, padding 1", 1, 1),
            ("stride (4 down, 2 right)", (4, 2), 0)]


def as_batch(matrix: np.ndarray) -> np.ndarray:
    """A 2-D matrix as a (N=1, C=1, H, W) batch: the layout every tinygan op expects."""
    return matrix[None, None]


def convolve(image, kernel, stride=1, padding=0) -> np.ndarray:
    return F.conv2d(tg.tensor(as_batch(image)), tg.tensor(as_batch(kernel)), stride=stride, padding=padding).data[0, 0]


# ---------------------------------------------------------------------- 1. by hand
def step_by_step(image, kernel) -> np.ndarray:
    """Slide the filter over the image (stride 1, no padding), printing each window and its sum."""
    kernel_height, kernel_width = kernel.shape
    out_height, out_width = image.shape[0] - kernel_height + 1, image.shape[1] - kernel_width + 1
    result = np.zeros((out_height, out_width))
    for row in range(out_height):
        for column in range(out_width):
            window = image[row:row + kernel_height, column:column + kernel_width]
            products = window * kernel
            result[row, column] = products.sum()
            print(f"  output[{row}, {column}]: window {format_matrix(window).replace(chr(10), '')}"
                  f"  x filter  ->  products {format_matrix(products).replace(chr(10), '')}"
                  f"  ->  sum {result[row, column]:.0f}")
    return result


# ---------------------------------------------------------------------- 2. stride and padding
def stride_and_padding(folder, by_hand: np.ndarray) -> dict:
    outputs = {}
    for label, stride, padding in SETTINGS:
        outputs[label] = convolve(IMAGE, EDGE_FILTER, stride, padding)
        print_matrix(f"conv2d, {label} -> {outputs[label].shape[0]}x{outputs[label].shape[1]}", outputs[label])
    agrees = np.array_equal(outputs["stride 1"], by_hand)
    print(f"  tinygan's stride-1 output equals the hand-computed sums: {agrees}")

    figure, axes = new_figure(2, 3, panel_size=(2.8, 2.8))
    show_matrix(axes[0, 0], IMAGE, "image (5x5)", cmap="gray")
    show_matrix(axes[1, 0], EDGE_FILTER, "filter (3x3)", cmap="coolwarm", vmin=-1.5, vmax=1.5)
    for panel, (label, output) in zip(axes[:, 1:].T.ravel(), outputs.items()):
        show_matrix(panel, output, f"{label}\n{output.shape[0]}x{output.shape[1]}", cmap="coolwarm",
                    vmin=-35, vmax=35)
    path = save_figure(figure, folder, "convolution_worked_example.png",
                       title="Vertical-edge filter on the 5x5 image, with tinygan's conv2d")
    return outputs, path


# ---------------------------------------------------------------------- 3. visit counts from backward
def visit_counts(image_size: int, kernel_size: int, padding: int, stride: int = 1) -> np.ndarray:
    """How many windows contain each pixel: the gradient of sum(conv2d(x, ones)) w.r.t. x.

    d/dx[i, j] of sum over windows of (sum of the window's pixels) counts the windows that
    hold pixel (i, j) -- conv2d's backward (col2im) adds 1 for each of them.
    """
    pixels = tg.ones(1, 1, image_size, image_size, dtype=np.float64, requires_grad=True)
    ones_kernel = tg.ones(1, 1, kernel_size, kernel_size, dtype=np.float64)
    F.conv2d(pixels, ones_kernel, stride=stride, padding=padding).sum().backward()
    return pixels.grad[0, 0]


VISIT_CASES = [  # (label, image size, kernel size, padding)
    ("3x3 image, 2x2 kernel", 3, 2, 0), ("3x3 image, 2x2 kernel, padding 1", 3, 2, 1),
    ("5x5 image, 3x3 kernel", 5, 3, 0), ("5x5, 3x3, padding 1", 5, 3, 1), ("5x5, 3x3, padding 2", 5, 3, 2)]


def visit_count_maps(folder) -> dict:
    counts = {label: visit_counts(size, kernel, padding) for label, size, kernel, padding in VISIT_CASES}
    for label, matrix in counts.items():
        print_matrix(f"visits per pixel, {label}", matrix)
    print("  Padding k - 1 (1 for a 2x2 kernel, 2 for a 3x3 one) makes every count equal;\n"
          "  the common padding (k - 1) / 2 keeps the size but still visits the border less.")
    figure, axes = new_figure(2, 3, panel_size=(2.8, 2.8))
    for panel, (label, matrix) in zip([axes[0, 0], axes[0, 1], axes[1, 0], axes[1, 1], axes[1, 2]], counts.items()):
        show_matrix(panel, matrix, label, cmap="magma", vmin=0, vmax=9)
    axes[0, 2].axis("off")
    axes[0, 2].text(0, 0.5, "each number is\nx.grad of\nsum(conv2d(x, ones))\n= windows containing\nthat pixel",
                    fontsize=9, va="center")
    path = save_figure(figure, folder, "convolution_visit_counts.png", title="How often each pixel is visited")
    return counts, path


# ---------------------------------------------------------------------- 4. im2col
def im2col_matrices(folder, image=NUMBERED_IMAGE) -> dict:
    """A 5x5 image as one matrix product: (1 x 9 weights) @ (9 x 9 windows) = 1 x 9 outputs."""
    kernel, stride, padding, dilation = (3, 3), (1, 1), (0, 0), (1, 1)
    out_size = tuple(output_size(size, k, s, p, d)
                     for size, k, s, p, d in zip(image.shape, kernel, stride, padding, dilation))
    columns = reference_im2col(as_batch(image), kernel, stride, padding, dilation, out_size)
    same_as_kernel = np.array_equal(columns, im2col(as_batch(image), kernel, stride, padding, dilation, out_size))
    weight_row = EDGE_FILTER.reshape(1, -1)
    product = weight_row @ columns
    print_matrix("image: pixels numbered 1 to 25", image)
    print_matrix("weight row W.reshape(1, 9)  (the filter read row by row)", weight_row)
    print_matrix("cols = im2col(image): column k is window k, read row by row", columns)
    print_matrix("W @ cols (1 x 9)", product)
    print_matrix("reshaped to the 3x3 output (each window: 3 rows of a - (a + 2) = -6)", product.reshape(out_size))
    print(f"  conv2d gives the same: {np.array_equal(product.reshape(out_size), convolve(image, EDGE_FILTER))}")
    print(f"  the NumPy reference im2col and the Numba kernel agree: {same_as_kernel}")

    figure, axes = new_figure(1, 2, panel_size=(3.2, 3.2), gridspec_kw={"width_ratios": [5, 9]})
    show_matrix(axes[0, 0], image, "image, pixels numbered", cmap="viridis")
    axes[0, 0].add_patch(_window_outline(0, 1))  # window 1 (first row, second column) for the reader to find
    show_matrix(axes[0, 1], columns, "cols = im2col(image): one window per column\n"
                                     "(column 1 is the outlined window, read row by row)", cmap="viridis")
    axes[0, 1].add_patch(_column_outline(1, 9))
    path = save_figure(figure, folder, "convolution_im2col.png",
                       title=f"weight row {EDGE_FILTER.reshape(-1).astype(int).tolist()} @ cols = "
                             f"{product.reshape(-1).astype(int).tolist()}")
    return {"image": image, "columns": columns, "weight_row": weight_row, "product": product,
            "kernel_agrees_with_reference": same_as_kernel}, path


def _window_outline(row: int, column: int, size: int = 3):
    from matplotlib.patches import Rectangle

    return Rectangle((column - 0.5, row - 0.5), size, size, fill=False, edgecolor="red", linewidth=2)


def _column_outline(column: int, height: int):
    from matplotlib.patches import Rectangle

    return Rectangle((column - 0.5, -0.5), 1, height, fill=False, edgecolor="red", linewidth=2)


# ---------------------------------------------------------------------- 5. several channels
# 3 input channels of 4x4 and 2 filters of shape (3, 3, 3): small integers, so every
# partial sum can be checked by hand.
CHANNELS_INPUT = np.array([
    [[1, 2, 0, 1], [0, 1, 3, 1], [2, 0, 1, 0], [1, 1, 0, 2]],   # channel 0
    [[0, 1, 1, 0], [2, 0, 0, 1], [1, 3, 1, 0], [0, 1, 2, 1]],   # channel 1
    [[2, 0, 1, 2], [1, 1, 0, 0], [0, 2, 2, 1], [1, 0, 1, 3]],   # channel 2
], dtype=np.float64)
CHANNELS_WEIGHT = np.array([
    [[[1, 0, -1], [1, 0, -1], [1, 0, -1]],     # filter 0: a vertical edge on channel 0,
     [[0, 0, 0], [0, 1, 0], [0, 0, 0]],        #   the centre pixel of channel 1,
     [[0, 0, 0], [0, 0, 0], [0, 0, 0]]],       #   and channel 2 ignored
    [[[0, 0, 0], [0, 0, 0], [0, 0, 0]],        # filter 1: channel 0 ignored,
     [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],     #   a horizontal edge on channel 1,
     [[1, 1, 1], [1, 1, 1], [1, 1, 1]]],       #   the sum of channel 2's window
], dtype=np.float64)
CHANNELS_BIAS = np.array([1.0, -2.0])


def several_channels(folder) -> dict:
    """conv2d with C = 3 and O = 2: each output is a sum over channels of one window each, plus bias."""
    x, weight, bias = CHANNELS_INPUT, CHANNELS_WEIGHT, CHANNELS_BIAS
    output = F.conv2d(tg.tensor(x[None]), tg.tensor(weight), tg.tensor(bias)).data[0]
    out_height, out_width = output.shape[1:]
    # partial[o, c] is channel c's window times filter o's slice c: a 2x2 map per pair
    partial = np.zeros((2, 3, out_height, out_width))
    for o, c, i, j in np.ndindex(partial.shape):
        partial[o, c, i, j] = np.sum(x[c, i:i + 3, j:j + 3] * weight[o, c])
    by_hand = partial.sum(axis=1) + bias[:, None, None]
    for o in range(2):
        for i, j in np.ndindex(out_height, out_width):
            terms = " + ".join(f"{partial[o, c, i, j]:.0f}" for c in range(3)).replace("+ -", "- ")
            print(f"  output[{o}, {i}, {j}] = {terms}  (channels 0, 1, 2)  {'+' if bias[o] >= 0 else '-'} "
                  f"{abs(bias[o]):.0f} (bias)  = {by_hand[o, i, j]:.0f};  conv2d: {output[o, i, j]:.0f}")
    print(f"  weight shape {weight.shape} = (out, in, kh, kw): one 3x3 slice per (filter, input channel);\n"
          f"  each output channel reads all {x.shape[0]} input channels.")

    figure, axes = new_figure(4, 5, panel_size=(2.2, 2.2))
    limits = {"vmin": -10, "vmax": 10}
    for c in range(3):
        show_matrix(axes[c, 0], x[c], f"input channel {c}", cmap="Greys", vmin=0, vmax=4)
        for o in range(2):
            show_matrix(axes[c, 1 + 2 * o], weight[o, c], f"filter {o}, slice {c}", cmap="coolwarm", vmin=-2, vmax=2)
            show_matrix(axes[c, 2 + 2 * o], partial[o, c], f"channel {c} * filter {o}[{c}]", cmap="coolwarm", **limits)
    for o in range(2):
        show_matrix(axes[3, 2 + 2 * o], by_hand[o], f"output channel {o}\n= sum of the 3 above, bias {bias[o]:+.0f}",
                    cmap="coolwarm", **limits)
        axes[3, 1 + 2 * o].axis("off")
    axes[3, 0].axis("off")
    axes[3, 0].text(0, 0.5, "each output number:\nsum over channels c\nof window_c * slice_c,\nplus the bias",
                    fontsize=9, va="center")
    path = save_figure(figure, folder, "convolution_channels.png",
                       title="3 input channels, 2 filters of shape (3, 3, 3): conv2d -> 2 output channels")
    return {"output": output, "partial_sums": partial, "by_hand": by_hand}, path


def main(argv=None) -> dict:
    parser = example_parser("convolution", __doc__)
    args = parser.parse_args(argv)
    folder = output_folder(args.out)

    heading("1. The 5x5 image and the vertical-edge filter, one window at a time")
    print_matrix("image", IMAGE)
    print_matrix("filter", EDGE_FILTER)
    by_hand = step_by_step(IMAGE, EDGE_FILTER)

    heading("2. Stride and padding, computed by tinygan's conv2d")
    outputs, worked_path = stride_and_padding(folder, by_hand)

    heading("3. How often each pixel is visited (x.grad of sum(conv2d(x, ones)))")
    counts, counts_path = visit_count_maps(folder)

    heading("4. im2col: the convolution as one matrix product")
    matrices, im2col_path = im2col_matrices(folder)

    heading("5. Three input channels, two filters")
    channels, channels_path = several_channels(folder)
    return {"by_hand": by_hand, "outputs": outputs, "visit_counts": counts, "im2col": matrices,
            "channels": channels, "figures": [worked_path, counts_path, im2col_path, channels_path]}


if __name__ == "__main__":
    main(sys.argv[1:])
