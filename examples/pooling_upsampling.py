"""Pooling makes an image smaller, upsampling makes it bigger; neither has anything to learn.

What it shows
  1. A 4x4 worked example: 2x2 max pooling and average pooling, and where their
     gradients go (from backward): max pooling sends each window's gradient to the one
     pixel that won, average pooling shares it out in quarters.
  2. The average-pooled 2x2 blown back up to 4x4 by nearest-neighbour copying and by
     bilinear interpolation, with align_corners=False (pixel centres line up: torch's
     default) and align_corners=True (corner pixels line up).
  3. The same operations on a real MNIST digit from the bundled data, as an image grid:
     28x28 pooled to 14x14 and 7x7, and the 7x7 upsampled back to 28x28.
  4. Max unpooling the digit: max_pool2d(..., return_indices=True) remembers where each
     maximum was, and max_unpool2d puts it back there, zeros elsewhere -- beside nearest
     upsampling, which restores the size but not the places.
  5. ceil_mode (a 7x7 map pooled by 2 keeps its last row and column) and adaptive average
     pooling (windows chosen from the output size; output 1 is a classifier's global pool).

Run:  python examples/pooling_upsampling.py [--out DIR] [--digit D]
"""
from __future__ import annotations

import tinygan as tg

import sys

import numpy as np

import tinygan.functional as F
from _plotting import (example_parser, heading, new_figure, output_folder, print_matrix, save_figure, show_image,
                       show_matrix)
from tinygan.data import load_bundled_mnist

# Four 2x2 blocks whose averages are 0, 12, 24 and 36 and whose maxima are 2, 15, 28 and 42.
SMALL_IMAGE = np.array([[-2, 2, 10, 14],
                        [1, -1, 9, 15],
                        [20, 28, 36, 30],
                        [25, 23, 42, 36]], dtype=np.float64)

UPSAMPLERS = {  # label -> keyword arguments of F.interpolate
    "nearest": dict(mode="nearest"),
    "bilinear, align_corners=False": dict(mode="bilinear", align_corners=False),
    "bilinear, align_corners=True": dict(mode="bilinear", align_corners=True),
}


def as_batch(image: np.ndarray) -> np.ndarray:
    """A 2-D image as a (N=1, C=1, H, W) batch."""
    return image[None, None]


def output_and_input_gradient(operation, image: np.ndarray):
    """operation(image) and d sum(operation(image)) / d image, both as 2-D arrays.

    With an upstream gradient of ones, each input pixel's gradient says how much of the
    output it feeds: 1 for a max-pool winner, 1/4 per window for a 2x2 average, and so on.
    """
    pixels = tg.tensor(as_batch(image), requires_grad=True)
    output = operation(pixels)
    output.sum().backward()
    return output.data[0, 0], pixels.grad[0, 0]


# ---------------------------------------------------------------------- 1 and 2. the 4x4 example
def worked_example(folder) -> dict:
    print_matrix("x (4x4)", SMALL_IMAGE)
    max_pooled, max_gradient = output_and_input_gradient(lambda x: F.max_pool2d(x, 2), SMALL_IMAGE)
    avg_pooled, avg_gradient = output_and_input_gradient(lambda x: F.avg_pool2d(x, 2), SMALL_IMAGE)
    print_matrix("max_pool2d(x, 2): the largest value of each 2x2 block", max_pooled)
    print_matrix("avg_pool2d(x, 2): the mean of each 2x2 block", avg_pooled)
    print_matrix("d sum(max_pool2d(x)) / dx: 1 where the maximum was, 0 elsewhere", max_gradient)
    print_matrix("d sum(avg_pool2d(x)) / dx: every pixel gets 1/4", avg_gradient)

    upsampled, upsample_gradients = {}, {}
    for label, options in UPSAMPLERS.items():
        upsampled[label], upsample_gradients[label] = output_and_input_gradient(
            lambda x: F.interpolate(x, scale_factor=2, **options), avg_pooled)
        print_matrix(f"interpolate(avg-pooled, x2, {label})", upsampled[label])
    print_matrix("d sum(nearest x2) / d input: each pixel was copied 4 times", upsample_gradients["nearest"])

    figure, axes = new_figure(2, 5, panel_size=(2.3, 2.7))
    show_matrix(axes[0, 0], SMALL_IMAGE, "x", cmap="viridis", vmin=-2, vmax=42)
    show_matrix(axes[0, 1], max_pooled, "max pool 2x2", cmap="viridis", vmin=-2, vmax=42)
    show_matrix(axes[0, 2], avg_pooled, "average pool 2x2", cmap="viridis", vmin=-2, vmax=42)
    show_matrix(axes[0, 3], max_gradient, "dL/dx, max pool\n(from backward)", cmap="Greys", vmin=0, vmax=1.5)
    show_matrix(axes[0, 4], avg_gradient, "dL/dx, average pool\n(from backward)", cmap="Greys", vmin=0, vmax=1.5,
                decimals=2)
    show_matrix(axes[1, 0], avg_pooled, "average-pooled input", cmap="viridis", vmin=-2, vmax=42)
    for panel, (label, values) in zip(axes[1, 1:4], upsampled.items()):
        show_matrix(panel, values, label.replace(", ", "\n"), cmap="viridis", vmin=-2, vmax=42)
    show_matrix(axes[1, 4], upsample_gradients["nearest"], "dL/d input, nearest\n(from backward)", cmap="Greys",
                vmin=0, vmax=6)
    path = save_figure(figure, folder, "pooling_worked_example.png")
    return {"max_pooled": max_pooled, "avg_pooled": avg_pooled, "max_pool_gradient": max_gradient,
            "avg_pool_gradient": avg_gradient, "upsampled": upsampled,
            "upsample_gradients": upsample_gradients}, path


# ---------------------------------------------------------------------- 3. a real digit
def first_digit(digit: int) -> np.ndarray:
    """The first bundled image of `digit`, as floats in [0, 1]."""
    images, labels = load_bundled_mnist()
    return images[np.flatnonzero(labels == digit)[0]].astype(np.float32) / 255


def digit_grid(folder, digit: int):
    image = as_batch(first_digit(digit))
    pixels = tg.tensor(image)
    panels = [("original 28x28", image),
              ("max pool 2 -> 14x14", F.max_pool2d(pixels, 2).data),
              ("average pool 2 -> 14x14", F.avg_pool2d(pixels, 2).data),
              ("max pool 4 -> 7x7", F.max_pool2d(pixels, 4).data),
              ("average pool 4 -> 7x7", F.avg_pool2d(pixels, 4).data)]
    small = tg.tensor(panels[-1][1])
    panels.append(("the 7x7, for comparison", small.data))
    for label, options in UPSAMPLERS.items():
        panels.append((f"7x7 up x4, {label}".replace(", align", "\nalign"),
                       F.interpolate(small, scale_factor=4, **options).data))
    panels.append(("original 28x28", image))

    figure, axes = new_figure(2, 5, panel_size=(2.3, 2.7))
    for panel, (label, values) in zip(axes.ravel(), panels[:5] + panels[5:]):
        show_image(panel, values[0, 0], label, vmin=0, vmax=1)
    for label, values in panels:
        print(f"  {label.replace(chr(10), ' '):45s} shape {values.shape[2]}x{values.shape[3]}")
    path = save_figure(figure, folder, "pooling_upsampling_digit.png",
                       title=f"Pooling and upsampling a bundled MNIST '{digit}'")
    return {label.replace("\n", " "): values[0, 0] for label, values in panels}, path


# ---------------------------------------------------------------------- 4. unpooling
def unpooling_grid(folder, digit: int):
    """Max pool by 2 and by 4, then unpool: each maximum goes back where it came from."""
    image = as_batch(first_digit(digit))
    figure, axes = new_figure(2, 5, panel_size=(2.3, 2.7))
    results = {}
    for row, kernel in zip(axes, (2, 4)):
        pooled, indices = F.max_pool2d(tg.tensor(image), kernel, return_indices=True)
        unpooled = F.max_unpool2d(pooled, indices, kernel).data[0, 0]
        nearest = F.interpolate(pooled, scale_factor=kernel, mode="nearest").data[0, 0]
        side = pooled.shape[-1]
        panels = [("original 28x28", image[0, 0]), (f"max pool {kernel} -> {side}x{side}", pooled.data[0, 0]),
                  (f"max_unpool2d -> 28x28\n(maxima back in place)", unpooled),
                  (f"nearest x{kernel} -> 28x28\n(for comparison)", nearest),
                  ("lost by pool + unpool\n(original - unpooled)", image[0, 0] - unpooled)]
        for panel, (label, values) in zip(row, panels):
            show_image(panel, values, label, vmin=0, vmax=1)
        kept = np.count_nonzero(unpooled)
        print(f"  kernel {kernel}: {side}x{side} maxima; unpooled 28x28 has {kept} non-zero pixels, "
              f"each equal to the original there: {bool(np.all(unpooled[unpooled != 0] == image[0, 0][unpooled != 0]))}")
        results[kernel] = {"pooled": pooled.data[0, 0], "indices": indices.data[0, 0], "unpooled": unpooled,
                           "nearest": nearest}
    path = save_figure(figure, folder, "max_unpooling_digit.png",
                       title=f"Max pooling and unpooling a bundled MNIST '{digit}'")
    return {"original": image[0, 0], **results}, path


# ---------------------------------------------------------------------- 5. ceil_mode and adaptive pooling
def ceil_mode_and_adaptive(digit: int) -> dict:
    seven = F.avg_pool2d(tg.tensor(as_batch(first_digit(digit))), 4)  # the 7x7 map of section 3
    floor_size = F.max_pool2d(seven, 2).shape[-2:]
    ceil_size = F.max_pool2d(seven, 2, ceil_mode=True).shape[-2:]
    print(f"  7x7 max-pooled by 2: ceil_mode=False -> {floor_size} (row and column 6 dropped), "
          f"ceil_mode=True -> {ceil_size} (a last 1-pixel window keeps them)")
    row = tg.tensor(np.array([[[[1.0, 2.0, 3.0, 4.0, 5.0]]]]))
    adaptive = F.adaptive_avg_pool2d(row, (1, 3)).data[0, 0, 0]
    print(f"  adaptive_avg_pool2d([1 2 3 4 5], 3) = {adaptive}: windows [0, 2), [1, 4), [3, 5)")
    global_pool = F.adaptive_avg_pool2d(seven, 1)
    print(f"  adaptive_avg_pool2d(7x7 map, 1) -> shape {global_pool.shape}: the mean, {global_pool.data.item():.4f}")
    return {"floor_size": floor_size, "ceil_size": ceil_size, "adaptive_row": adaptive,
            "global_pool": global_pool.data, "seven": seven.data}


def main(argv=None) -> dict:
    parser = example_parser("pooling_upsampling", __doc__)
    parser.add_argument("--digit", type=int, default=3, choices=range(10), help="which digit to show (default 3)")
    args = parser.parse_args(argv)
    folder = output_folder(args.out)

    heading("1 and 2. A 4x4 worked example: pooling down, upsampling back")
    worked, worked_path = worked_example(folder)

    heading(f"3. A real digit ('{args.digit}' from the bundled MNIST sample)")
    digit_images, digit_path = digit_grid(folder, args.digit)

    heading("4. Max unpooling: each maximum back where it came from")
    unpooling, unpooling_path = unpooling_grid(folder, args.digit)

    heading("5. ceil_mode and adaptive average pooling")
    options = ceil_mode_and_adaptive(args.digit)
    return {"worked": worked, "digit": digit_images, "unpooling": unpooling, "options": options,
            "figures": [worked_path, digit_path, unpooling_path]}


if __name__ == "__main__":
    main(sys.argv[1:])
