"""`DataLoader`: cut a uint8 image array into shuffled float32 mini-batches.

Reproducible shuffling, by design
---------------------------------
Each pass over the data (an *epoch*) draws its order from a fresh generator
seeded with the pair ``(seed, epoch)``::

    order = np.random.default_rng([seed, epoch]).permutation(N)

so the order of epoch 7 depends only on the seed and the number 7, not on
how many batches earlier epochs produced or whether the program was
restarted in between.  The loader's whole state is therefore two integers,
exposed through `state_dict()` / `load_state_dict()`:

* `epoch` counts the passes *started*: ``iter(loader)`` uses the current
  value and then adds one.  A checkpoint saved after a ``for batch in loader``
  loop has finished therefore resumes with the next epoch, exactly as if the
  run had never stopped.  (A checkpoint saved in the middle of an epoch
  resumes at the start of the following epoch; call ``set_epoch`` to replay
  the interrupted one instead.)
* `seed` is chosen from OS entropy when you pass ``seed=None``, and recorded,
  so even an unseeded run can be resumed exactly.
"""
from __future__ import annotations

import numpy as np

from ..checks import integer

# Pixels 0..255 become -1..1, the range of a tanh-output generator.
_PIXEL_SCALE = np.float32(127.5)
_PIXEL_SHIFT = np.float32(1.0)


def to_unit_range(images_uint8: np.ndarray) -> np.ndarray:
    """Map uint8 pixels to float32 in [-1, 1]: 0 -> -1.0, 255 -> 1.0 (exactly)."""
    return images_uint8.astype(np.float32) / _PIXEL_SCALE - _PIXEL_SHIFT


class DataLoader:
    """Iterate over images (and optionally labels) in mini-batches.

    Args:
        images: uint8 array, (N, H, W) for grayscale or (N, C, H, W).  A channel
            axis is added to rank-3 input, so MNIST yields (B, 1, 28, 28).
        labels: optional integer array of shape (N,).  When given, iteration
            yields ``(images, labels)`` pairs with int64 labels; otherwise it
            yields image batches alone.
        batch_size: digits per batch, a positive int.
        shuffle: draw a new order every epoch (see the module docstring);
            False keeps the stored order.
        drop_last: skip the final batch if it would be smaller than
            `batch_size`, so every batch has the same shape.
        seed: non-negative int making the shuffling reproducible; None picks
            one at random (readable afterwards as ``loader.seed``).

    Image batches are float32 scaled to [-1, 1] by ``x / 127.5 - 1``.  They
    are fresh arrays, so the training loop may modify them freely.

    Example::

        images, labels = load_bundled_mnist()
        loader = DataLoader(images, batch_size=64, seed=0)
        for real in loader:        # real.shape == (64, 1, 28, 28)
            ...
    """

    def __init__(self, images, labels=None, batch_size: int = 64, shuffle: bool = True,
                 drop_last: bool = True, seed: int | None = None):
        self.images = _validated_images(images)
        self.labels = _validated_labels(labels, len(self.images))
        self.batch_size = integer("DataLoader", "batch_size", batch_size, minimum=1)
        self.shuffle = _validated_bool("shuffle", shuffle)
        self.drop_last = _validated_bool("drop_last", drop_last)
        self.seed = _fresh_seed() if seed is None else integer("DataLoader", "seed", seed, minimum=0)
        self.epoch = 0
        if len(self) == 0:
            raise ValueError(f"DataLoader: batch_size={self.batch_size} exceeds the {len(self.images)} images "
                             f"and drop_last=True, so no batch would ever be produced")

    # ------------------------------------------------------------------ iteration

    def __len__(self) -> int:
        """Number of batches per epoch."""
        full_batches, leftover = divmod(len(self.images), self.batch_size)
        return full_batches + (1 if leftover and not self.drop_last else 0)

    def __iter__(self):
        """Start the next epoch: fix its order now, then yield batches lazily."""
        order = self.epoch_order(self.epoch)
        self.epoch += 1
        return self._batches(order)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The order in which epoch `epoch` visits the images (a permutation of 0..N-1)."""
        if not self.shuffle:
            return np.arange(len(self.images))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.images))

    def _batches(self, order: np.ndarray):
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            indices = order[start:start + self.batch_size]
            batch = to_unit_range(self.images[indices])
            if self.labels is None:
                yield batch
            else:
                yield batch, self.labels[indices]

    # ------------------------------------------------------------------ resuming

    def state_dict(self) -> dict:
        """Everything needed to continue the same sequence of epochs later."""
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore what `state_dict` returned; the next ``iter()`` continues from there."""
        missing = {"seed", "epoch"} - set(state)
        if missing:
            raise ValueError(f"DataLoader.load_state_dict: expected keys 'seed' and 'epoch', "
                             f"missing {sorted(missing)}")
        self.seed = integer("DataLoader", "seed", state["seed"], minimum=0)
        self.set_epoch(state["epoch"])

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` produce epoch `epoch` (e.g. to replay an interrupted one)."""
        self.epoch = integer("DataLoader", "epoch", epoch, minimum=0)

    def __repr__(self) -> str:
        return (f"DataLoader({len(self.images)} images{' + labels' if self.labels is not None else ''}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last}, "
                f"seed={self.seed}, epoch={self.epoch})")


# ---------------------------------------------------------------------- validation


def _validated_images(images) -> np.ndarray:
    if not isinstance(images, np.ndarray):
        raise TypeError(f"DataLoader: images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        # Insisting on uint8 means the [-1, 1] scaling below is always the right one.
        raise TypeError(f"DataLoader: images must have dtype uint8 (pixels 0..255), got {images.dtype}")
    if images.ndim not in (3, 4):
        raise ValueError(f"DataLoader: images must have rank 3 (N, H, W) or 4 (N, C, H, W), "
                         f"got shape {images.shape}")
    if len(images) == 0:
        raise ValueError(f"DataLoader: images must contain at least one image, got shape {images.shape}")
    return images[:, None] if images.ndim == 3 else images


def _validated_labels(labels, num_images: int):
    if labels is None:
        return None
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"DataLoader: labels must be integers, got dtype {labels.dtype}")
    if labels.shape != (num_images,):
        raise ValueError(f"DataLoader: labels must have shape ({num_images},) to match the images, "
                         f"got {labels.shape}")
    # int64 is what indexing and loss functions expect; uint8 would overflow in arithmetic.
    return labels.astype(np.int64)


def _validated_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"DataLoader: {name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def _fresh_seed() -> int:
    """A random 128-bit seed from the OS, the same entropy NumPy itself uses."""
    return int(np.random.SeedSequence().entropy)


__all__ = ["DataLoader", "to_unit_range"]
