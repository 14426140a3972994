"""`train`: one session of a run -- open the run folder, train until told to stop, save, report.

The order of a session, and why:

1. Everything that can be refused is checked before any file is touched: the checkpoint
   to resume (read and checked in full), the config (merged with the checkpoint's in
   `resumed_config`), the memory the networks need, the training digits.
2. The run folder is locked (one writer) and checked: a folder holding a run is only
   continued (resuming its own checkpoint) or replaced (`overwrite=True`), never written
   over by accident.  Temporaries of killed saves are removed.
3. Training: the trainer advances its own counters; the loop has one stop condition
   (`_Session.should_stop`: the epochs are done, the step limit is reached, or Ctrl-C or
   SIGTERM came).
   After each epoch: check the weights are finite, draw the grid, score the samples
   (every `quality_every` epochs; a new lowest FID also writes best.npz), refresh the
   pictures, write the checkpoint (atomically).  A stop in the middle of an epoch saves too.
4. A failure to write (a full disk) is one line, and the last checkpoint is intact.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from ..images import save_grid
from ..runtime import announce_compiling, slow_configuration
from .checkpoint import read_checkpoint, write_checkpoint
from .config import TrainConfig, load_training_digits, resumed_config
from .errors import Diverged, Interrupted, RunError
from .limits import check_training_fits
from .quality import QualityJudge, best_fid, is_quality
from .run_folder import RunFolder, read_metrics
from .trainer import DCGANTrainer


class _StopRequest:
    """Turns Ctrl-C (SIGINT) and SIGTERM into a flag checked between steps, so a step is never
    cut in half and the run stops with a checkpoint.

    SIGTERM is what `kill`, `timeout`, `docker stop` and job schedulers send before they
    kill.  The signal is acknowledged on stderr when it comes, not when the step ends.
    After the first signal the previous handlers are back: a second Ctrl-C stops at
    once, and the checkpoint of the last completed epoch is still there, because
    checkpoints are written atomically.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
            self._previous = {number: signal.signal(number, self._handle) for number in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        self.requested = True
        self._restore()
        # Said at once: a step can take a while (the first one compiles the kernels for up to a
        # minute), and a Ctrl-C nobody acknowledges gets pressed again.  os.write, not print:
        # the handler may run while the main thread is inside a write to the same stream
        # (the progress bar's), and Python's buffered streams refuse a reentrant write.
        try:
            os.write(2, f"\n{signal.Signals(signum).name}: stopping after this step, with a checkpoint "
                        f"(Ctrl-C again stops at once)\n".encode())
        except OSError:  # no stderr to tell
            pass

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def __exit__(self, *exc_info):
        self._restore()
        return False


def train(config, out, resume=None, max_steps: int | None = None, progress: bool = True, log=print,
          overwrite: bool = False) -> DCGANTrainer:
    """Train (or continue training) a DCGAN and write its run folder `out`.

    Args:
        config: the run's settings: a `TrainConfig`, or a dict of the settings given (the
            rest from the checkpoint when resuming, else the defaults).  When resuming, the
            architecture must match the checkpoint's; `epochs` may be raised to train longer;
            a run saved mid-epoch keeps its batch size, limit and data until the epoch ends.
        out: the run folder.
        resume: a checkpoint to continue from (a file, or a run folder), or None.  A run folder's
            own run that was killed before its first checkpoint starts again from step 0 with
            the settings in its config.json (and those given now).
        max_steps: stop (with a checkpoint, as Ctrl-C does) once this many steps in total
            are done; None trains for `config.epochs`.
        progress: show a tqdm progress bar.
        log: where one-line messages go.
        overwrite: replace a run already in `out` (otherwise that is refused).

    Returns the trainer, whose G and D are trained.  Raises `Interrupted` on Ctrl-C (after
    saving a checkpoint), `Diverged` on NaN/inf losses or weights (keeping the last good
    checkpoint) and `RunError` on bad input, a folder in use or holding another run, or a
    failed write.
    """
    run = RunFolder(out)
    given = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    # A run stopped in its first epoch (killed, or Ctrl-C while it started) has its settings
    # but no checkpoint: continuing it means starting it again, with those settings.
    restart = resume is not None and _stopped_before_its_first_checkpoint(resume, run)
    state = read_checkpoint(resume) if resume is not None and not restart else None
    if restart:
        log(f"{run.path} has no checkpoint yet: its run stopped before saving one, in its first epoch. "
            f"Starting it again from step 0, with its settings ({run.config.name})")
        config = resumed_config(run.read_config(), given, 0, log, source=str(run.config))
    else:
        config = (resumed_config(state["config"], given, state["batch"], log) if state is not None
                  else TrainConfig.from_dict(given))
    check_training_fits(config)
    images, labels = load_training_digits(config)
    trainer = DCGANTrainer(config, images, labels)
    if state is not None:
        trainer.load_state_dict(state)  # a damaged part is refused here, before any file is touched
    continuing = state is not None and _same_file(resume, run)

    with run:
        if restart and run.checkpoint.exists():  # another process saved one since we looked
            raise RunError(f"{run.checkpoint} appeared while this run was starting; resume again")
        if not continuing:
            if not (overwrite or restart):  # a restart replaces only the files of its own run
                run.refuse_if_it_holds_a_run()
            run.clear()
        try:
            if state is not None:
                run.keep_metrics_until(trainer.step)
                log(f"resuming {resume} at epoch {trainer.epoch + 1}, step {trainer.step}")
            run.write_config(config)
        except OSError as error:
            raise _write_failure(run, error) from None
        if trainer.epoch >= config.epochs:
            log(f"the run is already complete ({config.epochs} epochs); pass a larger --epochs to train longer")
            return trainer
        session = _Session(trainer, run, config, max_steps, log)
        session.train_until_stopped(progress)
    return trainer


def _stopped_before_its_first_checkpoint(resume, run: RunFolder) -> bool:
    """Is `resume` the run folder's own checkpoint, not written yet although the run has begun (config.json)?"""
    return _is_own_checkpoint(resume, run) and not run.checkpoint.exists() and run.config.is_file()


def _same_file(resume, run: RunFolder) -> bool:
    """Is the checkpoint to resume the run folder's own (so the run there is the one being continued)?"""
    return _is_own_checkpoint(resume, run) and run.checkpoint.exists()


def _is_own_checkpoint(resume, run: RunFolder) -> bool:
    """Does `resume` (a checkpoint file, or a folder holding one) name `run`'s checkpoint.npz?"""
    resume = Path(resume)
    resume = resume / run.checkpoint.name if resume.is_dir() else resume
    return resume.resolve() == run.checkpoint.resolve()


class _Session:
    """The training of one session: the loop, its one stop condition, and what is written when."""

    def __init__(self, trainer: DCGANTrainer, run: RunFolder, config: TrainConfig, max_steps, log):
        self.trainer, self.run, self.config, self.log = trainer, run, config, log
        # Counted from where the run is: earlier epochs may have had another batch size.
        remaining = (config.epochs - trainer.epoch) * trainer.steps_per_epoch - trainer.batch
        self.max_steps = max_steps
        self.total_steps = trainer.step + remaining if max_steps is None else min(trainer.step + remaining, max_steps)
        self.stop = _StopRequest()
        # The scores so far (a resumed run's, from its metrics): the best decides when best.npz is replaced.
        earlier = read_metrics(run.metrics)
        self.best_fid = best_fid(earlier)
        self.last_fid = next((record["fid"] for record in reversed(earlier) if is_quality(record)), None)
        self.judge = QualityJudge(log)

    def should_stop(self) -> bool:
        """The one stop condition, checked before every step: the session's work is done, or
        Ctrl-C (or SIGTERM) came."""
        return self.done() or self.stop.requested

    def done(self) -> bool:
        """The epochs are done, or the step limit (--max-steps) is reached."""
        trainer = self.trainer
        return trainer.epoch >= self.config.epochs or (self.max_steps is not None and trainer.step >= self.max_steps)

    def train_until_stopped(self, progress: bool) -> None:
        trainer, run = self.trainer, self.run
        self.log(f"training on {len(trainer.loader.images)} digits: {trainer.steps_per_epoch} steps per epoch, "
                 f"{self.config.epochs} epochs -> {run.path}")
        for problem in slow_configuration():  # the img/s of the bar would not say why it is low
            self.log(f"warning: slow configuration: {problem} (see: tinygan info)")
        started = time.perf_counter()
        bar = _progress_bar(progress, total=self.total_steps, initial=min(trainer.step, self.total_steps))
        try:
            with self.stop, run.metrics_appender() as append, announce_compiling(_above(bar, self.log)):
                while not self.should_stop():
                    bar.set_description(f"epoch {trainer.epoch + 1}/{self.config.epochs}")
                    record = trainer.train_next_batch()
                    append(record)
                    _show(bar, record, self.config.batch_size / max(trainer.last_step_seconds, 1e-9), self.last_fid)
                    if trainer.epoch_finished:
                        self.end_of_epoch(append)
            if not trainer.epoch_finished:  # stopped mid-epoch (Ctrl-C or max_steps): save where we are
                trainer.check_finite()
                write_checkpoint(trainer.state_dict(), run.checkpoint)
                run.write_pictures(trainer.epoch)
        except Diverged as error:
            # Nothing is saved after a bad step, so the checkpoint on disk is the last good one.
            raise Diverged(f"{error}; stopped ({_kept(run)}). Try a lower --lr or "
                           f"another --seed") from None
        except OSError as error:  # a full disk, a folder removed under us, ...
            raise _write_failure(run, error) from None
        finally:
            bar.close()
        if self.stop.requested and not self.done():  # a Ctrl-C during the last epoch's saving changed nothing
            raise Interrupted(f"interrupted at step {trainer.step} (epoch {trainer.epoch + 1}); checkpoint saved to "
                              f"{run.checkpoint}. Resume with: tinygan train --resume --out {run.path}")
        minutes = (time.perf_counter() - started) / 60
        self.log(f"done: {trainer.step} steps, {trainer.epoch} epochs ({minutes:.1f} min in this session). "
                 f"Samples: {run.samples}; score them with: tinygan evaluate {run.path}")

    def end_of_epoch(self, append) -> None:
        """Check the weights, draw the epoch's grid, score it if due, refresh the pictures, save the checkpoint."""
        trainer, run = self.trainer, self.run
        trainer.check_finite()
        save_grid(trainer.sample_grid(), run.sample_path(trainer.epoch))
        every = self.config.quality_every
        if every and trainer.epoch % every == 0:
            self.score(append)
        run.write_pictures(trainer.epoch)
        write_checkpoint(trainer.state_dict(), run.checkpoint)

    def score(self, append) -> None:
        """Score G with the judge; a new lowest FID replaces best.npz (a full checkpoint, written atomically).

        best.npz is written before checkpoint.npz: a crash between the two leaves best.npz a
        step ahead of the checkpoint, and the resumed run redoes those steps bit for bit,
        so it scores the same FID there again and keeps the same best.
        """
        record = self.judge.score(self.trainer)
        append(record)
        self.run.write_quality_plot()
        self.last_fid = record["fid"]
        if self.best_fid is None or record["fid"] <= self.best_fid:
            self.best_fid = record["fid"]
            write_checkpoint(self.trainer.state_dict(), self.run.best)

def _kept(run: RunFolder) -> str:
    return (f"the last good checkpoint, {run.checkpoint}, is kept" if run.checkpoint.exists()
            else "no checkpoint had been written yet")


def _write_failure(run: RunFolder, error: OSError) -> RunError:
    """A failed write (a full disk, a folder removed under us, ...) as one line; atomic writes kept the rest."""
    where = f" ({error.filename})" if error.filename else ""
    return RunError(f"cannot write the run folder {run.path}: {error.strerror or error}{where}; {_kept(run)}")


def _progress_bar(enabled: bool, total: int, initial: int):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", dynamic_ncols=True,
                mininterval=0.5)


def _above(bar, log):
    """`log`, with the progress bar cleared while the line is written and drawn again below it.

    Flushed at once: into a pipe or a file (`| tee`, `> log`) print's lines wait in a buffer,
    and a line that says why the run is waiting must not wait for the run."""
    def write(message: str) -> None:
        with bar.external_write_mode():
            log(message)
            sys.stdout.flush()
    return write


def _show(bar, record: dict, images_per_second: float, fid: float | None) -> None:
    if not bar.disable:
        last_fid = f"  FID {fid:.1f}" if fid is not None else ""
        bar.set_postfix_str(f"loss_D {record['loss_d']:.3f}  loss_G {record['loss_g']:.3f}  "
                            f"D(x) {record['d_x']:.2f}  D(G(z)) {record['d_g_z']:.2f}{last_fid}  "
                            f"{images_per_second:.0f} img/s", refresh=False)
    bar.update(1)  # redraws (at most twice a second), postfix included


__all__ = ["train"]
