"""What every example shares: the `--out` argument, printing matrices, and drawing figures.

Keeping it here means each example script shows only its own idea.  Figures are drawn
with matplotlib's Agg backend (no window, no display needed) and written as PNG files.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot is imported: we only ever write files

import matplotlib.pyplot as plt  # noqa: E402  (must follow the backend choice)
import numpy as np  # noqa: E402

# One colour per curve family, so the same activation looks the same in every figure.
COLOURS = {"relu": "tab:blue", "leaky_relu_0.1": "tab:orange", "leaky_relu_0.2": "tab:red",
           "sigmoid": "tab:green", "tanh": "tab:purple"}


# ---------------------------------------------------------------------- arguments and output
def example_parser(name: str, docstring: str) -> argparse.ArgumentParser:
    """An argument parser whose help is the example's docstring, with `--out` (default ./out/<name>)."""
    parser = argparse.ArgumentParser(prog=f"examples/{name}.py", description=docstring,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("out") / name,
                        help=f"folder for the PNG figures (default: ./out/{name})")
    return parser


def output_folder(path) -> Path:
    """The folder `path`, created if needed."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------- printing
def heading(title: str) -> None:
    print(f"\n=== {title} ===")


def format_matrix(matrix, decimals: int = 3) -> str:
    """A matrix as text: whole numbers print without a decimal point, others rounded."""
    # Rounding first hides float noise such as 12 / 3 = 4.000000000000001; adding 0.0
    # turns -0.0 (a float artefact, not news) into 0.0.
    matrix = np.round(np.asarray(matrix, dtype=np.float64), 9) + 0.0
    whole = np.all(np.isfinite(matrix)) and np.all(matrix == np.round(matrix))
    as_text = (lambda v: f"{v:.0f}") if whole else (lambda v: f"{v:.{decimals}f}")
    width = max((len(as_text(v)) for v in matrix.ravel()), default=1)  # align the columns
    return np.array2string(matrix, formatter={"float_kind": lambda v: as_text(v).rjust(width)},
                           max_line_width=120)


def print_matrix(title: str, matrix, decimals: int = 3) -> None:
    print(f"{title}:")
    for line in format_matrix(matrix, decimals).splitlines():
        print("   ", line)


# ---------------------------------------------------------------------- figures
def new_figure(rows: int, columns: int, panel_size=(3.4, 3.0), **subplot_options):
    """A figure with rows x columns panels; `axes` always comes back as a 2-D array."""
    # The constrained layout makes room for every title, multi-line ones included.
    figure, axes = plt.subplots(rows, columns, figsize=(panel_size[0] * columns, panel_size[1] * rows),
                                squeeze=False, layout="constrained", **subplot_options)
    return figure, axes


def save_figure(figure, folder, filename: str, title: str | None = None) -> Path:
    """Write `figure` as folder/filename (PNG), close it, and say where it went."""
    if title:
        figure.suptitle(title)
    path = Path(folder) / filename
    figure.savefig(path, format="png", dpi=80)
    plt.close(figure)
    print(f"wrote {path}")
    return path


def show_matrix(axes, matrix, title: str = "", cmap: str = "viridis", annotate: bool = True,
                decimals: int = 0, vmin=None, vmax=None) -> None:
    """A heat map of a small matrix with each cell's value written in it."""
    matrix = np.asarray(matrix, dtype=np.float64)
    image = axes.imshow(matrix, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    if annotate:
        for (row, column), value in np.ndenumerate(matrix):
            # Dark text on a light cell, light text on a dark one, whatever the colour map.
            red, green, blue, _ = image.cmap(image.norm(value))
            colour = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
            text = f"{value:.{decimals}f}"
            if float(text) == 0:
                text = text.lstrip("-")  # -0 is a float artefact, not news
            axes.text(column, row, text, ha="center", va="center", color=colour, fontsize=8)
    axes.set_title(title, fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])


def show_image(axes, image, title: str = "", vmin=None, vmax=None, cmap: str = "gray") -> None:
    """A greyscale image drawn pixel by pixel (no smoothing, so every pixel is visible)."""
    axes.imshow(np.asarray(image), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    axes.set_title(title, fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])


def save_titled_images(panels, folder, filename: str, columns: int = 2, gap: int = 10) -> Path:
    """Lay out greyscale images, each with a title above it, as one 8-bit greyscale PNG.

    `panels` is a list of (title, image), each image a 2-D array in [0, 1].  Pixels are
    copied as they are, never resampled: sample grids stay crisp and the file small
    (matplotlib would rescale them to fit its axes).
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=13)
    title_height = 20
    cell_height = max(image.shape[0] for _, image in panels) + title_height
    cell_width = max(image.shape[1] for _, image in panels)
    rows = -(-len(panels) // columns)
    canvas = Image.new("L", (columns * (cell_width + gap) + gap, rows * (cell_height + gap) + gap), color=255)
    draw = ImageDraw.Draw(canvas)
    for index, (title, image) in enumerate(panels):
        row, column = divmod(index, columns)
        left, top = gap + column * (cell_width + gap), gap + row * (cell_height + gap)
        draw.text((left, top), title, fill=0, font=font)
        pixels = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
        canvas.paste(Image.fromarray(pixels, mode="L"), (left, top + title_height))
    path = Path(folder) / filename
    canvas.save(path, format="PNG", optimize=True)
    print(f"wrote {path}")
    return path
