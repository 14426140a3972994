"""Pictures of training: sample grids (PNG), the training as an animation (GIF), loss curves.

All images here are batches shaped like a generator's output: float arrays (N, C, H, W)
with values in [-1, 1] (the range of tanh), C = 1 for grey or 3 for colour.  Files are
written with `tinygan.files.atomic_write` (a temporary name first, then renamed), so a
reader (or a Ctrl-C, or a full disk) never sees half a PNG.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .files import atomic_write


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Map [-1, 1] floats to 0..255 pixels (values outside are clipped): -1 -> 0, 1 -> 255."""
    pixels = (np.asarray(images, dtype=np.float64) + 1.0) * 127.5
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


GIF_MAX_SIDE = 65535  # a GIF stores its width and height in 16 bits


def grid_layout(n: int, nrow: int) -> tuple[int, int]:
    """(rows, columns) of a grid of n images, `nrow` to a row (fewer columns when n < nrow)."""
    columns = min(nrow, n)
    return math.ceil(n / columns), columns


def grid_pixels(n: int, nrow: int, image_hw=(28, 28), padding: int = 2, scale: int = 2) -> tuple[int, int]:
    """(height, width) in pixels of the picture `grid_to_pil` draws of n images: known before drawing them."""
    rows, columns = grid_layout(n, nrow)
    return ((rows * (image_hw[0] + padding) + padding) * scale, (columns * (image_hw[1] + padding) + padding) * scale)


def make_grid(images: np.ndarray, nrow: int = 8, padding: int = 2, pad_value: float = 1.0) -> np.ndarray:
    """Tile a batch (N, C, H, W) into one image (C, rows*(H+p)+p, nrow*(W+p)+p), like torchvision.

    Images fill the grid row by row, `nrow` per row; the gaps between them (and the border)
    have the value `pad_value` (1.0, white, separates dark-background digits clearly).
    """
    images = np.asarray(images)
    if images.ndim == 3:  # (N, H, W): add the channel axis
        images = images[:, None]
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"make_grid: expected a non-empty batch (N, C, H, W), got shape {images.shape}")
    n, channels, height, width = images.shape
    rows, columns = grid_layout(n, nrow)
    grid = np.full((channels, rows * (height + padding) + padding, columns * (width + padding) + padding),
                   pad_value, dtype=np.float32)
    for index in range(n):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        grid[:, top:top + height, left:left + width] = images[index]
    return grid


def grid_to_pil(images: np.ndarray, nrow: int = 8, scale: int = 2):
    """A PIL image of the grid of `images`, each pixel drawn as a `scale` x `scale` block."""
    from PIL import Image

    grid = to_uint8(make_grid(images, nrow=nrow))
    if scale > 1:  # nearest-neighbour enlargement keeps the pixels crisp
        grid = grid.repeat(scale, axis=1).repeat(scale, axis=2)
    if grid.shape[0] == 1:
        return Image.fromarray(grid[0], mode="L")
    return Image.fromarray(grid.transpose(1, 2, 0), mode="RGB")


def save_grid(images: np.ndarray, path, nrow: int = 8, scale: int = 2) -> Path:
    """Write `images` (N, C, H, W) in [-1, 1] as a PNG grid with `nrow` images per row."""
    path = Path(path)
    with atomic_write(path) as file:
        grid_to_pil(images, nrow=nrow, scale=scale).save(file, format="PNG")
    return path


def save_gif(frame_paths, path, milliseconds_per_frame: int = 200, hold_last: int = 5) -> Path:
    """Join the image files `frame_paths` (e.g. one sample grid per epoch) into a looping GIF.

    The last frame is shown `hold_last` times as long, so the final result can be looked at
    before the animation starts over.
    """
    from PIL import Image

    frame_paths = list(frame_paths)
    if not frame_paths:
        raise ValueError("save_gif: no frames given")
    frames = []
    for frame_path in frame_paths:
        with Image.open(frame_path) as image:
            frames.append(image.convert("L") if image.mode in ("L", "1") else image.convert("RGB"))
    durations = [milliseconds_per_frame] * (len(frames) - 1) + [milliseconds_per_frame * hold_last]
    return _write_gif(frames, durations, path)


def save_frames_gif(batches, path, nrow: int = 8, milliseconds_per_frame: int = 80) -> Path:
    """A looping GIF with one frame per batch (each (N, C, H, W) in [-1, 1], drawn as a grid), evenly timed."""
    frames = [grid_to_pil(batch, nrow=nrow) for batch in batches]
    if not frames:
        raise ValueError("save_frames_gif: no frames given")
    return _write_gif(frames, [milliseconds_per_frame] * len(frames), path)


def _write_gif(frames: list, durations: list, path) -> Path:
    """Write PIL `frames` as a GIF that loops forever, atomically."""
    path = Path(path)
    with atomic_write(path) as file:
        frames[0].save(file, format="GIF", save_all=True, append_images=frames[1:], duration=durations,
                       loop=0)
    return path


def moving_average(values, window: int) -> np.ndarray:
    """The mean of each value and up to `window - 1` before it (shorter at the start)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values
    sums = np.cumsum(np.concatenate([[0.0], values]))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def plot_losses(records: list[dict], path, smooth: int = 25) -> Path:
    """Plot a GAN's training curves from metrics records into a PNG with two panels.

    Top: the discriminator and generator losses; bottom: D(x), the discriminator's mean
    output on real digits, and D(G(z)), its mean output on generated ones.  Early on D
    wins (D(x) -> 1, D(G(z)) -> 0); in a healthy run the two settle somewhere in between
    rather than one of them collapsing.  Faint lines are the raw per-step values, solid
    ones their moving average over `smooth` steps.
    """
    plt = _pyplot()
    records = [record for record in records if "loss_d" in record]  # metrics.jsonl also holds quality records
    figure, (losses, outputs) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    _plot_curves(losses, records, (("loss_d", "loss D"), ("loss_g", "loss G")), smooth)
    _plot_curves(outputs, records, (("d_x", "D(x)"), ("d_g_z", "D(G(z))")), smooth)
    losses.set_ylabel("binary cross-entropy")
    outputs.set_ylabel("mean discriminator output")
    outputs.set_ylim(0, 1)
    outputs.set_xlabel("step")
    # Fixed margins: automatic layout (tight_layout) would double the time this takes.
    figure.subplots_adjust(left=0.09, right=0.98, top=0.97, bottom=0.08, hspace=0.08)
    return _save_figure(plt, figure, path)


def plot_quality(records: list[dict], path, smooth: int = 25) -> Path:
    """Plot sample quality next to the losses, from metrics records (loss and quality records), into a PNG.

    Top: the losses (moving averages), to read the two side by side.  Middle: FID-MNIST of
    the fixed-noise samples at each score (lower is better; the best is ringed), and in a
    run that samples from a moving average of G's weights, also the FID of G's own weights.  Bottom:
    the share of each digit 0..9 among those samples, as the judge classifies them, stacked
    to 1 -- a band thinning to nothing is a digit the generator stopped drawing (mode
    collapse), which the losses do not show.
    """
    plt = _pyplot()
    losses_records = [record for record in records if "loss_d" in record]
    scores = [record for record in records if "fid" in record]
    figure, (losses, fid, shares) = plt.subplots(3, 1, figsize=(8, 8), sharex=True,
                                                 gridspec_kw={"height_ratios": (2, 2, 3)})
    _plot_curves(losses, losses_records, (("loss_d", "loss D"), ("loss_g", "loss G")), smooth, raw=False)
    losses.set_ylabel("loss")
    steps = [record["step"] for record in scores]
    values = [record["fid"] for record in scores]
    averaged = [record.get("fid_unaveraged") for record in scores]
    fid.plot(steps, values, "o-", color="tab:green",
             label="FID-MNIST (lower is better)" + (" of the weight average" if any(averaged) else ""))
    if any(value is not None for value in averaged):  # an --ema run: G's own weights, for comparison
        fid.plot(steps, averaged, "o--", color="tab:gray", alpha=0.8, label="FID-MNIST of G's own weights")
    if values:
        best = int(np.argmin(values))
        fid.plot(steps[best], values[best], "o", markersize=12, markerfacecolor="none", color="black",
                 label=f"best: {values[best]:.4g} at step {steps[best]} (best.npz)")
    fid.legend(loc="upper right")
    fid.grid(alpha=0.3)
    fid.set_ylabel("FID-MNIST")
    if scores:
        counts = np.array([record["histogram"] for record in scores], dtype=np.float64)
        fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        shares.stackplot(steps, fractions.T, labels=[str(digit) for digit in range(counts.shape[1])],
                         colors=plt.get_cmap("tab10").colors)
        shares.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), title="digit", fontsize="small")
    shares.set_ylim(0, 1)
    shares.set_ylabel("share of the samples")
    shares.set_xlabel("step")
    figure.subplots_adjust(left=0.09, right=0.88, top=0.97, bottom=0.07, hspace=0.08)
    return _save_figure(plt, figure, path)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display needed: we only write files
    import matplotlib.pyplot as plt

    return plt


def _plot_curves(axes, records: list[dict], keys, smooth: int, raw: bool = True) -> None:
    """Each (key, label) of the records against their steps: faint raw values (if `raw`), solid moving average."""
    steps = [record["step"] for record in records]
    for (key, label), colour in zip(keys, ("tab:blue", "tab:orange")):
        values = [record[key] for record in records]
        if raw:
            axes.plot(steps, values, color=colour, alpha=0.25, linewidth=0.8)
        axes.plot(steps, moving_average(values, smooth), color=colour, label=label)
    axes.legend(loc="upper right")
    axes.grid(alpha=0.3)


def _save_figure(plt, figure, path) -> Path:
    path = Path(path)
    try:
        with atomic_write(path) as file:
            figure.savefig(file, format="png", dpi=100)
    finally:
        plt.close(figure)
    return path


__all__ = ["to_uint8", "make_grid", "grid_to_pil", "save_grid", "save_gif", "save_frames_gif", "moving_average",
           "plot_losses", "plot_quality"]
