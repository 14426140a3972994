"""A run is never lost, never hangs: the run folder's rules, tested against real processes where it matters.

Cases of issue 11 covered here: (1) resuming mid-epoch with another batch size or limit,
(2) training into a folder holding a run, (3) two processes on one folder, (4) a metrics
file with a cut last line, (8) a full disk and the temporaries of killed saves, and a
SIGKILL at a real moment of training followed by a resume.
"""
import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import TINY_TRAIN, assert_one_line_error
import tinygan
from tinygan import serialization
from tinygan.cli import main
from tinygan.train import DCGANTrainer, RunError, TrainConfig, load_training_images, read_metrics

ROOT = Path(__file__).resolve().parent.parent


def snapshot(folder: Path) -> dict:
    """Every file of the run under `folder` with its bytes and modification time.

    `.lock` is left out: it is the folder's lock, not part of the run, and a refused
    command takes it (to check the folder with no other writer around) and writes its pid.
    """
    return {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in folder.rglob("*")
            if path.is_file() and path.name != ".lock"}


@pytest.fixture
def stopped_mid_epoch(tmp_path):
    """A run stopped after 6 steps: 1.5 epochs of 4 steps (batch 32 over 128 digits)."""
    out = tmp_path / "run"
    assert main(["train", *TINY_TRAIN, "--epochs", "3", "--max-steps", "6", "--out", str(out)]) == 0
    return out


# ---------------------------------------------------------------------- case 1
@pytest.mark.parametrize("change", [["--batch-size", "64"], ["--limit", "64"]])
def test_resume_mid_epoch_with_other_batches_is_refused_and_a_plain_resume_still_works(stopped_mid_epoch,
                                                                                      capsys, change):
    before = snapshot(stopped_mid_epoch)
    code = main(["train", "--resume", "--out", str(stopped_mid_epoch), "--no-progress", *change])
    assert_one_line_error(capsys, code, "middle of an epoch", change[0])
    assert snapshot(stopped_mid_epoch) == before  # nothing written, the stored config included
    assert main(["train", "--resume", "--out", str(stopped_mid_epoch), "--no-progress"]) == 0
    assert tinygan.load(stopped_mid_epoch / "checkpoint.npz")["step"] == 12


def test_batch_size_may_change_at_an_epoch_boundary(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--out", str(out)]) == 0
    assert main(["train", "--resume", "--out", str(out), "--epochs", "2", "--batch-size", "64", "--no-progress"]) == 0
    state = tinygan.load(out / "checkpoint.npz")
    assert (state["epoch"], state["step"], state["config"]["batch_size"]) == (2, 4 + 2, 64)


def test_a_batch_index_past_the_epoch_end_never_loops(tmp_path):
    config = TrainConfig(epochs=2, batch_size=32, nz=8, ngf=8, ndf=8, limit=128)
    trainer = DCGANTrainer(config, load_training_images(config))
    state = trainer.state_dict()
    state["batch"] = 9  # from a checkpoint whose epochs were longer
    trainer.load_state_dict(state)
    with pytest.raises(RunError, match="batch 9 of an epoch that has only 4 batches"):
        trainer.train_next_batch()


# ---------------------------------------------------------------------- case 2
def test_training_into_a_folder_holding_a_run_is_refused_and_touches_nothing(stopped_mid_epoch, capsys):
    before = snapshot(stopped_mid_epoch)
    code = main(["train", *TINY_TRAIN, "--epochs", "1", "--seed", "3", "--out", str(stopped_mid_epoch)])
    assert_one_line_error(capsys, code, "already holds a run", "--resume", "--out", "--overwrite")
    assert snapshot(stopped_mid_epoch) == before
    # Resuming another checkpoint into it is not continuing *this* run either.
    other = stopped_mid_epoch.parent / "other"
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--out", str(other)]) == 0
    capsys.readouterr()
    code = main(["train", "--resume", str(other), "--out", str(stopped_mid_epoch), "--no-progress"])
    assert_one_line_error(capsys, code, "already holds a run")
    assert snapshot(stopped_mid_epoch) == before
    # Asked explicitly, it is replaced.
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--seed", "3", "--out", str(stopped_mid_epoch), "--overwrite"]) == 0
    assert tinygan.load(stopped_mid_epoch / "checkpoint.npz")["config"]["seed"] == 3
    assert [record["step"] for record in read_metrics(stopped_mid_epoch / "metrics.jsonl")] == [1, 2, 3, 4]


# ---------------------------------------------------------------------- real processes
def start_training(out: Path, *options) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "tinygan", "train", *TINY_TRAIN, "--out", str(out), *options],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"training ended early: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("training did not get there in time")
        time.sleep(0.05)


def test_a_second_process_on_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    first = start_training(out, "--epochs", "1000", "--seed", "1")
    try:
        wait_for(lambda: (out / "checkpoint.npz").is_file(), first)
        for extra in (["--overwrite"], ["--resume"]):
            second = start_training(out, "--epochs", "1", *extra)
            _, err = second.communicate(timeout=120)
            assert second.returncode == 2, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and "in use" in lines[0] and str(first.pid) in lines[0], err
        assert first.poll() is None  # the first one trains on, undisturbed
    finally:
        first.send_signal(signal.SIGINT)  # Ctrl-C: it saves a checkpoint and exits with 130
        first.communicate(timeout=120)
    assert first.returncode == 130
    state = tinygan.load(out / "checkpoint.npz")
    assert state["config"]["seed"] == 1
    steps = [record["step"] for record in read_metrics(out / "metrics.jsonl")]
    assert steps == list(range(1, len(steps) + 1))  # one writer: no step twice


def test_sigkill_at_a_real_moment_then_resume_works_and_stale_temporaries_go(tmp_path):
    out = tmp_path / "run"
    process = start_training(out, "--epochs", "1000")
    wait_for(lambda: (out / "checkpoint.npz").is_file(), process)
    process.send_signal(signal.SIGKILL)  # no handler runs: as a crash or the OOM killer
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    # A kill in the middle of a save leaves its temporary behind; plant two such, as a
    # kill at that instant would have (the names atomic_write gives them).
    stale = [out / ".checkpoint.npz.k1ll3d.tmp", out / "samples" / ".epoch_002.png.k1ll3d.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    saved = tinygan.load(out / "checkpoint.npz")  # the last checkpoint is loadable
    assert saved["step"] % 4 == 0 and saved["step"] > 0
    steps = saved["step"] + 2
    assert main(["train", "--resume", "--out", str(out), "--max-steps", str(steps), "--no-progress"]) == 0
    assert not any(path.exists() for path in stale)
    assert not list(out.rglob("*.tmp"))
    assert tinygan.load(out / "checkpoint.npz")["step"] == steps
    assert [record["step"] for record in read_metrics(out / "metrics.jsonl")] == list(range(1, steps + 1))


def test_sigterm_stops_with_a_checkpoint_as_ctrl_c_does(tmp_path):
    out = tmp_path / "run"
    process = start_training(out, "--epochs", "1000")
    wait_for(lambda: (out / "checkpoint.npz").is_file(), process)
    process.send_signal(signal.SIGTERM)  # what kill, timeout, docker stop and job schedulers send
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "interrupted at step" in err, err
    assert "SIGTERM: stopping after this step, with a checkpoint" in err  # said when the signal came
    saved = tinygan.load(out / "checkpoint.npz")
    assert [record["step"] for record in read_metrics(out / "metrics.jsonl")] == list(range(1, saved["step"] + 1))


def test_a_kill_in_the_first_epoch_leaves_a_run_that_resume_starts_again(tmp_path):
    out = tmp_path / "run"
    # 4,000 digits in batches of 8: a first epoch of 500 steps, far longer than the wait for 3
    process = start_training(out, "--epochs", "1", "--limit", "4000", "--batch-size", "8", "--seed", "7")
    wait_for(lambda: len(read_metrics(out / "metrics.jsonl")) >= 3, process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert not (out / "checkpoint.npz").exists() and (out / "config.json").is_file()
    assert main(["train", "--resume", "--out", str(out), "--max-steps", "6", "--no-progress"]) == 0
    saved = tinygan.load(out / "checkpoint.npz")
    assert saved["step"] == 6 and (saved["config"]["seed"], saved["config"]["batch_size"]) == (7, 8)
    assert [record["step"] for record in read_metrics(out / "metrics.jsonl")] == list(range(1, 7))


# ---------------------------------------------------------------------- case 4
def test_a_cut_last_metrics_line_does_not_stop_a_resume(stopped_mid_epoch, capsys):
    metrics = stopped_mid_epoch / "metrics.jsonl"
    with metrics.open("a") as file:
        file.write('{"step": 7, "epoch": 2, "loss_d": 1.3')  # a crash in the middle of this write
    assert len(read_metrics(metrics)) == 6
    assert main(["train", "--resume", "--out", str(stopped_mid_epoch), "--no-progress"]) == 0
    assert [record["step"] for record in read_metrics(metrics)] == list(range(1, 13))


def test_a_damaged_metrics_line_in_the_middle_is_one_clear_error(stopped_mid_epoch, capsys):
    metrics = stopped_mid_epoch / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    lines[2] = "garbage"
    metrics.write_text("\n".join(lines) + "\n")
    code = main(["train", "--resume", "--out", str(stopped_mid_epoch), "--no-progress"])
    assert_one_line_error(capsys, code, "metrics.jsonl line 3 is damaged")


# ---------------------------------------------------------------------- case 8
def test_a_full_disk_is_one_line_and_keeps_the_last_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--out", str(out)]) == 0
    good = (out / "checkpoint.npz").read_bytes()
    real_savez = serialization.np.savez

    def savez_then_disk_full(file, **arrays):
        real_savez(file, **{name: array for name, array in list(arrays.items())[:3]})  # part of it ...
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # ... and the disk is full

    monkeypatch.setattr(serialization.np, "savez", savez_then_disk_full)
    capsys.readouterr()
    code = main(["train", "--resume", "--out", str(out), "--epochs", "2", "--no-progress"])
    assert_one_line_error(capsys, code, "No space left on device", "is kept")
    assert (out / "checkpoint.npz").read_bytes() == good
    assert not list(out.rglob("*.tmp"))


def test_sample_refuses_a_folder_as_out_and_a_failed_write_leaves_no_temporary(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--out", str(out)]) == 0
    folder = tmp_path / "grid.png"
    folder.mkdir()
    capsys.readouterr()
    assert_one_line_error(capsys, main(["sample", str(out), "--out", str(folder)]), "is a folder")
    assert list(tmp_path.glob(".*")) == [] and list(folder.iterdir()) == []

    import tinygan.files

    real_fsync = tinygan.files.os.fsync

    def disk_full(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tinygan.files.os, "fsync", disk_full)
    code = main(["sample", str(out), "--n", "300", "--out", str(tmp_path / "digits.npy")])
    monkeypatch.setattr(tinygan.files.os, "fsync", real_fsync)
    assert_one_line_error(capsys, code, "No space left on device")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["grid.png", "run"]


def test_streamed_npy_holds_the_same_digits_as_sample_images(tmp_path, capsys):
    from tinygan.evaluate import sample_images
    from tinygan.train import generator_from_checkpoint

    out = tmp_path / "run"
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--out", str(out)]) == 0
    assert main(["sample", str(out), "--n", "600", "--seed", "4", "--out", str(tmp_path / "d.npy")]) == 0
    generator, _ = generator_from_checkpoint(out)
    expected = sample_images(generator, 600, np.random.default_rng(4))
    assert np.array_equal(np.load(tmp_path / "d.npy"), expected)
