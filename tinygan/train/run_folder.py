"""The run folder: which files a run writes where, the lock that keeps it to one writer, the metrics file.

    config.json            the settings (written when a session starts)
    metrics.jsonl          one JSON line per step: losses, D(x), D(G(z)), time (appended each step);
                           and, every --quality-every epochs, a line of kind "quality": FID, IS, histogram
    samples/epoch_NNN.png  the same 64 noise vectors drawn after each epoch (an 8x8 grid)
    progress.gif           those grids as an animation     } refreshed after each epoch
    losses.png             the training curves              } and when a session stops
    quality.png            FID and class shares over time (redrawn after each score)
    checkpoint.npz         everything needed to continue   } (see `DCGANTrainer.state_dict`)
    best.npz               the checkpoint with the lowest FID so far (written when a score beats it)
    .lock                  held by the process training here (see `RunFolder.lock`)

The rules (the run folder is the user's work):
- Nothing is deleted or overwritten unless the user asked for it: a folder that holds a
  run is only written by continuing that run (--resume) or replacing it (--overwrite).
- One writer at a time: `lock()` takes an exclusive lock or refuses.
- Every file except metrics.jsonl is replaced atomically (`tinygan.files.atomic_write`),
  so a crash at any instant leaves the previous checkpoint loadable.  metrics.jsonl is
  appended a line at a time; a crash can cut only its last line, which `read_metrics`
  ignores and a resumed run rewrites.
- A temporary file a killed save left behind is removed when the folder is next locked.
"""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from ..files import atomic_write, remove_stale_temporaries
from ..images import plot_losses, plot_quality, save_gif
from .errors import RunError

CHECKPOINT_NAME = "checkpoint.npz"
BEST_NAME = "best.npz"

try:
    import fcntl
except ImportError:  # Windows: msvcrt's byte-range lock, released by the OS on exit just the same
    fcntl = None
    import msvcrt


class RunFolder:
    """The files of one run (see the module docstring), and the operations on them."""

    def __init__(self, path):
        self.path = Path(path)
        self.checkpoint = self.path / CHECKPOINT_NAME
        self.config = self.path / "config.json"
        self.metrics = self.path / "metrics.jsonl"
        self.samples = self.path / "samples"
        self.gif = self.path / "progress.gif"
        self.losses = self.path / "losses.png"
        self.quality = self.path / "quality.png"
        self.best = self.path / BEST_NAME
        self.lock_file = self.path / ".lock"
        self._lock = None

    # ------------------------------------------------------------------ one writer
    def lock(self) -> None:
        """Create the folder and take its lock, or raise `RunError` if another process holds it.

        The lock is `flock` on `.lock`, not a lock file created with O_EXCL: the kernel
        releases an flock when its process dies in any way (SIGKILL, power cut, crash), so
        a stale lock cannot exist and needs no pid-liveness guess (which pid reuse can
        fool).  The pid written into the file only serves the error message.  Once locked,
        temporaries from killed saves are removed: no one else can be writing them.
        """
        try:
            self.samples.mkdir(parents=True, exist_ok=True)
            handle = open(self.lock_file, "a+")
        except OSError as error:
            raise RunError(f"--out {self.path}: cannot write the run folder there ({error.strerror or error})") from None
        try:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunError(f"--out {self.path} is in use: process {holder} is training there; wait for it to "
                           f"finish or choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle
        for folder in (self.path, self.samples):
            remove_stale_temporaries(folder)

    def unlock(self) -> None:
        """Release the lock (closing the file releases it; the file itself may stay)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> "RunFolder":
        self.lock()
        return self

    def __exit__(self, *exc_info) -> bool:
        self.unlock()
        return False

    # ------------------------------------------------------------------ what is here
    def run_files(self) -> list[Path]:
        """The files of a run found here (an empty list: no run, free to start one)."""
        candidates = [self.checkpoint, self.best, self.config, self.metrics, self.gif, self.losses, self.quality]
        found = [path for path in candidates if path.is_file()]
        if self.samples.is_dir():
            found += sorted(self.samples.glob("epoch_*.png"))
        return found

    def refuse_if_it_holds_a_run(self) -> None:
        """Raise `RunError` (touching nothing) if a run is here: the caller was not asked to replace it."""
        found = self.run_files()
        if found:
            names = ", ".join(str(path.relative_to(self.path)) for path in found[:3])
            raise RunError(f"--out {self.path} already holds a run ({names}{', ...' if len(found) > 3 else ''}); "
                           f"continue it with --resume, choose a new --out, or replace it with --overwrite")

    def clear(self) -> None:
        """Remove the files of the run here (only ours; anything else in the folder stays)."""
        for path in self.run_files():
            path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ files
    def sample_path(self, epoch: int) -> Path:
        return self.samples / f"epoch_{epoch:03d}.png"

    def write_config(self, config) -> None:
        with atomic_write(self.config, "w") as file:
            file.write(json.dumps(config.to_dict(), indent=2) + "\n")

    def read_config(self) -> dict:
        """The settings in config.json (written when the run started), or `RunError` if unreadable."""
        try:
            settings = json.loads(self.config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise RunError(f"{self.config} cannot be read as the run's settings: {error}") from None
        if not isinstance(settings, dict):
            raise RunError(f"{self.config} is not the run's settings (a JSON object), got {type(settings).__name__}")
        return settings

    def keep_metrics_until(self, step: int) -> None:
        """Keep the metric lines of steps 1..`step` only: later ones belong to steps a resumed run redoes."""
        records = [record for record in read_metrics(self.metrics) if record.get("step", 0) <= step]
        with atomic_write(self.metrics, "w") as file:
            file.writelines(json.dumps(record) + "\n" for record in records)

    @contextlib.contextmanager
    def metrics_appender(self):
        """`with run.metrics_appender() as append: append(record)` -- one line per record, flushed."""
        with self.metrics.open("a", encoding="utf-8") as file:
            def append(record: dict) -> None:
                file.write(json.dumps(record) + "\n")
                file.flush()  # a line at a time: a crash can cut at most the last one
            yield append

    def write_pictures(self, epoch: int) -> None:
        """Refresh the GIF (grids of epochs 1..epoch) and the loss plot."""
        frames = [self.sample_path(e) for e in range(1, epoch + 1) if self.sample_path(e).is_file()]
        if frames:
            save_gif(frames, self.gif)
        records = read_metrics(self.metrics)
        if records:
            plot_losses(records, self.losses)

    def write_quality_plot(self) -> None:
        """Redraw quality.png from the metrics (after each new score: it changes only then)."""
        plot_quality(read_metrics(self.metrics), self.quality)


def read_metrics(path) -> list[dict]:
    """The records of a metrics.jsonl file (one JSON object per line); [] if there is none yet.

    A last line cut short (a crash in the middle of writing it) is ignored; a damaged line
    anywhere else means the file was edited or corrupted, and raises `RunError`.
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RunError(f"{path} cannot be read: {error}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            if number == len(lines):
                break  # the cut last line of a crashed write
            raise RunError(f"{path} line {number} is damaged (not a JSON object): {line[:60]!r}")
        records.append(record)
    return records


__all__ = ["RunFolder", "read_metrics", "CHECKPOINT_NAME", "BEST_NAME"]
