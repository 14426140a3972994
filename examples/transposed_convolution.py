"""Transposed convolution: a learnable way to make an image bigger, and its checkerboard.

What it shows
  1. The 2x2 -> 3x3 example (2x2 filter, stride 1).  Each input pixel paints a copy of
     the filter, scaled by its value, onto the output; where the copies overlap they add.
     With an input and a filter of ones the output *is* the overlap count: the centre is
     painted 4 times, the corners once.
  2. The backward of a transposed convolution with respect to its input is an ordinary
     convolution with the same filter (the two are adjoint): checked with backward().
  3. The checkerboard artefact.  With stride 2 and a 3x3 kernel of ones, neighbouring
     output pixels of a constant input are painted 1, 2 or 4 times: an uneven grid.  The
     overlap counts are fixed, but whether a grid *shows* depends on the weights: the
     bilinear kernel outer([.5, 1, .5]) paints a perfectly flat interior.  A 4x4 kernel
     (the DCGAN's) overlaps evenly inside, and upsampling followed by an ordinary
     convolution treats every output pixel alike; there only the border differs.
     At stride 1 every interior pixel is painted equally often: its 1-2-1 overlap counts
     are a border effect, not a checkerboard.
  4. The same in a real network: an untrained DCGAN generator built with transposed
     convolutions against one built with nearest upsampling + convolution (same seed,
     DCGAN initialisation).  The first has much more energy in patterns that flip sign
     from one pixel to the next.
  5. The gradient artefact (Odena et al. 2016): the gradient of a stride-2 convolution
     with respect to its input, for a constant upstream gradient, is a transposed
     convolution of that constant -- so a discriminator built from strided convolutions
     sends checkerboard-patterned gradients into the generator.
  6. Size arithmetic: which input sizes a stride-2 convolution maps to the same output
     size (kernel 3 / padding 1: 7 and 8 -> 4; kernel 4 / padding 1: 7 -> 3, 8 and 9 -> 4).

Run:  python examples/transposed_convolution.py [--out DIR] [--samples N]
"""
from __future__ import annotations

import tinygan as tg

import sys

import numpy as np

import tinygan.functional as F
from _plotting import (example_parser, heading, new_figure, output_folder, print_matrix, save_figure, show_image,
                       show_matrix)
from tinygan.images import make_grid
from tinygan.models.dcgan import Generator, weights_init

SMALL_INPUT = np.array([[1, 2], [3, 4]], dtype=np.float64)
SMALL_FILTER = np.array([[1, 2], [3, 4]], dtype=np.float64)


def as_batch(matrix: np.ndarray) -> np.ndarray:
    """A 2-D matrix as a (1, 1, H, W) batch; for a weight that is (in=1, out=1, kh, kw)."""
    return matrix[None, None]


def transposed(image, kernel, stride=1, padding=0) -> np.ndarray:
    return F.conv_transpose2d(tg.tensor(as_batch(image)), tg.tensor(as_batch(kernel)), stride=stride,
                              padding=padding).data[0, 0]


def overlap_counts(input_size: int, kernel_size: int, stride: int, padding: int = 0) -> np.ndarray:
    """How many painted patches cover each output pixel: a transposed convolution of ones with ones."""
    return transposed(np.ones((input_size, input_size)), np.ones((kernel_size, kernel_size)), stride, padding)


def upsample_then_convolve_counts(input_size: int) -> np.ndarray:
    """The alternative: nearest x2, then a 3x3 convolution (padding 1) -- of ones, with ones."""
    ones = tg.ones(1, 1, input_size, input_size, dtype=np.float64)
    enlarged = F.interpolate(ones, scale_factor=2, mode="nearest")
    return F.conv2d(enlarged, tg.ones(1, 1, 3, 3, dtype=np.float64), padding=1).data[0, 0]


# ---------------------------------------------------------------------- 1. the 2x2 -> 3x3 example
def painted_patches(image, kernel):
    """The patch each input pixel paints (stride 1, no padding): value * kernel, placed at its position."""
    kernel_height, kernel_width = kernel.shape
    canvas_shape = (image.shape[0] + kernel_height - 1, image.shape[1] + kernel_width - 1)
    patches = {}
    for (row, column), value in np.ndenumerate(image):
        canvas = np.zeros(canvas_shape)
        canvas[row:row + kernel_height, column:column + kernel_width] = value * kernel
        patches[(row, column)] = canvas
    return patches


def two_by_two_example(folder) -> dict:
    print_matrix("input (2x2)", SMALL_INPUT)
    print_matrix("filter (2x2)", SMALL_FILTER)
    patches = painted_patches(SMALL_INPUT, SMALL_FILTER)
    for (row, column), patch in patches.items():
        print_matrix(f"input[{row}, {column}] = {SMALL_INPUT[row, column]:.0f} paints {SMALL_INPUT[row, column]:.0f}"
                     f" x filter at ({row}, {column})", patch)
    by_hand = sum(patches.values())
    output = transposed(SMALL_INPUT, SMALL_FILTER)
    print_matrix("sum of the patches", by_hand)
    print_matrix("conv_transpose2d(input, filter), tinygan", output)
    counts = overlap_counts(2, 2, stride=1)
    print_matrix("overlap counts: conv_transpose2d(ones 2x2, ones 2x2)", counts)

    figure, axes = new_figure(2, 4, panel_size=(2.4, 2.5))
    for panel, ((row, column), patch) in zip(axes[0], patches.items()):
        value = SMALL_INPUT[row, column]
        show_matrix(panel, patch, f"input[{row},{column}] = {value:.0f}\npaints {value:.0f} x filter", cmap="Blues",
                    vmin=0, vmax=30)
    show_matrix(axes[1, 0], SMALL_INPUT, "input", cmap="Blues", vmin=0, vmax=6)
    show_matrix(axes[1, 1], SMALL_FILTER, "filter", cmap="Blues", vmin=0, vmax=6)
    show_matrix(axes[1, 2], output, "output = sum of patches\n(conv_transpose2d)", cmap="Blues", vmin=0, vmax=30)
    show_matrix(axes[1, 3], counts, "overlap counts\n(ones in, ones filter)", cmap="magma", vmin=0, vmax=5)
    path = save_figure(figure, folder, "transposed_convolution_2x2_to_3x3.png",
                       title="2x2 -> 3x3 with a 2x2 filter, stride 1")
    return {"patches_sum": by_hand, "output": output, "overlap_counts": counts}, path


# ---------------------------------------------------------------------- 2. the backward is a convolution
def backward_is_a_convolution() -> dict:
    """d/dx of <conv_transpose2d(x, w), g> is conv2d(g, w): the two ops are adjoint."""
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((1, 1, 2, 2)), requires_grad=True)
    weight = tg.tensor(rng.standard_normal((1, 1, 2, 2)))
    upstream = tg.tensor(rng.standard_normal((1, 1, 3, 3)))
    (F.conv_transpose2d(x, weight) * upstream).sum().backward()
    convolved = F.conv2d(upstream, weight).data
    print_matrix("x.grad of sum(conv_transpose2d(x, w) * g)", x.grad[0, 0])
    print_matrix("conv2d(g, w)", convolved[0, 0])
    return {"input_gradient": x.grad[0, 0], "convolution": convolved[0, 0]}


# ---------------------------------------------------------------------- 3. checkerboard on a constant input
BILINEAR_KERNEL = np.outer([0.5, 1.0, 0.5], [0.5, 1.0, 0.5])  # kernel 3, stride 2: bilinear upsampling x2


def constant_input_patterns(folder, input_size: int = 4) -> dict:
    ones_input = np.ones((input_size, input_size))
    patterns = {
        "transposed, kernel 3, stride 2": overlap_counts(input_size, 3, stride=2),
        "transposed, kernel 3, stride 2, bilinear\nweights outer([.5, 1, .5])": transposed(ones_input, BILINEAR_KERNEL,
                                                                                          stride=2),
        "transposed, kernel 4, stride 2, padding 1\n(the DCGAN's layer)": overlap_counts(input_size, 4, stride=2,
                                                                                           padding=1),
        "nearest x2, then conv 3x3, padding 1": upsample_then_convolve_counts(input_size),
        "transposed, kernel 3, stride 1": overlap_counts(input_size, 3, stride=1),
    }
    for label, counts in patterns.items():
        print_matrix(f"{label.replace(chr(10), ' ')}: a constant {input_size}x{input_size} input gives", counts)
    print("  Kernel 3, stride 2 with weights of ones paints alternate pixels 1, 2 or 4 times all over the image:\n"
          "  a checkerboard.  The same overlap with bilinear weights gives a flat interior: whether the grid\n"
          "  shows depends on the weights (each output parity gets its own sub-filter, and here their sums agree).\n"
          "  Kernel 4, stride 2 (4 divisible by 2) paints every inner pixel 4 times; only the border differs, as\n"
          "  for upsampling + convolution and for stride 1: those are border effects, not checkerboards.")
    figure, axes = new_figure(1, len(patterns), panel_size=(3.3, 3.9))
    for panel, (label, counts) in zip(axes[0], patterns.items()):
        whole = np.all(counts == np.round(counts))
        show_matrix(panel, counts, f"{label} -> {counts.shape[0]}x{counts.shape[1]}", cmap="magma", vmin=0,
                    vmax=counts.max(), decimals=0 if whole else 2)
    path = save_figure(figure, folder, "checkerboard_constant_input.png",
                       title=f"A constant {input_size}x{input_size} input: how much paint each output pixel gets")
    return {label.split("\n")[0]: counts for label, counts in patterns.items()}, path


# ---------------------------------------------------------------------- 4. untrained generators
def checkerboard_energy(images: np.ndarray) -> float:
    """The share of the images' variance in the three patterns that flip sign every pixel.

    The patterns are (-1)^row, (-1)^column and (-1)^(row + column).  For white noise the
    share is about 3 / (number of pixels); a smooth image has almost none.
    """
    images = images.reshape(len(images), images.shape[-2], images.shape[-1]).astype(np.float64)
    rows, columns = np.indices(images.shape[1:])
    flips = [(-1.0) ** rows, (-1.0) ** columns, (-1.0) ** (rows + columns)]
    centred = images - images.mean(axis=(1, 2), keepdims=True)
    pixels = images.shape[1] * images.shape[2]
    # By Parseval: a unit pattern p carries (sum x*p)^2 / pixels of the sum of squares.
    in_patterns = sum((centred * flip).sum(axis=(1, 2)) ** 2 for flip in flips) / pixels
    return float(in_patterns.sum() / (centred ** 2).sum())


def untrained_generators(folder, samples: int, seed: int = 0) -> dict:
    results = {}
    for upsample in ("transposed", "nearest"):
        tg.manual_seed(seed)  # the same random numbers for both generators
        generator = Generator(upsample=upsample)
        generator.apply(weights_init)
        noise = tg.randn(samples, generator.nz, 1, 1)
        with tg.no_grad():  # training mode: BatchNorm uses the batch, as in the first training step
            images = generator(noise).data
        results[upsample] = {"images": images, "checkerboard_energy": checkerboard_energy(images),
                             "mean": float(images.mean()), "std": float(images.std())}
        print(f"  Generator(upsample={upsample!r:13s}) output mean {images.mean():+.3f}, std {images.std():.3f}; "
              f"checkerboard energy {results[upsample]['checkerboard_energy']:.4f}")
    print(f"  (white noise would give about {3 / (28 * 28 - 1):.4f})")

    figure, axes = new_figure(1, 2, panel_size=(4.2, 4.5))
    for panel, (upsample, result) in zip(axes[0], results.items()):
        grid = make_grid(result["images"][:9], nrow=3, padding=1, pad_value=1.0)[0]
        name = "ConvTranspose2d(4, stride 2)" if upsample == "transposed" else "Upsample(nearest) + Conv2d(3)"
        show_image(panel, grid, f"{name}\ncheckerboard energy {result['checkerboard_energy']:.4f}", vmin=-1, vmax=1)
    path = save_figure(figure, folder, "untrained_generators.png",
                       title="Untrained DCGAN generators, same seed, DCGAN init")
    return results, path


# ---------------------------------------------------------------------- 5. the gradient artefact
def input_gradient(kernel, stride: int, padding: int, input_size: int = 16) -> np.ndarray:
    """x.grad of sum(conv2d(x, kernel)): the gradient a constant upstream gradient sends back."""
    x = tg.zeros(1, 1, input_size, input_size, dtype=np.float64, requires_grad=True)
    F.conv2d(x, tg.tensor(as_batch(kernel)), stride=stride, padding=padding).sum().backward()
    return x.grad[0, 0]


def gradient_artefacts(folder, seed: int = 0) -> dict:
    """A stride-2 convolution's input gradient for an upstream gradient of ones, three kernels."""
    rng = np.random.default_rng(seed)
    cases = {
        "kernel 3 of ones, stride 2, padding 1": input_gradient(np.ones((3, 3)), 2, 1),
        "kernel 4 of ones, stride 2, padding 1": input_gradient(np.ones((4, 4)), 2, 1),
        "kernel 4, N(0, 0.02) weights,\nstride 2, padding 1 (a D layer)": input_gradient(
            rng.normal(0, 0.02, (4, 4)), 2, 1),
    }
    results = {}
    for label, gradient in cases.items():
        interior = gradient[2:-2, 2:-2]
        # the four parities (row even/odd, column even/odd) of the interior, each one value if the pattern repeats
        parities = np.array([[np.ptp(interior[r::2, c::2]) for c in range(2)] for r in range(2)])
        results[label.split("\n")[0].rstrip(",")] = {"gradient": gradient, "interior_values": np.unique(
            np.round(interior, 12)), "parity_spread": float(parities.max())}
        print_matrix(f"x.grad of sum(conv2d(x, w)), {label.replace(chr(10), ' ')}: top-left 6x6", gradient[:6, :6],
                     decimals=3)
    print("  Each input pixel's gradient is the sum of the kernel taps that read it, so it depends on the pixel's\n"
          "  parity only: a 2x2 pattern repeated over the image.  Kernel 3 gives 1, 2, 4 (uneven overlap); a\n"
          "  kernel of ones of size 4 gives a flat interior; random weights give four different sub-kernel sums -- a\n"
          "  checkerboard in every gradient that a strided discriminator sends to its generator.")
    figure, axes = new_figure(1, len(cases), panel_size=(3.4, 3.8))
    for panel, (label, gradient) in zip(axes[0], cases.items()):
        limit = np.abs(gradient).max()
        show_image(panel, gradient, f"{label}\n16x16 input gradient", vmin=-limit, vmax=limit, cmap="coolwarm")
    path = save_figure(figure, folder, "checkerboard_gradients.png",
                       title="dL/dx of a stride-2 convolution for dL/dy = 1 everywhere")
    return results, path


# ---------------------------------------------------------------------- 6. size arithmetic
def sizes_mapped(kernel: int, padding: int, stride: int = 2, sizes=range(5, 11)) -> dict:
    """Input size -> output size of conv2d, read from the shape of a real conv2d output."""
    return {size: F.conv2d(tg.zeros(1, 1, size, size), tg.zeros(1, 1, kernel, kernel), stride=stride,
                           padding=padding).shape[-1] for size in sizes}


def size_arithmetic() -> dict:
    results = {}
    for kernel in (3, 4):
        mapping = sizes_mapped(kernel, padding=1)
        results[f"kernel {kernel}, padding 1"] = mapping
        print(f"  stride 2, kernel {kernel}, padding 1:  " + ",  ".join(f"{h} -> {o}" for h, o in mapping.items()))
    print("  A stride-2 convolution maps two input sizes to each output size; which two depends on kernel and\n"
          "  padding.  Its transpose must pick one: output_padding 0 gives the smaller, 1 the larger.")
    return results


def main(argv=None) -> dict:
    parser = example_parser("transposed_convolution", __doc__)
    parser.add_argument("--samples", type=int, default=64, help="images drawn from each generator (default 64)")
    args = parser.parse_args(argv)
    folder = output_folder(args.out)

    heading("1. 2x2 -> 3x3: every input pixel paints a copy of the filter")
    small, small_path = two_by_two_example(folder)

    heading("2. The backward of a transposed convolution is a convolution")
    adjoint = backward_is_a_convolution()

    heading("3. The checkerboard on a constant input")
    patterns, pattern_path = constant_input_patterns(folder)

    heading("4. Untrained generators: transposed convolution vs upsampling + convolution")
    generators, generator_path = untrained_generators(folder, args.samples)

    heading("5. The gradient artefact: what a strided convolution sends back")
    gradients, gradient_path = gradient_artefacts(folder)

    heading("6. Which sizes a stride-2 convolution maps to the same size")
    sizes = size_arithmetic()
    return {"two_by_two": small, "adjoint": adjoint, "constant_input": patterns, "generators": generators,
            "gradients": gradients, "sizes": sizes,
            "figures": [small_path, pattern_path, generator_path, gradient_path]}


if __name__ == "__main__":
    main(sys.argv[1:])
