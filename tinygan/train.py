"""Train the MNIST DCGAN: the training step, checkpoints that resume exactly, and the run folder.

One training step (Goodfellow et al. 2014, in the form of the PyTorch DCGAN example):

1. Discriminator.  Show D a batch of real digits with target 1 and a batch of fakes
   G(z) with target 0; minimise  BCE(D(x), 1) + BCE(D(G(z)), 0),  i.e. maximise
   log D(x) + log(1 - D(G(z))).  The fakes are *detached*: this step must not change G.
2. Generator.  Show D the same fakes with target 1 and minimise BCE(D(G(z)), 1) with
   respect to G only.  (The paper's  min log(1 - D(G(z)))  would give G almost no
   gradient early on, when D rejects every fake; maximising log D(G(z)) instead is the
   "non-saturating" loss everybody uses.)

Both use Adam(lr=2e-4, betas=(0.5, 0.999)), as in the DCGAN paper (Radford et al. 2015)
and the PyTorch example: the lower beta1 makes
the momentum forget faster, which suits a target that keeps moving.

A run folder holds:
    config.json           the settings
    metrics.jsonl         one JSON line per step: losses, D(x), D(G(z)), time
    samples/epoch_NNN.png  the same 64 noise vectors drawn after each epoch (an 8x8 grid)
    progress.gif          those grids as an animation
    losses.png            the training curves
    checkpoint.npz        everything needed to continue (see `DCGANTrainer.state_dict`)

Reproducibility: every random number comes from a generator whose state is in the
checkpoint -- tinygan's default generator (weight initialisation), a noise generator
(the z of each step), and the DataLoader's (seed, epoch) shuffling -- so the same seed
gives the same run, and a run stopped (Ctrl-C, --max-steps) and resumed equals one that
never stopped, step for step and bit for bit.
"""
from __future__ import annotations

import dataclasses
import json
import math
import signal
import threading
import time
from pathlib import Path

import numpy as np

from . import functional as F
from . import optim
from .autograd import no_grad
from .data import DataLoader, load_mnist, split_bundled
from .images import plot_losses, read_metrics, save_gif, save_grid
from .models import UPSAMPLE_MODES, Discriminator, Generator, weights_init
from .serialization import load, save
from .tensor import Tensor, default_generator, manual_seed

CHECKPOINT_FORMAT = "tinygan-dcgan-checkpoint"
CHECKPOINT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.npz"
FIXED_NOISE_SIZE = 64  # the 8x8 grid drawn after every epoch


class RunError(Exception):
    """A problem the user can fix (bad data folder, unreadable checkpoint, ...): one clear line.

    `exit_code` is what the command line exits with: 2 for bad input, as argparse does.
    """

    exit_code = 2


class Diverged(RunError):
    """The losses became NaN/inf; the last good checkpoint is kept."""

    exit_code = 1


class Interrupted(RunError):
    """Ctrl-C: the checkpoint was saved and the run can be resumed."""

    exit_code = 130


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run (saved as config.json and in the checkpoint).

    The defaults are the PyTorch DCGAN example's (batch 64, Adam lr 2e-4, beta1 0.5, nz 100,
    widths 64; Radford et al.'s paper has the same Adam settings and nz but batches of 128)
    and 80 epochs of the bundled sample's 4,000 training digits: 4,960 steps, 8.5
    minutes on a 2-core CPU (~0.1 s per step).  Narrower networks are cheaper per step but
    not per unit of quality.  Measured at about equal training time (`tinygan evaluate`,
    FID-MNIST, lower is better):  ngf=ndf=32, 9,920 steps (0.04 s each): 78.5;
    ngf=64/ndf=32, 6,510 steps (0.08 s): 70.0;  ngf=ndf=64, 4,960 steps (0.11 s): 67.9.
    """

    epochs: int = 80
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    upsample: str = "transposed"
    data: str = "bundled"  # or a folder holding the MNIST IDX files
    limit: int | None = None  # train on the first `limit` digits only (quick experiments, tests)
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "nz", "ngf", "ndf"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise RunError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit <= 0):
            raise RunError(f"--limit must be a positive integer, got {self.limit!r}")
        if not (isinstance(self.seed, int) and self.seed >= 0):
            raise RunError(f"--seed must be a non-negative integer, got {self.seed!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise RunError(f"--lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.beta1 < 1:
            raise RunError(f"--beta1 must be in [0, 1), got {self.beta1!r}")
        if self.upsample not in UPSAMPLE_MODES:
            raise RunError(f"--upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {self.upsample!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})


def build_models(config: TrainConfig) -> tuple[Generator, Discriminator]:
    """A fresh G and D for `config`, initialised by `weights_init` (N(0, 0.02) convolution weights)."""
    generator = Generator(nz=config.nz, ngf=config.ngf, upsample=config.upsample).apply(weights_init)
    discriminator = Discriminator(ndf=config.ndf).apply(weights_init)
    return generator, discriminator


def load_training_images(config: TrainConfig) -> np.ndarray:
    """The uint8 digits (N, 28, 28) to train on: the bundled training split, or MNIST from a folder.

    The bundled sample is split as `split_bundled()` does by default; only its training
    part is used, so the held-out part stays unseen for `tinygan evaluate`.
    """
    if config.data == "bundled":
        (images, _), _ = bundled_split()
    else:
        folder = Path(config.data)
        if not folder.is_dir():
            raise RunError(f"--data {config.data}: no such folder (expected a folder holding the MNIST IDX "
                           f"files train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz])")
        try:
            images, _ = load_mnist(folder, train=True)
        except (OSError, ValueError) as error:
            raise RunError(f"--data {config.data}: {error}") from None
    if config.limit is not None:
        images = images[:config.limit]
    if len(images) < config.batch_size:
        raise RunError(f"--batch-size {config.batch_size} is larger than the {len(images)} training digits")
    return images


def bundled_split():
    """`split_bundled()`, with a damaged or missing data file reported as a `RunError`."""
    try:
        return split_bundled()
    except (OSError, ValueError) as error:
        raise RunError(f"the bundled MNIST sample cannot be read: {error}") from None


def _generator_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state  # a dict of ints and strings: saves as is


def _set_generator_state(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


class DCGANTrainer:
    """G, D, their optimizers, the data loader and the random generators of one run.

    Everything that changes while training is in `state_dict()`, so
    `trainer.load_state_dict(saved)` on a trainer built from the same config continues
    exactly where `saved` was taken.
    """

    def __init__(self, config: TrainConfig, images: np.ndarray):
        self.config = config
        # The model weights come from tinygan's default generator: seed it first.
        manual_seed(config.seed)
        self.generator, self.discriminator = build_models(config)
        betas = (config.beta1, 0.999)
        self.optimizer_g = optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas)
        self.optimizer_d = optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=betas)
        self.loader = DataLoader(images, batch_size=config.batch_size, shuffle=True, drop_last=True,
                                 seed=config.seed)
        # Independent streams for the training noise and the fixed grid noise, both from the seed.
        noise_seed, grid_seed = np.random.SeedSequence(config.seed).spawn(2)
        self.noise = np.random.default_rng(noise_seed)
        self.fixed_noise = np.random.default_rng(grid_seed).standard_normal(
            (FIXED_NOISE_SIZE, config.nz, 1, 1)).astype(np.float32)
        self.real_target = np.ones(config.batch_size, dtype=np.float32)
        self.fake_target = np.zeros(config.batch_size, dtype=np.float32)
        self.epoch = 0  # epochs completed
        self.batch = 0  # batches of the current epoch already trained on (non-zero after a mid-epoch stop)
        self.step = 0  # training steps completed, in total
        self.seconds = 0.0  # training time so far, over all sessions

    # ------------------------------------------------------------------ one step
    def train_step(self, real: np.ndarray) -> dict:
        """One discriminator update and one generator update on a batch of real digits.

        Returns the step's numbers: loss_d, loss_g, d_x (mean D on the real batch),
        d_g_z (mean D on the fakes, before D's update) and d_g_z2 (after it).
        """
        G, D = self.generator, self.discriminator
        z = Tensor(self.noise.standard_normal((len(real), self.config.nz, 1, 1)).astype(np.float32))

        # 1. Discriminator: real digits -> 1, fakes -> 0.
        self.optimizer_d.zero_grad()
        d_real = _finite("D(x)", D(Tensor(real)))
        loss_real = F.binary_cross_entropy(d_real, self.real_target)
        loss_real.backward()
        fake = _finite("G(z)", G(z))
        d_fake = _finite("D(G(z))", D(fake.detach()))  # detach: no gradient may reach G here
        loss_fake = F.binary_cross_entropy(d_fake, self.fake_target)
        loss_fake.backward()
        loss_d = _finite("loss_D", loss_real.item() + loss_fake.item())
        self.optimizer_d.step()

        # 2. Generator: make D say 1 for the fakes.  The gradient flows back through D into
        # G, but D's own weights need none in this half of the step: switching them off
        # skips that work and changes nothing for G.
        self.optimizer_g.zero_grad()
        D.requires_grad_(False)
        try:
            d_fake_after = _finite("D(G(z))", D(fake))
            loss_g = F.binary_cross_entropy(d_fake_after, self.real_target)
            _finite("loss_G", loss_g.item())
            loss_g.backward()
        finally:
            D.requires_grad_(True)
        self.optimizer_g.step()

        self.step += 1
        return {"loss_d": loss_d, "loss_g": loss_g.item(), "d_x": float(d_real.data.mean()),
                "d_g_z": float(d_fake.data.mean()), "d_g_z2": float(d_fake_after.data.mean())}

    def sample(self, z: np.ndarray) -> np.ndarray:
        """Images G(z) in evaluation mode (BatchNorm with its running statistics), as an array."""
        was_training = self.generator.training
        self.generator.eval()
        try:
            with no_grad():
                return self.generator(Tensor(np.asarray(z, dtype=np.float32))).data
        finally:
            self.generator.train(was_training)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """The checkpoint: weights, optimizer moments, counters, RNG states and the config."""
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": self.config.to_dict(),
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.step,
            "seconds": self.seconds,
            "loader": self.loader.state_dict(),
            "rng": {"noise": _generator_state(self.noise), "default": _generator_state(default_generator())},
            "fixed_noise": self.fixed_noise,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state` (from `state_dict`); the config must describe the same models."""
        load_models(self.generator, self.discriminator, state)
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        # The optimizers' saved hyperparameters win over ours on load; a resumed run may
        # deliberately change them (e.g. --lr), so apply the config's again.
        for optimizer in (self.optimizer_g, self.optimizer_d):
            for group in optimizer.param_groups:
                group["lr"], group["betas"] = self.config.lr, (self.config.beta1, group["betas"][1])
        self.epoch, self.batch, self.step = int(state["epoch"]), int(state["batch"]), int(state["step"])
        self.seconds = float(state["seconds"])
        self.loader.load_state_dict({"seed": state["loader"]["seed"], "epoch": self.epoch})
        _set_generator_state(self.noise, state["rng"]["noise"])
        _set_generator_state(default_generator(), state["rng"]["default"])
        self.fixed_noise = np.asarray(state["fixed_noise"], dtype=np.float32)

    def batches(self):
        """The batches still to come in the current epoch (skipping those trained on before a stop)."""
        self.loader.set_epoch(self.epoch)
        for index, batch in enumerate(self.loader):
            if index >= self.batch:
                yield batch


def _finite(what: str, value):
    """`value` (a Tensor or a number) if it holds no NaN/inf, else stop the run with `Diverged`."""
    numbers = value.data if isinstance(value, Tensor) else value
    if not np.all(np.isfinite(numbers)):
        raise Diverged(f"training diverged: {what} is not finite")
    return value


def load_models(generator, discriminator, state: dict) -> None:
    """Load G and D weights from a checkpoint dict, naming mismatching keys and shapes on failure."""
    for name, model in (("generator", generator), ("discriminator", discriminator)):
        if name not in state:
            raise RunError(f"the checkpoint has no {name} weights")
        try:
            model.load_state_dict(state[name])
        except RuntimeError as error:
            details = str(error).split("\n", 1)[-1].replace("\n\t", "; ").strip()
            raise RunError(f"the checkpoint's {name} does not fit this architecture "
                           f"({_describe_architecture(model)}): {details}") from None


def _describe_architecture(model) -> str:
    if isinstance(model, Generator):
        return f"nz={model.nz}, ngf={model.ngf}, upsample={model.upsample}"
    return f"ndf={model.ndf}"


def read_checkpoint(path) -> dict:
    """Load and sanity-check a checkpoint file (or a run folder holding checkpoint.npz)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise RunError(f"no checkpoint at {path}")
    try:
        state = load(path)
    except (OSError, ValueError) as error:
        raise RunError(f"cannot read the checkpoint {path}: {error}") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RunError(f"{path} is a tinygan file but not a DCGAN training checkpoint")
    if state.get("version") != CHECKPOINT_VERSION:
        raise RunError(f"{path} has checkpoint version {state.get('version')!r}; this tinygan reads "
                       f"version {CHECKPOINT_VERSION}")
    missing = [key for key in ("config", "generator", "discriminator", "optimizer_g", "optimizer_d", "epoch",
                               "batch", "step", "seconds", "loader", "rng", "fixed_noise") if key not in state]
    if missing:
        raise RunError(f"{path} is an incomplete checkpoint: missing {', '.join(missing)}")
    return state


def config_from_checkpoint(state: dict, path="checkpoint") -> TrainConfig:
    try:
        return TrainConfig.from_dict(state["config"])
    except (TypeError, RunError) as error:
        raise RunError(f"{path}: its config is not valid: {error}") from None


def generator_from_checkpoint(path) -> tuple[Generator, dict]:
    """The trained generator of a checkpoint (in evaluation mode) and the checkpoint itself."""
    state = read_checkpoint(path)
    config = config_from_checkpoint(state, path)
    generator = Generator(nz=config.nz, ngf=config.ngf, upsample=config.upsample)
    discriminator = Discriminator(ndf=config.ndf)
    load_models(generator, discriminator, state)
    return generator.eval(), state


# ---------------------------------------------------------------------- the run folder
class RunFolder:
    """The files of a run (see the module docstring), and writing them."""

    def __init__(self, path):
        self.path = Path(path)
        self.checkpoint = self.path / CHECKPOINT_NAME
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.jsonl"
        self.samples = self.path / "samples"
        self.gif = self.path / "progress.gif"
        self.losses = self.path / "losses.png"

    def prepare(self) -> None:
        """Create the folders, failing early with a clear message if we cannot write there."""
        try:
            self.samples.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as error:
            raise RunError(f"--out {self.path}: cannot write the run folder there ({error.strerror or error})") from None

    def clear(self) -> None:
        """Remove the files an earlier run left here (only ours: metrics, epoch grids, GIF, plot)."""
        for path in [self.metrics, self.gif, self.losses, *self.samples.glob("epoch_*.png")]:
            path.unlink(missing_ok=True)

    def sample_path(self, epoch: int) -> Path:
        return self.samples / f"epoch_{epoch:03d}.png"

    def write_config(self, config: TrainConfig) -> None:
        self.config.write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    def keep_metrics_until(self, step: int) -> None:
        """Drop metric lines past `step`: they belong to steps the resumed run will redo."""
        records = [record for record in read_metrics(self.metrics) if record["step"] <= step]
        self.metrics.write_text("".join(json.dumps(record) + "\n" for record in records))

    def write_pictures(self, epoch: int) -> None:
        """Refresh the GIF (grids of epochs 1..epoch) and the loss plot."""
        frames = [self.sample_path(e) for e in range(1, epoch + 1) if self.sample_path(e).is_file()]
        if frames:
            save_gif(frames, self.gif)
        records = read_metrics(self.metrics)
        if records:
            plot_losses(records, self.losses)


# ---------------------------------------------------------------------- the loop
class _StopRequest:
    """Turns Ctrl-C into a flag checked between steps, so a step is never cut in half.

    A second Ctrl-C is not caught (the default handler is back by then): it stops at once,
    and the checkpoint of the last completed epoch is still there, because checkpoints
    are written atomically.
    """

    def __init__(self):
        self.requested = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def train(config: TrainConfig, out, resume=None, max_steps: int | None = None, progress: bool = True,
          log=print) -> DCGANTrainer:
    """Train (or continue training) a DCGAN and write its run folder `out`.

    Args:
        config: the run's settings.  When resuming, the architecture must match the
            checkpoint's; `epochs` may be raised to train longer.
        out: the run folder.
        resume: a checkpoint to continue from (a file, or a run folder), or None.
        max_steps: stop (with a checkpoint, as Ctrl-C does) once this many steps in total
            are done; None trains for `config.epochs`.
        progress: show a tqdm progress bar.
        log: where one-line messages go.

    Returns the trainer, whose G and D are trained.  Raises `Interrupted` on Ctrl-C (after
    saving a checkpoint), `Diverged` on NaN losses (keeping the last good checkpoint)
    and `RunError` on bad input.
    """
    run = RunFolder(out)
    state = read_checkpoint(resume) if resume is not None else None
    images = load_training_images(config)
    run.prepare()
    trainer = DCGANTrainer(config, images)
    if state is not None:
        trainer.load_state_dict(state)
        run.keep_metrics_until(trainer.step)
        log(f"resuming {resume} at epoch {trainer.epoch + 1}, step {trainer.step}")
    else:
        run.clear()  # a fresh run in an old folder must not inherit its metrics and pictures
    run.write_config(config)

    steps_per_epoch = len(trainer.loader)
    total_steps = config.epochs * steps_per_epoch
    if trainer.epoch >= config.epochs:
        log(f"the run is already complete ({config.epochs} epochs); pass a larger --epochs to train longer")
        return trainer
    if max_steps is not None:
        total_steps = min(total_steps, max_steps)
    log(f"training on {len(images)} digits: {steps_per_epoch} steps per epoch, {config.epochs} epochs "
        f"-> {run.path}")
    session_start = time.perf_counter()
    bar = _progress_bar(progress, total=total_steps, initial=min(trainer.step, total_steps))
    stop = _StopRequest()
    try:
        with stop, run.metrics.open("a") as metrics:
            while trainer.epoch < config.epochs and trainer.step < total_steps:
                bar.set_description(f"epoch {trainer.epoch + 1}/{config.epochs}")
                for real in trainer.batches():
                    started = time.perf_counter()
                    numbers = trainer.train_step(real)
                    seconds = time.perf_counter() - started
                    trainer.seconds += seconds
                    trainer.batch += 1
                    metrics.write(json.dumps({"step": trainer.step, "epoch": trainer.epoch + 1,
                                              **{k: round(v, 6) for k, v in numbers.items()},
                                              "seconds": round(trainer.seconds, 3)}) + "\n")
                    _show(bar, numbers, len(real) / seconds)
                    if stop.requested or trainer.step >= total_steps:
                        break
                if trainer.batch == steps_per_epoch:  # the epoch is complete
                    trainer.epoch += 1
                    trainer.batch = 0
                    metrics.flush()
                    save_grid(trainer.sample(trainer.fixed_noise), run.sample_path(trainer.epoch))
                    run.write_pictures(trainer.epoch)
                    save(trainer.state_dict(), run.checkpoint)
                if stop.requested or trainer.step >= total_steps:
                    break
        if trainer.batch:  # stopped mid-epoch (Ctrl-C or max_steps): save where we are
            save(trainer.state_dict(), run.checkpoint)
            run.write_pictures(trainer.epoch)
    except Diverged as error:
        # Nothing is saved after a bad step, so the checkpoint on disk is the last good one.
        kept = (f"the last good checkpoint, {run.checkpoint}, is kept" if run.checkpoint.exists()
                else "no checkpoint had been written yet")
        raise Diverged(f"{error} at step {trainer.step + 1}; stopped ({kept}). Try a lower --lr or "
                       f"another --seed") from None
    finally:
        bar.close()
    if stop.requested:
        raise Interrupted(f"interrupted at step {trainer.step} (epoch {trainer.epoch + 1}); checkpoint saved to "
                          f"{run.checkpoint}. Resume with: tinygan train --resume --out {run.path}")
    minutes = (time.perf_counter() - session_start) / 60
    log(f"done: {trainer.step} steps, {trainer.epoch} epochs ({minutes:.1f} min in this session). Samples: "
        f"{run.samples}; score them with: tinygan evaluate {run.path}")
    return trainer


def _progress_bar(enabled: bool, total: int, initial: int):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True,
                mininterval=0.5)


def _show(bar, numbers: dict, images_per_second: float) -> None:
    if not bar.disable:
        bar.set_postfix_str(f"loss_D {numbers['loss_d']:.3f}  loss_G {numbers['loss_g']:.3f}  "
                            f"D(x) {numbers['d_x']:.2f}  D(G(z)) {numbers['d_g_z']:.2f}  "
                            f"{images_per_second:.0f} img/s", refresh=False)
    bar.update(1)  # redraws (at most twice a second), postfix included


__all__ = ["TrainConfig", "DCGANTrainer", "train", "build_models", "load_training_images", "read_checkpoint",
           "generator_from_checkpoint", "config_from_checkpoint", "load_models", "RunError", "Diverged",
           "Interrupted", "RunFolder"]
