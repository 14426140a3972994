"""Half the multiplications: a stride-2 4x4 convolution as four phases, then Winograd's F(4, 2).

What it shows
  1. Winograd's minimal filtering F(4, 2) in 1-D, in exact fractions.  Four outputs of the
     2-tap filter g = (2, 1) over d = (1, 2, 3, 4, 5), y_i = 2 d_i + d_(i+1), take 8
     multiplications done directly and 5 as  y = AT @ ((G @ g) * (BT @ d)).  Both are
     printed side by side, output by output, with winograd.toom_cook's matrices (the points
     0, 1, -1, -1/2 and infinity); then the same with tinygan's float64 AT, G, BT.
  2. The four phases.  On a 6x6 image numbered 1 to 36 and a 4x4 kernel numbered 1 to 16,
     conv2d(x, w, stride=2, padding=1) is the sum over the parities (p, q) of stride-1 2x2
     convolutions of X_pq = x_pad[p::2, q::2] with W_pq = w[p::2, q::2] -- one stride-1
     convolution over 4 phase channels.  One output is spelled out tap by tap, and the
     figure colours every pixel and every tap by its phase.
  3. The count, from the layers' shapes: multiply-adds per image of the DCGAN's two big
     layers (D's 64 -> 128 on 14x14, G's 256 -> 128 transposed), im2col against Winograd.
  4. tinygan's conv2d and conv_transpose2d on those layers, once on the Winograd path and
     once forced onto im2col: the largest difference, in float64 and in float32.

Run:  python examples/winograd.py [--out DIR]
"""
from __future__ import annotations

import tinygan as tg

import contextlib
import sys
from fractions import Fraction

import numpy as np

import tinygan.functional as F
from _plotting import (example_parser, format_matrix, heading, new_figure, output_folder, print_matrix, save_figure,
                       show_matrix)
from tinygan.kernels import winograd

# ---------------------------------------------------------------------- 1. F(4, 2) in 1-D
FILTER_1D = (2, 1)  # g: y_i = 2 d_i + 1 d_(i+1)
INPUT_1D = (1, 2, 3, 4, 5)  # d: five inputs, four outputs (4, 7, 10, 13)
POINT_NAMES = ("0", "1", "-1", "-1/2", "inf")  # where G evaluates the filter (winograd.POINTS, then infinity)


def exact_matrices():
    """(AT, G, BT) of F(4, 2) as arrays of Fractions: exact arithmetic, printed as 19/6, not 3.1666666666666665."""
    return tuple(np.array(m, dtype=object) for m in winograd.toom_cook(winograd.POINTS, winograd.TILE, winograd.TAPS))


def fractions(values) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def signed_sum(terms, names=None) -> str:
    """A sum as a learner writes it: (19/2, 3/2, -4) as '19/2 + 3/2 - 4'; with names (m1, m2, m3),
    '19/2 m1 + 3/2 m2 - 4 m3', a coefficient 1 left out."""
    parts = []
    for k, term in enumerate(terms):
        size = abs(term)
        text = str(size) if names is None else names[k] if size == 1 else f"{size} {names[k]}"
        parts.append(("- " if term < 0 else "+ ") + text)
    joined = " ".join(parts)
    return joined[2:] if joined.startswith("+") else "-" + joined[2:]


def bracketed(value) -> str:
    """-6 as '(-6)', so that '2*(-6)' does not read as '2*-6'."""
    return f"({value})" if value < 0 else str(value)


def combination(row) -> str:
    """Row (1, 1, 1, 1, 0) of AT as 'm0 + m1 + m2 + m3'; (0, 1, -1, -1/2, 0) as 'm1 - m2 - 1/2 m3'."""
    used = [k for k, c in enumerate(row) if c != 0]
    return signed_sum([row[k] for k in used], [f"m{k}" for k in used])


def f42_worked(g=FILTER_1D, d=INPUT_1D) -> dict:
    """Four outputs of a 2-tap correlation, directly (8 multiplications) and by Winograd (5), exactly."""
    at, g_matrix, bt = exact_matrices()
    g, d = np.array([Fraction(v) for v in g], dtype=object), np.array([Fraction(v) for v in d], dtype=object)
    direct = np.array([g[0] * d[i] + g[1] * d[i + 1] for i in range(4)], dtype=object)
    filter_values, input_values = g_matrix @ g, bt @ d
    products = filter_values * input_values  # the only 5 multiplications of two data-dependent numbers
    winograd_y = at @ products

    print(f"g = {fractions(g)}, d = {fractions(d)}")
    print(f"  G g  = {fractions(filter_values)}:  the filter as the polynomial {g[0]} + {g[1]} t, at t = "
          f"{', '.join(POINT_NAMES)}\n         (at infinity: its top coefficient).  Computed once per filter.")
    print(f"  BT d = {fractions(input_values)}:  combinations of the inputs.  Computed once per input tile.")
    print("  m = (G g) * (BT d) = "
          + ", ".join(f"{a}*{bracketed(b)} = {a * b}" for a, b in zip(filter_values, input_values)))
    print(f"\n  {'':4}{'direct: 2 multiplications each, 8':36}Winograd: y = AT m, 5 multiplications (m) in all")
    for i in range(4):
        left = f"{g[0]}*{d[i]} + {g[1]}*{d[i + 1]} = {direct[i]}"
        terms = [c * m for c, m in zip(at[i], products) if c != 0]
        print(f"  y{i}  {left:34}  {combination(at[i]):24} = {signed_sum(terms)} = {winograd_y[i]}")
    print("  AT's 1/2, 1/4 and 1/8 are constants (exact in binary).  In a layer AT is applied once per output\n"
          "  tile, after the sum over channels, and BT, G once per input tile and filter: what grows with\n"
          "  channels x filters x tiles is the 5 products, against 8.")

    in_float = winograd.AT @ ((winograd.G @ g.astype(float)) * (winograd.BT @ d.astype(float)))
    error = float(np.abs(in_float - direct.astype(float)).max())
    print(f"  with tinygan's float64 winograd.AT, G, BT: {in_float.tolist()}, "
          + ("exactly the direct result" if error == 0 else f"off by at most {error:.1e}"))
    return {"g": g, "d": d, "direct": direct, "G g": filter_values, "BT d": input_values, "products": products,
            "winograd": winograd_y, "float64": in_float, "float64_error": error,
            "multiplications": {"direct": 2 * 4, "winograd": len(products)}}


# ---------------------------------------------------------------------- 2. the four phases
IMAGE = np.arange(1, 37, dtype=np.float64).reshape(6, 6)  # every pixel a different number, to trace it
KERNEL = np.arange(1, 17, dtype=np.float64).reshape(4, 4)  # every tap too
PHASES = [(0, 0), (0, 1), (1, 0), (1, 1)]  # (p, q): row parity, column parity
SPELLED = (1, 1)  # the output spelled out tap by tap (its window is inside the image)


def convolve(image, kernel, **options) -> np.ndarray:
    """tinygan's conv2d of one 2-D image with one 2-D kernel."""
    return F.conv2d(tg.tensor(image[None, None]), tg.tensor(kernel[None, None]), **options).data[0, 0]


def split(array, p: int, q: int) -> np.ndarray:
    """Phase (p, q) of an image or a kernel: the rows of parity p and the columns of parity q."""
    return array[p::2, q::2]


def four_phases(image=IMAGE, kernel=KERNEL) -> dict:
    padded = np.pad(image, 1)  # 8x8: the padding-1 frame of zeros, made explicit
    y = convolve(image, kernel, stride=2, padding=1)
    images = {pq: split(padded, *pq) for pq in PHASES}  # X_pq, 4x4
    kernels = {pq: split(kernel, *pq) for pq in PHASES}  # W_pq, 2x2
    partial = {pq: convolve(images[pq], kernels[pq]) for pq in PHASES}  # stride 1, no padding: 3x3
    total = sum(partial.values())
    # The same as one convolution: 4 phase channels in, 1 out, a 2x2 kernel per channel.
    stacked = F.conv2d(tg.tensor(np.stack([images[pq] for pq in PHASES])[None]),
                       tg.tensor(np.stack([kernels[pq] for pq in PHASES])[None])).data[0, 0]

    print_matrix("x (6x6), pixels numbered", image)
    print_matrix("w (4x4), taps numbered", kernel)
    print_matrix("x_pad (8x8): pixel (r, c) goes to phase (r % 2, c % 2), at (r // 2, c // 2)", padded)
    for p, q in PHASES:
        print(f"phase (p, q) = ({p}, {q}):")
        print(side_by_side([f"X_{p}{q} = x_pad[{p}::2, {q}::2]", f"W_{p}{q} = w[{p}::2, {q}::2]",
                            f"Y_{p}{q} = conv2d(X_{p}{q}, W_{p}{q}), stride 1"],
                           [images[p, q], kernels[p, q], partial[p, q]]))
    print_matrix("Y_00 + Y_01 + Y_10 + Y_11", total)
    print_matrix("conv2d(x, w, stride=2, padding=1)", y)
    print_matrix("conv2d of the 4 phase images as 4 channels, with the 4 W_pq as its kernel, stride 1", stacked)
    print(f"  the sum of the phases equals conv2d: {np.array_equal(total, y)};  so does the one 4-channel "
          f"convolution: {np.array_equal(stacked, y)}")

    i, j = SPELLED
    spelled = {}
    print(f"  y[{i}, {j}] tap by tap, W[2u + p, 2v + q] * X_pq[{i} + u, {j} + v], u and v in (0, 1):")
    for p, q in PHASES:
        taps = [(kernels[p, q][u, v], images[p, q][i + u, j + v]) for u in (0, 1) for v in (0, 1)]
        spelled[p, q] = sum(a * b for a, b in taps)
        print(f"    phase ({p}, {q}): " + " + ".join(f"{a:.0f}*{b:.0f}" for a, b in taps) + f" = {spelled[p, q]:.0f}")
    print(f"    sum {' + '.join(f'{v:.0f}' for v in spelled.values())} = {sum(spelled.values()):.0f};  "
          f"conv2d's y[{i}, {j}] = {y[i, j]:.0f}")
    print("  16 multiply-adds per output either way (4 phases x 2x2 taps): the split saves nothing by itself.\n"
          "  It turns the stride-2 4x4 kernel into 2x2 kernels at stride 1, which F(4, 2) can do in 2-D.")
    return {"image": image, "kernel": kernel, "padded": padded, "phase_images": images, "phase_kernels": kernels,
            "phase_outputs": partial, "sum_of_phases": total, "one_convolution": stacked, "conv2d": y,
            "spelled": spelled}


def side_by_side(titles, matrices, gap: int = 4) -> str:
    """Matrices printed next to each other, each under its title."""
    blocks = [[title] + format_matrix(m).splitlines() for title, m in zip(titles, matrices)]
    widths = [max(map(len, block)) + gap for block in blocks]
    rows = max(map(len, blocks))
    return "\n".join("    " + "".join(block[r].ljust(w) if r < len(block) else " " * w
                                      for block, w in zip(blocks, widths)).rstrip() for r in range(rows))


# ---------------------------------------------------------------------- 3. the count
LAYERS = {  # name: (channels on the 14x14 side, channels on the 7x7 side)
    "D: Conv2d(64, 128, 4, 2, 1), 14x14 -> 7x7": (64, 128),
    "G: ConvTranspose2d(256, 128, 4, 2, 1), 7x7 -> 14x14": (128, 256),
}
BIG = 14  # the 14x14 side; the 7x7 side has the convolution's outputs (the transposed one's inputs)


def multiply_adds(big_channels: int, small_channels: int, size: int = BIG) -> dict:
    """Multiply-adds per image of a 4x4, stride-2, padding-1 convolution between (big_channels, size, size) and
    (small_channels, size/2, size/2), either way round: a transposed one computes the same products."""
    out = size // 2
    tiles = winograd.tiles(size) ** 2  # 4x4 output tiles, per phase and channel
    return {
        "im2col": small_channels * big_channels * 16 * out * out,  # 16 taps per output, every pair of channels
        # 25 products per tile, for every filter and every one of the 4 C phase channels
        "winograd": 25 * tiles * small_channels * 4 * big_channels,
        # plus the transforms, as dense matrix products: BT d BT^T (5x5 by 5x5, twice) per input tile
        # and phase channel, AT M AT^T (4x5 by 5x5, then by 5x4) per output tile and channel.  (The
        # filters' G g G^T is done once per batch, not per image: left out.)
        "transforms": tiles * (4 * big_channels * 250 + small_channels * 180),
    }


def layer_counts() -> dict:
    counts = {name: multiply_adds(*channels) for name, channels in LAYERS.items()}
    print(f"  {'multiply-adds per image, forward':56}{'im2col':>12}{'Winograd':>12}{'ratio':>7}   transforms")
    for name, count in counts.items():
        count["ratio"] = count["winograd"] / count["im2col"]
        print(f"  {name:56}{count['im2col']:>12,}{count['winograd']:>12,}{count['ratio']:>7.3f}   "
              f"{count['transforms']:>9,} ({count['transforms'] / count['winograd']:.0%} of Winograd's)")
    print(f"  Per 4x4 output tile of one phase and channel pair: 64 multiply-adds directly (16 outputs x 2x2\n"
          f"  taps), 25 by Winograd: 25/64 = {25 / 64:.2f}.  The 7x7 outputs fill 2x2 tiles (64 outputs computed\n"
          f"  for 49 kept): 25 x 4 = 100 against 4 x 49 = 196, {100 / 196:.2f}.  The backward's two products (input\n"
          f"  and weight gradient) have the same shapes, so the same ratio.  In a batch of 64: each number x 64.")
    return counts


# ---------------------------------------------------------------------- 4. the two paths agree
BATCH = 32  # 32 images of 14x14 are 4 x 32 = 128 tile columns: winograd.MIN_COLUMNS, the path is taken as it is


@contextlib.contextmanager
def path(allow_winograd: bool):
    """Inside, the convolutions ask winograd.applies as usual (or are told no); yields the answers they got."""
    applies, answers = winograd.applies, []

    def asked(*arguments):
        answers.append(allow_winograd and applies(*arguments))
        return answers[-1]

    winograd.applies = asked  # ops/conv.py looks it up on the module at every call
    try:
        yield answers
    finally:
        winograd.applies = applies


def both_paths(op, x, weight) -> dict:
    """op(x, weight, stride 2, padding 1) on the Winograd path and on im2col, with the path each took."""
    results = {}
    for name, allowed in (("winograd", True), ("im2col", False)):
        with path(allowed) as answers:
            results[name] = op(tg.tensor(x), tg.tensor(weight), stride=2, padding=1).data
        results[f"{name} answers"] = answers
    return results


def paths_agree(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    layers = {  # (op, input shape, weight shape): the DCGAN's two layers, at the threshold batch
        "D: conv2d(64 -> 128)": (F.conv2d, (BATCH, 64, 14, 14), (128, 64, 4, 4)),
        "G: conv_transpose2d(256 -> 128)": (F.conv_transpose2d, (BATCH, 256, 7, 7), (256, 128, 4, 4)),
    }
    agreement = {}
    print(f"  {BATCH} images; 'error' is against the float64 im2col result, relative to its largest value")
    print(f"  {'':34}{'':9}{'max |Winograd - im2col|':>25}{'Winograd error':>16}{'im2col error':>14}  paths taken")
    for name, (op, x_shape, w_shape) in layers.items():
        x, weight = rng.standard_normal(x_shape), rng.standard_normal(w_shape) / 16  # ~unit outputs
        truth = None
        for dtype in (np.float64, np.float32):
            result = both_paths(op, x.astype(dtype), weight.astype(dtype))
            truth = result["im2col"] if truth is None else truth  # float64 runs first
            scale = float(np.abs(truth).max())
            row = {"max_difference": float(np.abs(result["winograd"] - result["im2col"]).max()), "scale": scale,
                   "winograd_error": float(np.abs(result["winograd"] - truth).max()) / scale,
                   "im2col_error": float(np.abs(result["im2col"] - truth).max()) / scale,
                   "answers": {"winograd": result["winograd answers"], "im2col": result["im2col answers"]}}
            agreement[name, np.dtype(dtype).name] = row
            taken = "Winograd" if row["answers"]["winograd"] == [True] else "im2col (!)"
            print(f"  {name:34}{np.dtype(dtype).name:9}{row['max_difference']:>25.2e}{row['winograd_error']:>16.2e}"
                  f"{row['im2col_error']:>14.2e}  {taken}, then im2col")
    errors = [(row["winograd_error"], row["im2col_error"])
              for (_, dtype), row in agreement.items() if dtype == "float32"]
    print(f"  float64: the two paths agree to ~1e-14 of the largest value.  float32: Winograd's transforms add and\n"
          f"  subtract numbers of similar size, so its error is a few parts per million of the largest value,\n"
          f"  {min(w / i for w, i in errors):.0f}-{max(w / i for w, i in errors):.0f} times im2col's here.")
    return agreement


# ---------------------------------------------------------------------- figures
PHASE_COLOURS = {(0, 0): "tab:blue", (0, 1): "tab:orange", (1, 0): "tab:green", (1, 1): "tab:purple"}


def pale(colour: str, amount: float) -> np.ndarray:
    """The colour mixed with white: amount 0 is the colour, 1 is white (dark text stays readable)."""
    from matplotlib.colors import to_rgb

    return (1 - amount) * np.array(to_rgb(colour)) + amount


def show_coloured(axes, values, colours, title: str, faded=None) -> None:
    """values written in cells of the given colours (an (H, W, 3) array); faded cells (the padding) in grey text."""
    axes.imshow(colours, interpolation="nearest")
    for (row, column), value in np.ndenumerate(values):
        grey = faded is not None and faded[row, column]
        axes.text(column, row, f"{value:.0f}", ha="center", va="center", fontsize=8,
                  color="0.55" if grey else "black")
    axes.set_title(title, fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])


def parity_colours(shape, padding: int = 0, faded=None) -> np.ndarray:
    """Each cell (r, c) in the colour of phase ((r + padding) % 2, (c + padding) % 2); faded ones paler."""
    colours = np.empty(shape + (3,))
    for r, c in np.ndindex(shape):
        colours[r, c] = pale(PHASE_COLOURS[(r + padding) % 2, (c + padding) % 2],
                             0.85 if faded is not None and faded[r, c] else 0.55)
    return colours


def phases_figure(folder, phases: dict):
    padded = phases["padded"]
    in_padding = np.ones(padded.shape, dtype=bool)
    in_padding[1:-1, 1:-1] = False
    figure, axes = new_figure(3, 5, panel_size=(2.3, 2.3),
                              gridspec_kw={"width_ratios": [2, 1, 1, 1, 1], "height_ratios": [1.8, 1, 1]})
    show_coloured(axes[0, 0], padded, parity_colours(padded.shape, faded=in_padding),
                  "x_pad (6x6 image, padding 1):\neach pixel in its phase's colour", in_padding)
    show_coloured(axes[1, 0], phases["kernel"], parity_colours(phases["kernel"].shape),
                  "w (4x4): tap (ky, kx) in the\ncolour of phase (ky % 2, kx % 2)")
    y = phases["conv2d"]
    show_coloured(axes[2, 0], y, np.ones(y.shape + (3,)),
                  "conv2d(x, w, stride 2, padding 1)\n= Y_00 + Y_01 + Y_10 + Y_11")
    for column, (p, q) in enumerate(PHASES, start=1):
        image, kernel, partial = (phases[key][p, q] for key in ("phase_images", "phase_kernels", "phase_outputs"))
        faded = split(in_padding, p, q)
        colour = PHASE_COLOURS[p, q]
        show_coloured(axes[0, column], image, np.where(faded[..., None], pale(colour, 0.85), pale(colour, 0.55)),
                      f"X_{p}{q} = x_pad[{p}::2, {q}::2]", faded)
        show_coloured(axes[1, column], kernel, np.broadcast_to(pale(colour, 0.55), kernel.shape + (3,)),
                      f"W_{p}{q} = w[{p}::2, {q}::2]")
        show_coloured(axes[2, column], partial, np.broadcast_to(pale(colour, 0.8), partial.shape + (3,)),
                      f"Y_{p}{q} = X_{p}{q} * W_{p}{q}\n(stride 1, no padding)")
    return save_figure(figure, folder, "winograd_phases.png",
                       title="Stride 2, 4x4 kernel = four stride-1 2x2 convolutions, one per phase (p, q)")


def show_fractions(axes, matrix, title: str, coloured: bool = True) -> None:
    """A matrix of Fractions with each cell's exact value written in it; coloured by value (blue < 0 < red),
    or on white for the data vectors."""
    values = np.array(matrix, dtype=float)
    if coloured:
        show_matrix(axes, values, title, cmap="coolwarm", annotate=False, vmin=-3, vmax=3)
    else:  # Greys at its lowest value: white
        show_matrix(axes, np.zeros_like(values), title, cmap="Greys", annotate=False, vmin=0, vmax=1)
    for (row, column), value in np.ndenumerate(matrix):
        axes.text(column, row, str(value), ha="center", va="center", fontsize=9)


def matrices_figure(folder, worked: dict):
    at, g_matrix, bt = exact_matrices()
    column = lambda v: np.array(v, dtype=object)[:, None]  # a vector drawn as a column
    panels = [("g", column(worked["g"]), False), ("G", g_matrix, True), ("G g", column(worked["G g"]), False),
              ("d", column(worked["d"]), False), ("BT", bt, True), ("BT d", column(worked["BT d"]), False),
              ("m", column(worked["products"]), False), ("AT", at, True),
              ("y = AT m", column(worked["winograd"]), False)]
    figure, axes = new_figure(1, len(panels), panel_size=(1.1, 3.2),
                              gridspec_kw={"width_ratios": [m.shape[1] for _, m, _ in panels]})
    for panel, (title, matrix, coloured) in zip(axes[0], panels):
        show_fractions(panel, matrix, title, coloured)
    return save_figure(figure, folder, "winograd_f42.png",
                       title=f"F(4, 2) with g = {list(FILTER_1D)}, d = {list(INPUT_1D)}:  m = (G @ g) * (BT @ d) "
                             f"are the 5 multiplications,\ny = AT @ m the 4 outputs (direct: 8 multiplications)")


def main(argv=None) -> dict:
    parser = example_parser("winograd", __doc__)
    args = parser.parse_args(argv)
    folder = output_folder(args.out)

    heading("1. Winograd's F(4, 2): four outputs of a 2-tap filter with 5 multiplications instead of 8")
    worked = f42_worked()
    matrices_path = matrices_figure(folder, worked)

    heading("2. Four phases: a stride-2 4x4 convolution is four stride-1 2x2 ones")
    phases = four_phases()
    phases_path = phases_figure(folder, phases)

    heading("3. The DCGAN's two big layers: multiply-adds, im2col against Winograd")
    counts = layer_counts()

    heading("4. tinygan's conv2d and conv_transpose2d: the Winograd path against im2col")
    agreement = paths_agree()
    return {"f42": worked, "phases": phases, "counts": counts, "agreement": agreement,
            "figures": [matrices_path, phases_path]}


if __name__ == "__main__":
    main(sys.argv[1:])
