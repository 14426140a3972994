"""The settings of a run (`TrainConfig`), how a resumed run combines old and new settings, and its data."""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from ..checks import integer, number
from ..data import load_mnist, split_bundled
from ..models import UPSAMPLE_MODES, Discriminator, Generator, weights_init
from .errors import RunError

# Changing these in the middle of an epoch would change which digits the rest of the
# epoch holds (the saved batch index counts batches of the old size over the old data).
EPOCH_SHAPING_OPTIONS = ("batch_size", "limit", "data")
BUNDLED = "bundled"  # --data's name for the sample that ships inside tinygan
NUM_DIGITS = 10  # the classes of a conditional run: the digits 0..9
# What a setting meant before checkpoints saved it (see `resumed_config`).
SETTINGS_OF_OLDER_CHECKPOINTS = {"ema": 0.0}


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run (saved as config.json and in the checkpoint).

    The defaults are the PyTorch DCGAN example's (batch 64, Adam beta1 0.5, nz 100, widths 64;
    Radford et al.'s paper has the same Adam settings and nz but batches of 128), with two
    changes that measurements on this data supported (docs/dcgan_training.md, "More quality
    per minute"): Adam's learning rate is 4e-4 for both networks, not 2e-4, and samples come
    from a moving average of G's weights (decay 0.999).  80 epochs of the bundled sample's
    4,000 training digits: 4,960 steps, 6 minutes on 2 cores of an AMD EPYC Zen 5
    (AVX-512; ~0.06 s per step), 15 on 2 cores of a Zen 3 (AVX2 only; 0.13-0.15 s per step).
    The widths stay the example's, so that a run compares with it layer for
    layer, although a narrower D (--ndf 32) was measured to reach the same FID per step
    with steps a third cheaper.
    """

    epochs: int = 80
    batch_size: int = 64
    lr: float = 4e-4
    # The discriminator's learning rate; None: the same as G's (`lr`).  A different one is the
    # "two time-scale update rule" of Heusel et al. 2017.
    lr_d: float | None = None
    beta1: float = 0.5
    # The target of D for real digits: 1.0, or less for "one-sided label smoothing" (Salimans et
    # al. 2016): D is not pushed to be certain about real digits; fakes keep target 0.
    real_label: float = 1.0
    # Sample from an exponential moving average of G's weights with this decay (Yazici et al.
    # 2019); 0: sample from G itself.  The average is kept beside G and never trained.
    ema: float = 0.999
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    upsample: str = "transposed"
    data: str = BUNDLED  # or a folder holding the MNIST IDX files (stored as an absolute path)
    limit: int | None = None  # train on the first `limit` digits only (quick experiments, tests)
    seed: int = 0
    conditional: bool = False  # a class-conditional DCGAN: G and D see the digit's label
    # How a conditional D reads the label: as extra input planes (False) or by projection (True).
    projection: bool = False
    # Score the generator with the judge of `tinygan evaluate` every this many epochs (0: never).
    # The cost, counted in multiply-adds from the default layer sizes: a score runs G forward
    # on 1,000 digits (27 M each, no backward) and the LeNet judge on them (1.7 M each):
    # about 29 G in all.  A training step does G forward and backward (~3 x 27 M) and D's
    # three passes with their backwards (~9 x 6.6 M) for 64 digits: about 9 G.  So a score
    # costs about 3 steps, 5% of a 62-step epoch; every 5th epoch brings that to about 1%
    # (plus one plot), and to about 2% in a run that samples from a weight average (--ema,
    # the default), whose G is scored too: well under the 5% budget, and still 16 points
    # on an 80-epoch run's FID curve.
    quality_every: int = 5

    def __post_init__(self):
        # The shared checks, with the messages named after the command-line options a user typed.
        try:
            for name in ("epochs", "batch_size", "nz", "ngf", "ndf") + (("limit",) if self.limit is not None else ()):
                integer(None, _option(name), getattr(self, name), minimum=1)
            integer(None, "--seed", self.seed, minimum=0)
            integer(None, "--quality-every", self.quality_every, minimum=0)
            number(None, "--lr", self.lr, low=math.ulp(0.0), below=math.inf)
            if self.lr_d is not None:
                number(None, "--lr-d", self.lr_d, low=math.ulp(0.0), below=math.inf)
            number(None, "--beta1", self.beta1, low=0.0, below=1.0)
            number(None, "--real-label", self.real_label, low=0.5, high=1.0)
            number(None, "--ema", self.ema, low=0.0, below=1.0)
        except (TypeError, ValueError) as error:
            raise RunError(str(error)) from None
        if self.upsample not in UPSAMPLE_MODES:
            raise RunError(f"--upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {self.upsample!r}")
        for name in ("conditional", "projection"):
            if not isinstance(getattr(self, name), bool):
                raise RunError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.projection and not self.conditional:
            raise RunError("--projection: a projection discriminator reads the label of a conditional run; "
                           "add --conditional")
        if not isinstance(self.data, str):
            raise RunError(f"--data must be a folder name or 'bundled', got {self.data!r}")
        self.data = data_setting(self.data)

    @property
    def discriminator_lr(self) -> float:
        return self.lr if self.lr_d is None else self.lr_d

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """A config from a dict (unknown keys are ignored, missing ones take their defaults)."""
        if not isinstance(values, dict):
            raise RunError(f"a config must be a dict of settings, got {type(values).__name__}")
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


def build_models(config: TrainConfig) -> tuple[Generator, Discriminator]:
    """A fresh G and D for `config`, initialised by `weights_init` (N(0, 0.02) convolution weights,
    drawn from tinygan's default generator, G's first)."""
    generator = build_generator(config)
    discriminator = Discriminator(ndf=config.ndf, num_classes=_classes(config),
                                  projection=config.projection).apply(weights_init)
    return generator, discriminator


def build_generator(config: TrainConfig) -> Generator:
    """A fresh G for `config` alone (as `build_models` draws it)."""
    return Generator(nz=config.nz, ngf=config.ngf, upsample=config.upsample,
                     num_classes=_classes(config)).apply(weights_init)


def _classes(config: TrainConfig) -> int | None:
    return NUM_DIGITS if config.conditional else None


def _option(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def data_setting(data: str) -> str:
    """--data as a run stores it: "bundled", or the folder as an absolute path, so that the
    run resumes from any working directory (a relative path means where it was typed)."""
    return data if data == BUNDLED else os.path.abspath(data)


def resumed_config(saved: dict, given: dict, batch: int, log=print, source: str = "the checkpoint") -> TrainConfig:
    """The config of a resumed run: the `saved` settings (of `source`), overridden by those `given` now.

    This is the one place where old and new settings meet.  Each override other than
    --epochs is announced through `log`.  A run saved in the middle of an epoch (`batch`
    > 0) refuses a new --batch-size, --limit or --data: the saved batch index counts
    batches of the old size over the old digits, so it means nothing in the new epoch
    (and, past the new epoch's end, no batch would ever come).  Finishing the epoch first,
    or starting a new run, are the two honest choices; the message names both.
    """
    for name, kinds in (("conditional", ("an unconditional", "a conditional")),
                        ("projection", ("a label-planes discriminator's", "a projection discriminator's"))):
        if name in given and bool(saved.get(name, False)) != given[name]:
            option = f"--{name}" if given[name] else f"--no-{name}"
            raise RunError(f"{option}: {source} is of {kinds[bool(saved.get(name))]} run, and a model cannot "
                           f"change kind when resumed; start a new run with --out")
    # A checkpoint from before a setting existed was trained without it: read the missing
    # setting as "off", not as today's default.
    saved = {**SETTINGS_OF_OLDER_CHECKPOINTS, **saved}
    config = TrainConfig.from_dict({**saved, **given})
    # Each given setting as the config stores it (--data as an absolute path), to compare
    # with the saved one, which was stored the same way.
    stored = config.to_dict()
    now = {name: stored.get(name, value) for name, value in given.items()}
    changed = [name for name, value in now.items() if saved.get(name) != value]
    shaping = [name for name in changed if name in EPOCH_SHAPING_OPTIONS]
    if batch and shaping:
        options = ", ".join(f"{_option(name)} {saved.get(name)} -> {now[name]}" for name in shaping)
        raise RunError(f"{source} stopped in the middle of an epoch (after batch {batch}), so {options} "
                       f"cannot change now: resume without it until an epoch ends, or start a new run with --out")
    for name in changed:
        if name != "epochs":
            log(f"note: {_option(name)} {now[name]} replaces {source}'s {saved.get(name)}")
    return config


def load_training_images(config: TrainConfig) -> np.ndarray:
    """The uint8 digits (N, 28, 28) to train on (see `load_training_digits`)."""
    return load_training_digits(config)[0]


def load_training_digits(config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 digits (N, 28, 28) to train on and their labels (N,): the bundled training split, or MNIST
    from a folder.

    The bundled sample is split as `split_bundled()` does by default; only its training
    part is used, so the held-out part stays unseen for `tinygan evaluate`.
    """
    if config.data == BUNDLED:
        (images, labels), _ = bundled_split()
    else:
        folder = Path(config.data)
        if not folder.is_dir():
            raise RunError(f"--data {config.data}: no such folder (expected a folder holding the MNIST IDX "
                           f"files train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz])")
        try:
            images, labels = load_mnist(folder, train=True)
        except (OSError, ValueError) as error:
            raise RunError(f"--data {config.data}: {error}") from None
    if config.limit is not None:
        images, labels = images[:config.limit], labels[:config.limit]
    if len(images) < config.batch_size:
        raise RunError(f"--batch-size {config.batch_size} is larger than the {len(images)} training digits")
    return images, labels


def bundled_split():
    """`split_bundled()`, with a damaged or missing data file reported as a `RunError`."""
    try:
        return split_bundled()
    except (OSError, ValueError) as error:
        raise RunError(f"the bundled MNIST sample cannot be read: {error}") from None


__all__ = ["TrainConfig", "build_models", "build_generator", "resumed_config", "load_training_images",
           "load_training_digits", "bundled_split", "EPOCH_SHAPING_OPTIONS", "NUM_DIGITS"]
