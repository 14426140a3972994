"""Read and write IDX files, the simple binary format the original MNIST ships in.

An IDX file is a tiny header followed by raw array bytes::

    bytes 0-1   0x00 0x00            always zero
    byte  2     dtype code           0x08 = uint8 (what MNIST uses), see _DTYPE_BY_CODE
    byte  3     ndim                 number of dimensions
    4 * ndim    dims                 each size as a big-endian unsigned 32-bit integer
    the rest    data                 prod(dims) items, big-endian, C (row-major) order

so MNIST images start with the "magic number" 0x00000803 (uint8, 3 dims:
count, rows, cols) and labels with 0x00000801 (uint8, 1 dim: count).
Because the header fixes the data size exactly, we can tell a truncated or
padded download apart from a good one, and we do: every mismatch is a
ValueError that names the file, what was expected and what was found.

The four MNIST files (https://yann.lecun.com/exdb/mnist/, by Yann LeCun,
Corinna Cortes and Christopher J.C. Burges, CC BY-SA 3.0) are read by
`load_mnist`, which accepts them plain or gzip-compressed.
"""
from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

# IDX dtype codes. Multi-byte types are stored big-endian (">"), whatever the machine.
_DTYPE_BY_CODE = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_BY_DTYPE = {dtype.newbyteorder("="): code for code, dtype in _DTYPE_BY_CODE.items()}

_GZIP_SIGNATURE = b"\x1f\x8b"
_MAX_DIM = 2**32 - 1  # a dimension is stored as an unsigned 32-bit integer

MNIST_IMAGE_SIDE = 28
MNIST_NUM_CLASSES = 10


# ---------------------------------------------------------------------------- reading


def read_idx(path, dtype=None, ndim=None) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed) into a NumPy array.

    Args:
        path: the file to read.  Compression is detected from the content,
            not the name: an IDX file always starts with two zero bytes, a
            gzip stream with 0x1f 0x8b, so the two can never be confused.
        dtype: if given, the header must declare exactly this element type
            (e.g. ``np.uint8``), otherwise ValueError.
        ndim: if given, the header must declare exactly this many dimensions.

    Returns:
        A fresh, writable array in native byte order with the header's shape.

    Raises:
        ValueError: the file is not a well-formed IDX file, or does not match
            `dtype` / `ndim`.  The message names the file and what was wrong.
    """
    path = Path(path)
    return parse_idx(_read_maybe_gzipped(path), source=str(path), dtype=dtype, ndim=ndim)


def parse_idx(data: bytes, source: str = "<bytes>", dtype=None, ndim=None) -> np.ndarray:
    """Decode the bytes of an (uncompressed) IDX file; `source` is used in error messages."""
    item_dtype, shape = _parse_header(data, source, dtype, ndim)
    header_size = 4 + 4 * len(shape)
    _check_total_size(len(data), header_size, shape, item_dtype, source)
    flat = np.frombuffer(data, dtype=item_dtype, offset=header_size)
    # astype copies, which both converts to native byte order and frees us from the
    # read-only `bytes` buffer that frombuffer would otherwise keep pointing at.
    return flat.astype(item_dtype.newbyteorder("=")).reshape(shape)


def _read_maybe_gzipped(path: Path) -> bytes:
    """Return the file's bytes, gunzipped if they are a gzip stream."""
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_SIGNATURE):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        # A cut-off download usually shows up here, before any IDX check can run.
        raise ValueError(f"{path}: expected a complete gzip stream, found a damaged one ({error})") from error


def _parse_header(data: bytes, source: str, want_dtype, want_ndim) -> tuple[np.dtype, tuple[int, ...]]:
    """Validate the magic number and dimensions; return (big-endian item dtype, shape)."""
    if len(data) < 4:
        raise ValueError(f"{source}: expected at least a 4-byte IDX magic number, found a {len(data)}-byte file")
    zero_a, zero_b, code, ndim = data[:4]
    magic = int.from_bytes(data[:4], "big")
    if zero_a != 0 or zero_b != 0:
        raise ValueError(f"{source}: expected an IDX magic number starting with two zero bytes, "
                         f"found 0x{magic:08X}; this is not an IDX file")
    if code not in _DTYPE_BY_CODE:
        known = ", ".join(f"0x{c:02X} ({d.newbyteorder('=').name})" for c, d in _DTYPE_BY_CODE.items())
        raise ValueError(f"{source}: expected an IDX dtype code among {known}, found 0x{code:02X} "
                         f"(magic number 0x{magic:08X})")
    item_dtype = _DTYPE_BY_CODE[code]
    if ndim == 0:
        raise ValueError(f"{source}: expected at least one dimension, found ndim 0 (magic number 0x{magic:08X})")
    _check_expectations(source, magic, item_dtype, ndim, want_dtype, want_ndim)

    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise ValueError(f"{source}: expected a {header_size}-byte header for {ndim} dimensions, "
                         f"found only {len(data)} bytes in the file (truncated)")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return item_dtype, shape


def _check_expectations(source, magic, item_dtype, ndim, want_dtype, want_ndim) -> None:
    """Compare the header with what the caller asked for, reporting both magic numbers."""
    found_dtype = item_dtype.newbyteorder("=")
    expected_dtype = found_dtype if want_dtype is None else np.dtype(want_dtype)
    expected_ndim = ndim if want_ndim is None else want_ndim
    if (expected_dtype, expected_ndim) == (found_dtype, ndim):
        return
    if expected_dtype not in _CODE_BY_DTYPE:
        raise TypeError(f"read_idx: dtype must be one IDX can store, got {expected_dtype}")
    expected_magic = (_CODE_BY_DTYPE[expected_dtype] << 8) | expected_ndim
    raise ValueError(f"{source}: expected magic number 0x{expected_magic:08X} "
                     f"({_describe(expected_dtype, expected_ndim)}), "
                     f"found 0x{magic:08X} ({_describe(found_dtype, ndim)})")


def _describe(dtype: np.dtype, ndim: int) -> str:
    """E.g. 'uint8, 3 dimensions' -- the meaning of a magic number, for error messages."""
    return f"{dtype.name}, {ndim} dimension{'' if ndim == 1 else 's'}"


def _check_total_size(actual: int, header_size: int, shape, item_dtype: np.dtype, source: str) -> None:
    """The header fixes the file length exactly; anything else means damage or the wrong file."""
    expected = header_size + math.prod(shape) * item_dtype.itemsize
    if actual == expected:
        return
    difference = (f"truncated: {expected - actual} bytes missing" if actual < expected
                  else f"{actual - expected} unexpected extra bytes at the end")
    raise ValueError(f"{source}: expected {expected} bytes ({header_size}-byte header + shape {shape} "
                     f"of {item_dtype.newbyteorder('=').name}), found {actual} ({difference})")


# ---------------------------------------------------------------------------- writing


def write_idx(path, array) -> Path:
    """Write `array` as an IDX file; the output is gzip-compressed if `path` ends in ``.gz``.

    Supported dtypes are those IDX can describe: uint8, int8, int16, int32,
    float32, float64.  Returns the path written, as a `Path`.
    """
    path = Path(path)
    array = np.asarray(array)
    payload = encode_idx(array, what=f"write_idx({str(path)!r})")
    if path.suffix == ".gz":
        # mtime=0 keeps the output byte-for-byte reproducible across runs.
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def encode_idx(array: np.ndarray, what: str = "encode_idx") -> bytes:
    """Return the bytes of an uncompressed IDX file holding `array`."""
    native = array.dtype.newbyteorder("=")
    if native not in _CODE_BY_DTYPE:
        supported = ", ".join(d.name for d in _CODE_BY_DTYPE)
        raise TypeError(f"{what}: array dtype must be one of {supported}, got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"{what}: array must have 1 to 255 dimensions (the IDX limit), got {array.ndim}")
    if max(array.shape) > _MAX_DIM:
        raise ValueError(f"{what}: every dimension must be < 2**32 (the IDX limit), got shape {array.shape}")

    code = _CODE_BY_DTYPE[native]
    header = bytes([0, 0, code, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    big_endian = array.astype(_DTYPE_BY_CODE[code], order="C", copy=False)
    return header + big_endian.tobytes(order="C")


# ---------------------------------------------------------------------------- MNIST


def mnist_file_names(train: bool = True) -> dict[str, list[str]]:
    """The names `load_mnist` looks for, plain first, e.g. for train images
    ``["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"]``."""
    prefix = "train" if train else "t10k"
    names = {"images": f"{prefix}-images-idx3-ubyte", "labels": f"{prefix}-labels-idx1-ubyte"}
    return {kind: [name, name + ".gz"] for kind, name in names.items()}


def load_mnist(root, train: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load the MNIST training set (60,000 digits) or test set (10,000) from a folder.

    The folder must contain the standard IDX files, plain or ``.gz``:
    ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` for
    ``train=True``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``
    otherwise.

    Returns:
        images: uint8 array (N, 28, 28), 0 = background, 255 = ink.
        labels: uint8 array (N,), the digits 0..9.

    Raises:
        FileNotFoundError: a file is missing; the message lists every name tried.
        ValueError: a file is corrupt, is not the kind of file expected, or
            images and labels disagree on the number of digits.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"load_mnist: expected a folder holding the MNIST IDX files, "
                                f"found no directory at {str(root)!r}")
    candidates = mnist_file_names(train)
    images_path = _find_first_existing(root, candidates["images"])
    labels_path = _find_first_existing(root, candidates["labels"])

    images = read_idx(images_path, dtype=np.uint8, ndim=3)
    labels = read_idx(labels_path, dtype=np.uint8, ndim=1)
    _check_mnist_pair(images, labels, images_path, labels_path)
    return images, labels


def _find_first_existing(root: Path, names: list[str]) -> Path:
    """Return root/name for the first name that exists, or say exactly what was looked for."""
    for name in names:
        if (root / name).is_file():
            return root / name
    looked_for = " or ".join(repr(name) for name in names)
    present = sorted(entry.name for entry in root.iterdir())[:20]
    raise FileNotFoundError(f"load_mnist: expected {looked_for} in {str(root)!r}, found neither "
                            f"(folder contains: {present or 'nothing'})")


def _check_mnist_pair(images: np.ndarray, labels: np.ndarray, images_path: Path, labels_path: Path) -> None:
    """Checks beyond the IDX format: 28x28 digits, labels 0..9, one label per image."""
    side = MNIST_IMAGE_SIDE
    if images.shape[1:] != (side, side):
        raise ValueError(f"{images_path}: expected {side}x{side} images, found {images.shape[1]}x{images.shape[2]}")
    if len(images) != len(labels):
        raise ValueError(f"load_mnist: expected one label per image, found {len(images)} images in "
                         f"{images_path} but {len(labels)} labels in {labels_path}")
    if labels.size and labels.max() >= MNIST_NUM_CLASSES:
        raise ValueError(f"{labels_path}: expected digit labels 0..{MNIST_NUM_CLASSES - 1}, "
                         f"found a label {int(labels.max())}")


__all__ = ["read_idx", "parse_idx", "write_idx", "encode_idx", "load_mnist", "mnist_file_names"]
