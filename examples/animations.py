"""Convolution and transposed convolution, animated: one window or one patch per frame.

What it shows (as GIF files, written with pillow)
  1. conv2d: a 3x3 kernel slides over a 5x5 input padded by 1, at stride 1 and at
     stride 2.  Each frame outlines the window being read and writes its sum into the
     output, which fills in one number at a time (5x5 at stride 1, 3x3 at stride 2).
  2. conv_transpose2d: a 3x3 input paints a 3x3 kernel patch per pixel onto the output,
     at stride 1 (patches overlapping by 2) and stride 2 (overlapping by 1).  Each frame
     adds one patch, scaled by its pixel's value, onto the running sum.

The numbers in every frame are computed here by hand (window sums, patch sums); the last
frame of each animation is then compared with tinygan's conv2d / conv_transpose2d.

Run:  python examples/animations.py [--out DIR]
"""
from __future__ import annotations

import tinygan as tg

import sys
from pathlib import Path

import numpy as np

import tinygan.functional as F
from _plotting import example_parser, heading, output_folder, print_matrix

INPUT = np.array([[1, 0, 2, 1, 0],
                  [0, 3, 1, 0, 2],
                  [2, 1, 0, 3, 1],
                  [1, 0, 2, 1, 0],
                  [0, 2, 1, 0, 3]], dtype=np.float64)
KERNEL = np.array([[0, 1, 0], [1, -1, 1], [0, 1, 0]], dtype=np.float64)
SMALL_INPUT = np.array([[1, 2, 0], [0, 1, 3], [2, 0, 1]], dtype=np.float64)
PAINT_KERNEL = np.array([[1, 2, 1], [2, 3, 2], [1, 2, 1]], dtype=np.float64)

CELL = 26  # pixels per matrix cell
COLOURS = {"background": (255, 255, 255), "cell": (236, 240, 246), "padding": (205, 205, 205),
           "empty": (250, 250, 250), "text": (20, 20, 20), "window": (214, 39, 40), "new": (255, 214, 153),
           "grid": (150, 150, 150)}


# ---------------------------------------------------------------------- drawing one frame
class Canvas:
    """A white image on which matrices are drawn as labelled grids of numbers."""

    def __init__(self, width: int, height: int):
        from PIL import Image, ImageDraw, ImageFont

        self.image = Image.new("RGB", (width, height), COLOURS["background"])
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default(size=12)

    def text(self, position, text: str) -> None:
        self.draw.text(position, text, fill=COLOURS["text"], font=self.font)

    def matrix(self, left: int, top: int, values, title: str, fills=None) -> None:
        """values: a 2-D array (NaN = not computed yet, drawn empty); fills: per-cell colour names."""
        self.text((left, top - 18), title)
        for (row, column), value in np.ndenumerate(values):
            x, y = left + column * CELL, top + row * CELL
            fill = COLOURS[fills[row][column]] if fills is not None else COLOURS["cell"]
            self.draw.rectangle([x, y, x + CELL, y + CELL], fill=fill, outline=COLOURS["grid"])
            if not np.isnan(value):
                label = f"{value:.0f}"
                width = self.draw.textlength(label, font=self.font)
                self.draw.text((x + (CELL - width) / 2, y + 6), label, fill=COLOURS["text"], font=self.font)

    def outline(self, left: int, top: int, row: int, column: int, height: int, width: int) -> None:
        x, y = left + column * CELL, top + row * CELL
        self.draw.rectangle([x, y, x + width * CELL, y + height * CELL], outline=COLOURS["window"], width=3)


def save_gif(frames, path: Path, milliseconds: int = 700, hold_last: int = 2500) -> Path:
    """Frames as a looping GIF; the last one stays up longer so its numbers can be read."""
    # A few flat colours only: an adaptive palette keeps them exact and the file small.
    paletted = [frame.convert("P", palette=1, colors=32) for frame in frames]  # 1 = Image.Palette.ADAPTIVE
    durations = [milliseconds] * (len(frames) - 1) + [hold_last]
    paletted[0].save(path, save_all=True, append_images=paletted[1:], duration=durations, loop=0, optimize=True)
    print(f"wrote {path} ({len(frames)} frames, {path.stat().st_size // 1024} KB)")
    return path


# ---------------------------------------------------------------------- 1. the sliding window
def sliding_window(folder, stride: int, padding: int = 1):
    """One frame per output number: the window outlined, its sum written into the output."""
    padded = np.pad(INPUT, padding)
    k = KERNEL.shape[0]
    out = (padded.shape[0] - k) // stride + 1
    output = np.full((out, out), np.nan)
    pad_fills = [["padding" if not (padding <= r < padded.shape[0] - padding and
                                    padding <= c < padded.shape[1] - padding) else "cell"
                  for c in range(padded.shape[1])] for r in range(padded.shape[0])]
    left_kernel = 20 + padded.shape[1] * CELL + 30
    left_output = left_kernel + k * CELL + 40
    width, height = left_output + out * CELL + 20, 40 + padded.shape[0] * CELL + 50
    frames = []
    for position in range(out * out + 1):
        canvas = Canvas(width, height)
        canvas.matrix(20, 30, padded, f"input, padding {padding} (grey)", pad_fills)
        canvas.matrix(left_kernel, 30, KERNEL, "kernel")
        if position < out * out:
            i, j = divmod(position, out)
            window = padded[i * stride:i * stride + k, j * stride:j * stride + k]
            output[i, j] = np.sum(window * KERNEL)
            fills = [["new" if (r, c) == (i, j) else "empty" if np.isnan(output[r, c]) else "cell"
                      for c in range(out)] for r in range(out)]
            canvas.matrix(left_output, 30, output, f"output, stride {stride}", fills)
            canvas.outline(20, 30, i * stride, j * stride, k, k)
            canvas.outline(left_output, 30, i, j, 1, 1)
            canvas.text((20, height - 38), f"output[{i}, {j}] = sum(window * kernel) = {output[i, j]:.0f}")
        else:  # a last, clean frame with the whole result
            canvas.matrix(left_output, 30, output, f"output, stride {stride}")
            canvas.text((20, height - 38), f"done: {out}x{out} = floor(({INPUT.shape[0]} + 2*{padding} - {k}) / "
                                           f"{stride}) + 1 per side")
        frames.append(canvas.image)
    path = save_gif(frames, Path(folder) / f"conv2d_stride{stride}.gif")
    return {"frames": len(frames), "output": output.copy()}, path


# ---------------------------------------------------------------------- 2. painting patches
def painting(folder, stride: int):
    """One frame per input pixel: its patch (value * kernel) added onto the output."""
    k = PAINT_KERNEL.shape[0]
    size = SMALL_INPUT.shape[0]
    out = (size - 1) * stride + k
    output = np.zeros((out, out))
    left_kernel = 20 + size * CELL + 30
    left_output = left_kernel + k * CELL + 40
    width, height = left_output + out * CELL + 20, 40 + max(out, size) * CELL + 50
    frames = []
    for position in range(size * size + 1):
        canvas = Canvas(width, height)
        canvas.matrix(left_kernel, 30, PAINT_KERNEL, "kernel")
        if position < size * size:
            i, j = divmod(position, size)
            value = SMALL_INPUT[i, j]
            output[i * stride:i * stride + k, j * stride:j * stride + k] += value * PAINT_KERNEL
            fills = [["new" if i * stride <= r < i * stride + k and j * stride <= c < j * stride + k else "cell"
                      for c in range(out)] for r in range(out)]
            canvas.matrix(20, 30, SMALL_INPUT, "input")
            canvas.outline(20, 30, i, j, 1, 1)
            canvas.matrix(left_output, 30, output, f"output (sum so far), stride {stride}", fills)
            canvas.outline(left_output, 30, i * stride, j * stride, k, k)
            canvas.text((20, height - 38), f"input[{i}, {j}] = {value:.0f} paints {value:.0f} x kernel at "
                                           f"({i * stride}, {j * stride}); overlaps add up")
        else:
            canvas.matrix(20, 30, SMALL_INPUT, "input")
            canvas.matrix(left_output, 30, output, f"output, stride {stride}")
            canvas.text((20, height - 38), f"done: {out}x{out} = ({size} - 1) * {stride} + {k} per side")
        frames.append(canvas.image)
    path = save_gif(frames, Path(folder) / f"conv_transpose2d_stride{stride}.gif")
    return {"frames": len(frames), "output": output.copy()}, path


def main(argv=None) -> dict:
    parser = example_parser("animations", __doc__)
    args = parser.parse_args(argv)
    folder = output_folder(args.out)
    results, paths = {}, []

    heading("1. conv2d: the window slides, the output fills in")
    for stride in (1, 2):
        result, path = sliding_window(folder, stride)
        expected = F.conv2d(tg.tensor(INPUT[None, None]), tg.tensor(KERNEL[None, None]), stride=stride,
                            padding=1).data[0, 0]
        print_matrix(f"last frame, stride {stride}", result["output"])
        print(f"  equals tinygan's conv2d: {np.array_equal(result['output'], expected)}")
        results[f"conv2d stride {stride}"], paths = result, paths + [path]

    heading("2. conv_transpose2d: every input pixel paints a patch, overlaps add up")
    for stride in (1, 2):
        result, path = painting(folder, stride)
        expected = F.conv_transpose2d(tg.tensor(SMALL_INPUT[None, None]), tg.tensor(PAINT_KERNEL[None, None]),
                                      stride=stride).data[0, 0]
        print_matrix(f"last frame, stride {stride}", result["output"])
        print(f"  equals tinygan's conv_transpose2d: {np.array_equal(result['output'], expected)}")
        results[f"conv_transpose2d stride {stride}"], paths = result, paths + [path]
    return {**results, "animations": paths}


if __name__ == "__main__":
    main(sys.argv[1:])
