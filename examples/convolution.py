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
     tinygan/ops/conv.py computes it.

Run:  python examples/convolution.py [--out DIR]
"""
from __future__ import annotations

import tinygan as tg  # first: it tunes OpenBLAS's threads, which works only before NumPy loads

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
def im2col_matrices(folder) -> dict:
    """The 5x5 example as one matrix product: (1 x 9 weights) @ (9 x 9 windows) = 1 x 9 outputs."""
    kernel, stride, padding, dilation = (3, 3), (1, 1), (0, 0), (1, 1)
    out_size = tuple(output_size(size, k, s, p, d)
                     for size, k, s, p, d in zip(IMAGE.shape, kernel, stride, padding, dilation))
    columns = reference_im2col(as_batch(IMAGE), kernel, stride, padding, dilation, out_size)
    same_as_kernel = np.array_equal(columns, im2col(as_batch(IMAGE), kernel, stride, padding, dilation, out_size))
    weight_row = EDGE_FILTER.reshape(1, -1)
    product = weight_row @ columns
    print_matrix("weight row W.reshape(1, 9)  (the filter read row by row)", weight_row)
    print_matrix("cols = im2col(image): column k is window k, read row by row", columns)
    print_matrix("W @ cols (1 x 9)", product)
    print_matrix("reshaped to the 3x3 output", product.reshape(out_size))
    print(f"  the NumPy reference im2col and the Numba kernel agree: {same_as_kernel}")

    figure, axes = new_figure(3, 1, panel_size=(5.0, 1.9), gridspec_kw={"height_ratios": [1, 9, 1]})
    show_matrix(axes[0, 0], weight_row, "weight row: the 3x3 filter flattened", cmap="coolwarm", vmin=-1.5, vmax=1.5)
    show_matrix(axes[1, 0], columns, "cols = im2col(image): one window per column", cmap="gray")
    show_matrix(axes[2, 0], product, "weight row @ cols = the 9 outputs (reshape to 3x3)", cmap="coolwarm",
                vmin=-35, vmax=35)
    path = save_figure(figure, folder, "convolution_im2col.png")
    return {"columns": columns, "weight_row": weight_row, "product": product,
            "kernel_agrees_with_reference": same_as_kernel}, path


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
    return {"by_hand": by_hand, "outputs": outputs, "visit_counts": counts, "im2col": matrices,
            "figures": [worked_path, counts_path, im2col_path]}


if __name__ == "__main__":
    main(sys.argv[1:])
