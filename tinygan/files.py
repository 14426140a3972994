"""Writing a file so that a crash at any instant leaves either the old file or the new one.

Every file tinygan writes (checkpoints, sample grids, the GIF, the loss plot, config.json,
metrics rewritten on resume, `tinygan sample` output) goes through `atomic_write`:

1. write into a temporary file in the *same folder* (`.NAME.XXXXXXXX.tmp`) -- a rename
   is only atomic within one file system;
2. flush and fsync it, so its bytes are on disk before its name is;
3. `os.replace` it over NAME -- readers see the old file or the new one, never half;
4. fsync the folder, so the rename itself survives a power cut.

The file ends up with the permissions a plain `open(NAME, "w")` would have left: an
existing NAME keeps its own, a new one gets 0o666 less the umask (usually rw-r--r--).
The temporary file alone would make it rw------- (mkstemp's files are private).

If anything fails on the way (disk full, Ctrl-C, an exception in the caller's code), the
temporary file is removed and NAME is untouched.  Only SIGKILL or a power cut can leave a
temporary behind; `remove_stale_temporaries` clears those when a run folder is opened
(under its lock, so no other writer can be using them).
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

TEMPORARY_SUFFIX = ".tmp"


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """`with atomic_write(path) as file:` write `file`; on success it replaces `path` in one step.

    `mode` is "wb" (a binary file) or "w" (UTF-8 text).  On any failure the temporary
    file is deleted and `path` keeps its old contents (or stays absent).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(path))
    directory = path.parent if str(path.parent) else Path(".")
    permissions = _permissions_of_a_plain_write(path)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    try:
        with os.fdopen(descriptor, mode, **({"encoding": "utf-8"} if mode == "w" else {})) as file:
            os.chmod(temporary, permissions)
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    _fsync_directory(directory)


def _permissions_of_a_plain_write(path: Path) -> int:
    """The permission bits `open(path, "w")` would leave: the file's own if it exists, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask() -> int:
    # The umask can only be read by setting it.  For the instant in between it is the
    # strictest usual one, so a file another thread creates right then is private, not open.
    current = os.umask(0o077)
    os.umask(current)
    return current


def _fsync_directory(directory) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def remove_stale_temporaries(folder) -> list[Path]:
    """Delete the `atomic_write` temporaries a killed writer left in `folder` (not recursive).

    Only call this while no other process can be writing into `folder` (a run folder's
    lock guarantees it).  Returns the paths removed.
    """
    removed = []
    for candidate in Path(folder).glob(f".*{TEMPORARY_SUFFIX}"):
        if candidate.is_file():
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
                removed.append(candidate)
    return removed


__all__ = ["atomic_write", "remove_stale_temporaries", "TEMPORARY_SUFFIX"]
