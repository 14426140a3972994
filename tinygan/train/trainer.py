"""`DCGANTrainer`: G, D, their optimizers, the data and the random streams of one run, and its counters.

One training step (Goodfellow et al. 2014, in the form of the PyTorch DCGAN example):

1. Discriminator.  Show D a batch of real digits with target 1 and a batch of fakes
   G(z) with target 0; minimise  BCE(D(x), 1) + BCE(D(G(z)), 0),  i.e. maximise
   log D(x) + log(1 - D(G(z))).  The fakes are *detached*: this step must not change G.
2. Generator.  Show D the same fakes with target 1 and minimise BCE(D(G(z)), 1) with
   respect to G only.  (The paper's  min log(1 - D(G(z)))  would give G almost no
   gradient early on, when D rejects every fake; maximising log D(G(z)) instead is the
   "non-saturating" loss everybody uses.)

Both use Adam with betas=(0.5, 0.999), as in the DCGAN paper (Radford et al. 2015) and the
PyTorch example: the lower beta1 makes the momentum forget faster, which suits a target
that keeps moving.  The learning rate is config.lr (4e-4 by default, twice the paper's:
measured to reach the same quality in half the steps here), or config.lr_d for D.
Samples come from a moving average of G's weights (config.ema, `average.py`).

A conditional run (`config.conditional`) gives both networks the digit's label: D sees
real digits with their true labels and fakes with the labels G was asked for, which are
drawn uniformly from 0..9 by the noise generator, right after the step's z.

Reproducibility: every random number comes from a generator whose state is in the
checkpoint -- tinygan's default generator (weight initialisation), a noise generator
(the z of each step), and the DataLoader's (seed, epoch) shuffling -- so the same seed
gives the same run, and a run stopped (Ctrl-C, --max-steps) and resumed equals one that
never stopped, step for step and bit for bit.
"""
from __future__ import annotations

import contextlib
import itertools
import time

import numpy as np

from .. import functional as F
from .. import optim
from ..autograd import no_grad
from ..data import DataLoader
from ..random import default_generator, manual_seed, state_kept
from ..tensor import Tensor
from .checkpoint import CHECKPOINT_FORMAT, CHECKPOINT_VERSION, FIXED_NOISE_SIZE, load_models
from .average import WeightAverage
from .config import NUM_DIGITS, TrainConfig, build_generator, build_models
from .errors import Diverged, RunError


class DCGANTrainer:
    """G, D, their optimizers, the data loader and the random generators of one run.

    The trainer owns its counters -- `epoch` (epochs completed), `batch` (batches of the
    current epoch done), `step` (steps done in total) and `seconds` (training time over all
    sessions) -- and only `train_next_batch` advances them.  Everything that changes while
    training is in `state_dict()`, so `trainer.load_state_dict(saved)` on a trainer built
    from the same config continues exactly where `saved` was taken.
    """

    def __init__(self, config: TrainConfig, images: np.ndarray, labels: np.ndarray | None = None):
        self.config = config
        if config.conditional and labels is None:
            raise RunError("a conditional run needs the labels of its training digits")
        # The model weights come from tinygan's default generator: seed it first.
        manual_seed(config.seed)
        self.generator, self.discriminator = build_models(config)
        betas = (config.beta1, 0.999)
        self.optimizer_g = optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas)
        self.optimizer_d = optim.Adam(self.discriminator.parameters(), lr=config.discriminator_lr, betas=betas)
        # The generator that samples: a moving average of G's weights (config.ema), or G itself.
        self.average = None
        if config.ema:
            with state_kept():  # the copy's own initial weights are overwritten: draw nothing for them
                copy = build_generator(config)
            self.average = WeightAverage(self.generator, copy, config.ema)
        # A conditional run's loader yields (images, labels); the order is the same either way.
        self.loader = DataLoader(images, labels if config.conditional else None, batch_size=config.batch_size,
                                 shuffle=True, drop_last=True, seed=config.seed)
        # Independent streams for the training noise and the fixed grid noise, both from the seed.
        noise_seed, grid_seed = np.random.SeedSequence(config.seed).spawn(2)
        self.noise = np.random.default_rng(noise_seed)
        self.fixed_noise = np.random.default_rng(grid_seed).standard_normal(
            (FIXED_NOISE_SIZE, config.nz, 1, 1)).astype(np.float32)
        # The grid's labels (conditional runs): 0..9 repeating, so every digit is drawn every epoch.
        self.fixed_labels = np.arange(FIXED_NOISE_SIZE) % NUM_DIGITS if config.conditional else None
        # D's targets (real digits: config.real_label, below 1 for one-sided label smoothing; fakes: 0)
        # and G's (its fakes called real: always 1, smoothing is for D alone).
        self.real_target = np.full(config.batch_size, config.real_label, dtype=np.float32)
        self.fake_target = np.zeros(config.batch_size, dtype=np.float32)
        self.generator_target = np.ones(config.batch_size, dtype=np.float32)
        self.epoch = 0
        self.batch = 0
        self.step = 0
        self.seconds = 0.0
        self.last_step_seconds = 0.0
        self._batches = None  # the rest of the current epoch's batches, created when first needed

    @property
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    # ------------------------------------------------------------------ one step
    def train_step(self, real: np.ndarray, labels: np.ndarray | None = None) -> dict:
        """One discriminator update and one generator update on a batch of real digits (and, in a
        conditional run, their labels).

        Returns the step's numbers: loss_d, loss_g, d_x (mean D on the real batch),
        d_g_z (mean D on the fakes, before D's update) and d_g_z2 (after it).
        Raises `Diverged` if an output or a loss is NaN/inf.
        """
        G, D = self.generator, self.discriminator
        z = Tensor(self.noise.standard_normal((len(real), self.config.nz, 1, 1)).astype(np.float32))
        # The labels G is asked for (None in an unconditional run: then nothing more is drawn).
        wanted = self.noise.integers(0, NUM_DIGITS, size=len(real)) if self.config.conditional else None

        # 1. Discriminator: real digits -> 1 (config.real_label), fakes -> 0.
        self.optimizer_d.zero_grad()
        d_real = _finite("D(x)", D(Tensor(real), labels))
        loss_real = F.binary_cross_entropy(d_real, self.real_target)
        loss_real.backward()
        fake = _finite("G(z)", G(z, wanted))
        d_fake = _finite("D(G(z))", D(fake.detach(), wanted))  # detach: no gradient may reach G here
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
            d_fake_after = _finite("D(G(z))", D(fake, wanted))
            loss_g = F.binary_cross_entropy(d_fake_after, self.generator_target)
            _finite("loss_G", loss_g.item())
            loss_g.backward()
        finally:
            D.requires_grad_(True)
        self.optimizer_g.step()
        if self.average is not None:
            self.average.update(self.step)

        self.step += 1
        return {"loss_d": loss_d, "loss_g": loss_g.item(), "d_x": float(d_real.data.mean()),
                "d_g_z": float(d_fake.data.mean()), "d_g_z2": float(d_fake_after.data.mean())}

    def train_next_batch(self) -> dict:
        """Train on the next batch and advance the counters; returns the step's metrics record.

        When the batch was the epoch's last, `epoch` goes up by one and `batch` back to 0
        (`epoch_finished` says so), and the next call starts the next epoch.
        """
        if self._batches is None:
            self._batches = self._rest_of_epoch()
        batch = next(self._batches)
        real, labels = batch if self.config.conditional else (batch, None)
        epoch = self.epoch + 1  # the epoch this step belongs to (1-based), as recorded in the metrics
        started = time.perf_counter()
        try:
            # Overflow to inf is not worth a warning on stderr here: every output and loss is
            # checked (`_finite`), and the weights after each epoch (`check_finite`).
            with np.errstate(over="ignore", invalid="ignore"):
                numbers = self.train_step(real, labels)
        except Diverged as error:
            raise Diverged(f"{error} at step {self.step + 1}") from None
        self.last_step_seconds = time.perf_counter() - started
        self.seconds += self.last_step_seconds
        self.batch += 1
        if self.batch == self.steps_per_epoch:
            self.epoch, self.batch, self._batches = self.epoch + 1, 0, None
        return {"step": self.step, "epoch": epoch, **{key: round(value, 6) for key, value in numbers.items()},
                "seconds": round(self.seconds, 3)}

    @property
    def epoch_finished(self) -> bool:
        """True right after the last batch of an epoch (and before the first step)."""
        return self.batch == 0

    def _rest_of_epoch(self):
        """The batches of the current epoch not yet trained on (all but the first `batch`)."""
        if self.batch >= self.steps_per_epoch:  # never silently yield nothing: that loop would not end
            raise RunError(f"the checkpoint is at batch {self.batch} of an epoch that has only "
                           f"{self.steps_per_epoch} batches with this --batch-size and data")
        self.loader.set_epoch(self.epoch)
        return itertools.islice(iter(self.loader), self.batch, None)

    def check_finite(self) -> None:
        """Raise `Diverged` if any weight or buffer of G or D is NaN/inf (e.g. a BatchNorm running_var
        after a huge --lr, which the losses, computed with batch statistics, do not show)."""
        for name, model in (("generator", self.generator), ("discriminator", self.discriminator)):
            for key, value in model.state_dict().items():
                if not np.all(np.isfinite(value)):
                    raise Diverged(f"training diverged: the {name}'s {key} is not finite after step {self.step}")

    def sample(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Images G(z) (conditional runs: G(z, labels)) in evaluation mode (BatchNorm with its running
        statistics), as an array, from the generator that samples (`generator_in_eval_mode`)."""
        with self.generator_in_eval_mode() as generator, no_grad():
            return generator(Tensor(np.asarray(z, dtype=np.float32)), labels).data

    def sample_grid(self) -> np.ndarray:
        """The images of the fixed noise (and, in a conditional run, the fixed labels) drawn after every epoch."""
        return self.sample(self.fixed_noise, self.fixed_labels)

    @contextlib.contextmanager
    def generator_in_eval_mode(self, averaged: bool = True):
        """`with trainer.generator_in_eval_mode() as G:` the generator that samples, in evaluation mode (its
        running statistics used, none changed): the weight average if the run keeps one (and `averaged`),
        else G, which goes back to the mode it was in afterwards."""
        if averaged and self.average is not None:
            yield self.average.average  # always in evaluation mode
            return
        was_training = self.generator.training
        self.generator.eval()
        try:
            yield self.generator
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
            "rng": {"noise": self.noise.bit_generator.state, "default": default_generator().bit_generator.state},
            "fixed_noise": self.fixed_noise,
            **({"generator_average": self.average.average.state_dict()} if self.average is not None else {}),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state` (from `state_dict`, checked by `read_checkpoint`); the config must
        describe the same models.  A damaged part is reported as a `RunError` naming it."""
        load_models(self.generator, self.discriminator, state)
        if self.average is not None:
            # A checkpoint from before the run averaged (an older run, or one resumed with --ema) starts
            # the average at its G.
            self.average.average.load_state_dict(state.get("generator_average", state["generator"]))
        for part, restore in (("optimizer_g", lambda: self.optimizer_g.load_state_dict(state["optimizer_g"])),
                              ("optimizer_d", lambda: self.optimizer_d.load_state_dict(state["optimizer_d"])),
                              ("loader", lambda: self.loader.load_state_dict(
                                  {"seed": state["loader"]["seed"], "epoch": state["epoch"]})),
                              ("rng", lambda: self._restore_random_streams(state["rng"]))):
            try:
                restore()
            except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as error:
                raise RunError(f"the checkpoint's {part} state is damaged: {error}") from None
        # The optimizers' saved hyperparameters win over ours on load; a resumed run may
        # deliberately change them (e.g. --lr), so apply the config's again.
        for optimizer, lr in ((self.optimizer_g, self.config.lr), (self.optimizer_d, self.config.discriminator_lr)):
            for group in optimizer.param_groups:
                group["lr"], group["betas"] = lr, (self.config.beta1, group["betas"][1])
        self.epoch, self.batch, self.step = int(state["epoch"]), int(state["batch"]), int(state["step"])
        self.seconds = float(state["seconds"])
        self.fixed_noise = np.asarray(state["fixed_noise"], dtype=np.float32)
        self._batches = None

    def _restore_random_streams(self, states: dict) -> None:
        self.noise.bit_generator.state = states["noise"]
        default_generator().bit_generator.state = states["default"]


def _finite(what: str, value):
    """`value` (a Tensor or a number) if it holds no NaN/inf, else stop the run with `Diverged`."""
    numbers = value.data if isinstance(value, Tensor) else value
    if not np.all(np.isfinite(numbers)):
        raise Diverged(f"training diverged: {what} is not finite")
    return value


__all__ = ["DCGANTrainer"]
