"""Refuse work that cannot fit before starting it, instead of dying in a MemoryError minutes later.

The estimates are deliberately rough (within a small factor): their job is to tell
`--ngf 100000` or `--n 100000000` from a real run, not to predict memory use exactly.
"""
from __future__ import annotations

import os
import shutil

from .errors import RunError

FLOAT32 = 4  # bytes
IMAGE_FLOATS = 28 * 28


def physical_memory() -> int | None:
    """This machine's RAM in bytes, or None where the OS does not say (then nothing is refused)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _size(number_of_bytes: int) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if number_of_bytes >= scale:
            return f"{number_of_bytes / scale:.1f} {unit}"
    return f"{number_of_bytes / 1e3:.1f} kB"


def require_memory(needed: int, what: str, advice: str) -> None:
    """Raise `RunError` if `needed` bytes exceed this machine's memory."""
    available = physical_memory()
    if available is not None and needed > available:
        raise RunError(f"{what} needs about {_size(needed)} of memory, this machine has {_size(available)}; "
                       f"{advice}")


def require_disk(folder, needed: int, what: str) -> None:
    """Raise `RunError` if the file system of `folder` has less than `needed` bytes free."""
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise RunError(f"{what} needs {_size(needed)} of disk, {folder} has {_size(free)} free")


def dcgan_parameter_count(nz: int, ngf: int, ndf: int, upsample: str = "transposed") -> int:
    """The exact number of weights of `Generator(nz, ngf, upsample)` plus `Discriminator(ndf)` (see models/dcgan.py)."""
    kernel = 16 if upsample == "transposed" else 9  # 4x4 transposed conv, or 3x3 conv after interpolation
    generator = nz * 4 * ngf * 49 + 4 * ngf * 2 * ngf * kernel + 2 * ngf * kernel + 2 * (4 * ngf + 2 * ngf)
    discriminator = ndf * 16 + ndf * 2 * ndf * 16 + 2 * ndf * 49 + 2 * (2 * ndf)
    return generator + discriminator


def training_bytes(config) -> int:
    """Memory of a training run: weights with their gradients and Adam moments, and one batch's
    activations and im2col columns (forward values kept for backward, their gradients, scratch)."""
    parameters = dcgan_parameter_count(config.nz, config.ngf, config.ndf, config.upsample)
    side = 4 if config.upsample == "transposed" else 9 * 4  # columns per pixel, roughly
    per_image = (4 * config.ngf * 49 + 2 * config.ngf * 196 * side + IMAGE_FLOATS * 4 * side
                 + config.ndf * 196 * 16 + 2 * config.ndf * 49 * 16 + config.nz)
    return FLOAT32 * (6 * parameters + 4 * config.batch_size * per_image)


def check_training_fits(config) -> None:
    require_memory(training_bytes(config), f"training with --nz {config.nz} --ngf {config.ngf} --ndf {config.ndf} "
                   f"--batch-size {config.batch_size}", "choose smaller sizes")


def check_generator_fits(config) -> None:
    """For reading a checkpoint: its networks (built twice while loading) must fit."""
    parameters = dcgan_parameter_count(config.nz, config.ngf, config.ndf, config.upsample)
    require_memory(FLOAT32 * 3 * parameters, f"a DCGAN with nz={config.nz}, ngf={config.ngf}, ndf={config.ndf}",
                   "this checkpoint cannot be loaded here")


__all__ = ["physical_memory", "require_memory", "require_disk", "dcgan_parameter_count", "training_bytes",
           "check_training_fits", "check_generator_fits"]
