"""atomic_write's permissions: those a plain open(path, "w") would leave, not mkstemp's private rw-------.

(Its atomicity -- a crash leaves the old file or the new one -- is tested with the run folder
and the checkpoints, tests/test_run_folder.py and tests/test_serialization.py.)
"""
import os
import stat

import pytest

from tinygan.files import atomic_write

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def permissions(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set the process's umask for one test, and give the old one back afterwards."""
    saved = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(saved)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
@pytest.mark.parametrize("mode", ["wb", "w"])
def test_a_new_file_gets_what_a_plain_open_gives_under_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    with open(tmp_path / "plain", mode) as file:  # the independent truth: the OS applying the umask
        file.write(b"x" if mode == "wb" else "x")
    with atomic_write(tmp_path / "atomic", mode) as file:
        file.write(b"x" if mode == "wb" else "x")
    assert permissions(tmp_path / "atomic") == permissions(tmp_path / "plain") == 0o666 & ~mask


@pytest.mark.parametrize("existing", [0o600, 0o640, 0o664, 0o444])
def test_an_existing_file_keeps_its_permissions(tmp_path, umask, existing):
    umask(0o022)
    path = tmp_path / "grid.png"
    path.write_bytes(b"old")
    os.chmod(path, existing)
    with atomic_write(path) as file:
        file.write(b"new")
    assert path.read_bytes() == b"new"
    assert permissions(path) == existing


def test_the_umask_is_left_as_it_was(tmp_path, umask):
    umask(0o027)
    with atomic_write(tmp_path / "file") as file:
        file.write(b"x")
    assert os.umask(0o027) == 0o027  # reading it means setting it: set it back to the same
