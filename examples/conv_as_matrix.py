"""The matrix behind "transposed": a convolution is a matrix K, a transposed convolution is K^T.

What it shows
  1. A 4x4 image and a 3x3 kernel (stride 1, no padding) give a 2x2 output.  Flatten the
     image to 16 numbers and the output to 4: the convolution is a 4x16 matrix K whose
     row r holds the kernel at the place of window r and zeros elsewhere.  K is built
     here from the definition, entry by entry, and conv2d(x) == K x is checked.
  2. conv_transpose2d with the same weight is K^T: it maps 4 numbers back to 16, and
     conv_transpose2d(y) == K^T y.
  3. The backward of one is the other, checked with backward():  x.grad of
     sum(conv2d(x) * g) is K^T g = conv_transpose2d(g), and y.grad of
     sum(conv_transpose2d(y) * h) is K h = conv2d(h).
  4. The zero-insertion view of a stride-2 transposed convolution: put s - 1 zeros
     between the input pixels, pad by k - 1 - p, and run an ordinary stride-1
     convolution with the kernel flipped.  Same numbers -- but most of the multiplications
     are by the inserted zeros, which is why tinygan paints patches with col2im instead.
     Both ways are counted (multiplications and the size of the im2col matrix) for one
     of the DCGAN generator's layers.

Run:  python examples/conv_as_matrix.py [--out DIR]
"""
from __future__ import annotations

import tinygan as tg

import sys

import numpy as np

import tinygan.functional as F
from _plotting import example_parser, heading, new_figure, output_folder, print_matrix, save_figure, show_matrix

IMAGE_SIZE, KERNEL_SIZE = 4, 3
KERNEL = np.arange(1, 10, dtype=np.float64).reshape(3, 3)  # distinct taps, so every entry of K can be traced


def as_batch(matrix: np.ndarray) -> np.ndarray:
    """A 2-D matrix as a (1, 1, H, W) batch; for a weight that is (out=1, in=1, kh, kw)."""
    return matrix[None, None]


def convolution_matrix(kernel: np.ndarray, image_size: int) -> np.ndarray:
    """K with conv2d(x).ravel() == K @ x.ravel() (stride 1, no padding), from the definition.

    y[i, j] = sum over a, b of kernel[a, b] * x[i + a, j + b], so row (i, j) of K holds
    kernel[a, b] in column (i + a, j + b).
    """
    kernel_size = kernel.shape[0]
    out = image_size - kernel_size + 1
    matrix = np.zeros((out * out, image_size * image_size))
    for i, j, a, b in np.ndindex(out, out, kernel_size, kernel_size):
        matrix[i * out + j, (i + a) * image_size + (j + b)] = kernel[a, b]
    return matrix


def conv(x, kernel, **options) -> np.ndarray:
    return F.conv2d(tg.tensor(as_batch(x)), tg.tensor(as_batch(kernel)), **options).data[0, 0]


def conv_t(y, kernel, **options) -> np.ndarray:
    return F.conv_transpose2d(tg.tensor(as_batch(y)), tg.tensor(as_batch(kernel)), **options).data[0, 0]


# ---------------------------------------------------------------------- 1 and 2. K and K^T
def the_matrix(folder, rng) -> dict:
    matrix = convolution_matrix(KERNEL, IMAGE_SIZE)
    out = IMAGE_SIZE - KERNEL_SIZE + 1
    print_matrix("kernel", KERNEL)
    print_matrix(f"K ({matrix.shape[0]}x{matrix.shape[1]}): row r is the kernel laid over window r of the "
                 f"flattened {IMAGE_SIZE}x{IMAGE_SIZE} image", matrix)
    x = rng.integers(-3, 4, (IMAGE_SIZE, IMAGE_SIZE)).astype(np.float64)
    y = rng.integers(-3, 4, (out, out)).astype(np.float64)
    forward = {"conv2d(x)": conv(x, KERNEL).ravel(), "K x": matrix @ x.ravel(),
               "conv_transpose2d(y)": conv_t(y, KERNEL).ravel(), "K^T y": matrix.T @ y.ravel()}
    print_matrix("x", x)
    print(f"  conv2d(x)            = {forward['conv2d(x)']}")
    print(f"  K x                  = {forward['K x']}")
    print_matrix("y", y)
    print_matrix("conv_transpose2d(y)  (4x4)", forward["conv_transpose2d(y)"].reshape(IMAGE_SIZE, IMAGE_SIZE))
    print_matrix("K^T y, reshaped to 4x4", forward["K^T y"].reshape(IMAGE_SIZE, IMAGE_SIZE))

    figure, axes = new_figure(1, 2, panel_size=(5.0, 5.2), gridspec_kw={"width_ratios": [16, 5]})
    show_matrix(axes[0, 0], matrix, "K (4 x 16): conv2d of a flattened 4x4 image\n"
                                    "row r = the 3x3 kernel laid over window r", cmap="Blues", vmin=0, vmax=12)
    show_matrix(axes[0, 1], matrix.T, "K^T (16 x 4):\nconv_transpose2d", cmap="Blues", vmin=0, vmax=12)
    path = save_figure(figure, folder, "conv_as_matrix.png",
                       title="kernel [[1, 2, 3], [4, 5, 6], [7, 8, 9]], stride 1: the convolution and its transpose")
    return {"K": matrix, "x": x, "y": y, **forward}, path


# ---------------------------------------------------------------------- 3. the backward of one is the other
def backward_is_the_transpose(matrix, rng) -> dict:
    out = IMAGE_SIZE - KERNEL_SIZE + 1
    x = tg.tensor(as_batch(rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE))), requires_grad=True)
    g = rng.standard_normal((out, out))
    (F.conv2d(x, tg.tensor(as_batch(KERNEL))) * tg.tensor(as_batch(g))).sum().backward()
    y = tg.tensor(as_batch(rng.standard_normal((out, out))), requires_grad=True)
    h = rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE))
    (F.conv_transpose2d(y, tg.tensor(as_batch(KERNEL))) * tg.tensor(as_batch(h))).sum().backward()
    result = {"conv2d backward": x.grad[0, 0].ravel(), "K^T g": matrix.T @ g.ravel(),
              "conv_transpose2d(g)": conv_t(g, KERNEL).ravel(),
              "conv_transpose2d backward": y.grad[0, 0].ravel(), "K h": matrix @ h.ravel(),
              "conv2d(h)": conv(h, KERNEL).ravel()}
    print("  x.grad of sum(conv2d(x) * g):            ", np.round(result["conv2d backward"][:6], 4), "...")
    print("  K^T g:                                   ", np.round(result["K^T g"][:6], 4), "...")
    print("  y.grad of sum(conv_transpose2d(y) * h):  ", np.round(result["conv_transpose2d backward"], 4))
    print("  K h:                                     ", np.round(result["K h"], 4))
    print("  So conv2d's backward is conv_transpose2d, and conv_transpose2d's backward is conv2d.")
    return result


# ---------------------------------------------------------------------- 4. zero insertion
def insert_zeros(y: np.ndarray, stride: int) -> np.ndarray:
    """stride - 1 zeros between neighbouring pixels: an (H - 1) s + 1 square."""
    spread = np.zeros(((y.shape[0] - 1) * stride + 1, (y.shape[1] - 1) * stride + 1))
    spread[::stride, ::stride] = y
    return spread


def zero_insertion(folder, rng, stride: int = 2, padding: int = 0) -> dict:
    """conv_transpose2d(y, w, stride s, padding p) == conv2d(pad(insert_zeros(y)), flipped w)."""
    y = rng.integers(1, 5, (3, 3)).astype(np.float64)
    spread = insert_zeros(y, stride)
    border = KERNEL_SIZE - 1 - padding
    padded = np.pad(spread, border)
    flipped = KERNEL[::-1, ::-1]
    by_zero_insertion = conv(padded, flipped)
    by_col2im = conv_t(y, KERNEL, stride=stride, padding=padding)
    windows = by_zero_insertion.size
    multiplications = windows * KERNEL_SIZE ** 2
    by_zeros = sum(int(np.sum(padded[i:i + KERNEL_SIZE, j:j + KERNEL_SIZE] == 0))
                   for i, j in np.ndindex(*by_zero_insertion.shape))
    print_matrix("y (3x3)", y)
    print_matrix(f"zeros inserted (stride {stride}) and padded by k - 1 - p = {border}", padded)
    print_matrix("conv2d of that with the flipped kernel", by_zero_insertion)
    print_matrix(f"conv_transpose2d(y, kernel, stride={stride}), tinygan (col2im)", by_col2im)
    print(f"  zero insertion: {multiplications} multiplications, {by_zeros} of them by a zero "
          f"({100 * by_zeros / multiplications:.0f}%); col2im: {y.size} pixels x {KERNEL_SIZE ** 2} taps = "
          f"{y.size * KERNEL_SIZE ** 2}, none by zero.")

    figure, axes = new_figure(1, 4, panel_size=(2.6, 2.9), gridspec_kw={"width_ratios": [3, 9, 3, 7]})
    show_matrix(axes[0, 0], y, "y (3x3)", cmap="Blues", vmin=0, vmax=5)
    show_matrix(axes[0, 1], padded, f"zeros inserted (stride {stride}),\npadded by {border}", cmap="Blues", vmin=0,
                vmax=5)
    show_matrix(axes[0, 2], flipped, "kernel flipped", cmap="Oranges", vmin=0, vmax=12)
    show_matrix(axes[0, 3], by_col2im, "conv2d(padded, flipped)\n= conv_transpose2d(y, kernel)", cmap="Greens")
    path = save_figure(figure, folder, "conv_transpose_zero_insertion.png",
                       title=f"A stride-{stride} transposed convolution as zero insertion + ordinary convolution")
    return {"y": y, "zero_insertion": by_zero_insertion, "col2im": by_col2im, "multiplications": multiplications,
            "multiplications_by_zero": by_zeros}, path


def work_and_memory(channels_in: int, channels_out: int, size: int, kernel: int, stride: int, padding: int) -> dict:
    """Multiplications and im2col matrix entries per image for a ConvTranspose2d, both ways.

    col2im (tinygan): cols = W2^T @ X is (O k^2, C) @ (C, H W), then painted: C O k^2 H W
    multiplications, and cols holds O k^2 H W numbers.
    zero insertion: an ordinary convolution over the (H - 1) s + 1 + 2 (k - 1 - p) square, one
    window per output pixel: C O k^2 OH OW multiplications, im2col holds C k^2 OH OW numbers.
    """
    out = (size - 1) * stride - 2 * padding + kernel
    return {"output size": out,
            "col2im multiplications": channels_in * channels_out * kernel ** 2 * size * size,
            "zero insertion multiplications": channels_in * channels_out * kernel ** 2 * out * out,
            "col2im matrix entries": channels_out * kernel ** 2 * size * size,
            "zero insertion matrix entries": channels_in * kernel ** 2 * out * out}


def dcgan_layer_cost() -> dict:
    layer = {"channels_in": 256, "channels_out": 128, "size": 7, "kernel": 4, "stride": 2, "padding": 1}
    cost = work_and_memory(**layer)
    print("  The DCGAN generator's ConvTranspose2d(256, 128, 4, stride 2, padding 1), 7x7 -> "
          f"{cost['output size']}x{cost['output size']}, per image:")
    for what in ("multiplications", "matrix entries"):
        col2im, zeros = cost[f"col2im {what}"], cost[f"zero insertion {what}"]
        print(f"    {what:16s} col2im {col2im:>12,}   zero insertion {zeros:>12,}   ({zeros / col2im:.0f}x)")
    print("  Zero insertion multiplies by the inserted zeros (3 of every 4 at stride 2) and copies every window\n"
          "  of a mostly-zero image; painting each input pixel's patch (col2im) touches only real numbers.")
    return cost


def main(argv=None) -> dict:
    parser = example_parser("conv_as_matrix", __doc__)
    args = parser.parse_args(argv)
    folder = output_folder(args.out)
    rng = np.random.default_rng(0)

    heading("1 and 2. conv2d is K x, conv_transpose2d is K^T y")
    matrices, matrix_path = the_matrix(folder, rng)

    heading("3. The backward of one is the other")
    backward = backward_is_the_transpose(matrices["K"], rng)

    heading("4. Zero insertion, and why tinygan paints with col2im instead")
    zeros, zeros_path = zero_insertion(folder, rng)
    cost = dcgan_layer_cost()
    return {"matrices": matrices, "backward": backward, "zero_insertion": zeros, "cost": cost,
            "figures": [matrix_path, zeros_path]}


if __name__ == "__main__":
    main(sys.argv[1:])
