"""The `tinygan` command end to end at a tiny size, and its answers to bad input.

Bad input must give one clear line on stderr and exit code 2 -- never a traceback.
"""
import json
import subprocess
import sys

import numpy as np
import pytest

import tinygan
from helpers import TINY_TRAIN, assert_one_line_error
from tinygan.cli import main


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A run folder trained for one tiny epoch, shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_train_resume_sample_and_evaluate(trained_run, tmp_path, capsys, monkeypatch):
    assert (trained_run / "samples" / "epoch_001.png").is_file()

    # Continue in a copy of the run for a second epoch (--resume with an explicit checkpoint).
    assert main(["train", "--resume", str(trained_run / "checkpoint.npz"), "--epochs", "2", "--no-progress",
                 "--out", str(tmp_path / "longer")]) == 0
    assert (tmp_path / "longer" / "samples" / "epoch_002.png").is_file()
    assert "resuming" in capsys.readouterr().out

    grid = tmp_path / "grid.png"
    assert main(["sample", str(trained_run), "--n", "10", "--nrow", "5", "--out", str(grid)]) == 0
    from PIL import Image

    with Image.open(grid) as image:
        assert image.size == (2 * (5 * 30 + 2), 2 * (2 * 30 + 2))

    array_path = tmp_path / "samples.npy"
    assert main(["sample", str(trained_run / "checkpoint.npz"), "--n", "12", "--out", str(array_path)]) == 0
    samples = np.load(array_path)
    assert samples.shape == (12, 1, 28, 28) and samples.dtype == np.float32
    assert samples.min() >= -1 and samples.max() <= 1
    again = tmp_path / "again.npy"
    main(["sample", str(trained_run), "--n", "12", "--out", str(again)])
    assert np.array_equal(samples, np.load(again))  # same --seed, same digits

    monkeypatch.setenv("TINYGAN_CACHE_DIR", str(tmp_path / "cache"))
    capsys.readouterr()
    assert main(["evaluate", str(trained_run), "--n", "100", "--classifier-epochs", "1"]) == 0
    report = capsys.readouterr().out
    for row in ("generated (100)", "real digits (100)", "uniform noise (100)", "FID-MNIST"):
        assert row in report
    assert list((tmp_path / "cache").glob("*.npz"))  # the classifier was cached


def test_default_resume_uses_the_run_folder(trained_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    assert main(["train", "--resume", "--out", str(run), "--no-progress"]) == 0
    assert "already complete (1 epochs)" in capsys.readouterr().out
    assert main(["train", "--resume", "--out", str(run), "--epochs", "3", "--max-steps", "6", "--no-progress"]) == 0
    import tinygan

    assert tinygan.load(run / "checkpoint.npz")["step"] == 6


def test_python_dash_m_help():
    result = subprocess.run([sys.executable, "-m", "tinygan", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "train" in result.stdout and "sample" in result.stdout and "evaluate" in result.stdout


def test_corrupt_checkpoint(tmp_path, capsys):
    corrupt = tmp_path / "checkpoint.npz"
    corrupt.write_bytes(b"this is not a checkpoint")
    assert_one_line_error(capsys, main(["sample", str(corrupt), "--out", str(tmp_path / "x.png")]),
                       "cannot read the checkpoint")
    assert_one_line_error(capsys, main(["evaluate", str(tmp_path / "missing.npz")]), "no checkpoint at")
    assert_one_line_error(capsys, main(["train", "--resume", str(corrupt), *TINY_TRAIN]), "cannot read the checkpoint")


def test_checkpoint_of_another_architecture(trained_run, tmp_path, capsys):
    code = main(["train", "--resume", str(trained_run), "--ngf", "16", "--out", str(tmp_path), "--no-progress"])
    assert_one_line_error(capsys, code, "generator", "main.0.weight", "(8, 32, 7, 7)", "(8, 64, 7, 7)")


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_one_line_error(capsys, main(["train", *TINY_TRAIN, "--out", str(blocker / "run")]), "--out", "cannot write")


def test_missing_data_folder(tmp_path, capsys):
    code = main(["train", *TINY_TRAIN, "--data", str(tmp_path / "no-such-folder"), "--out", str(tmp_path / "run")])
    assert_one_line_error(capsys, code, "--data", "no such folder")


def test_sample_output_name_and_folder(trained_run, tmp_path, capsys):
    assert_one_line_error(capsys, main(["sample", str(trained_run), "--out", str(tmp_path / "grid.jpg")]), ".png")
    code = main(["sample", str(trained_run), "--out", str(tmp_path / "missing" / "grid.png")])
    assert_one_line_error(capsys, code, "does not exist")


def test_usage_errors_exit_2(capsys):
    assert main(["train", "--epochs", "0"]) == 2
    assert main(["frobnicate"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_damaged_bundled_data(tmp_path, capsys, monkeypatch):
    import tinygan.train.config

    def damaged():
        raise ValueError("mnist_5k.npz: expected images uint8 (5000, 28, 28), found uint8 (12,)")

    monkeypatch.setattr(tinygan.train.config, "split_bundled", damaged)
    code = main(["train", *TINY_TRAIN, "--out", str(tmp_path / "run")])
    assert_one_line_error(capsys, code, "bundled MNIST sample cannot be read", "mnist_5k.npz")


def test_a_run_on_a_relative_data_folder_resumes_from_another_folder(tmp_path, monkeypatch):
    from test_data import random_digits, write_mnist_folder

    (tmp_path / "mnist").mkdir()
    write_mnist_folder(tmp_path / "mnist", *random_digits(96))
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY_TRAIN, "--data", "mnist", "--epochs", "1", "--out", "run"]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["data"]
    assert saved == str(tmp_path / "mnist")  # stored as an absolute path
    monkeypatch.chdir(tmp_path.parent)  # elsewhere, where "mnist" means nothing
    assert main(["train", "--resume", "--out", str(tmp_path / "run"), "--epochs", "2", "--no-progress"]) == 0
    assert tinygan.load(tmp_path / "run" / "checkpoint.npz")["epoch"] == 2


def test_data_bundled_is_the_sample_and_a_folder_of_that_name_is_reached_by_a_path(tmp_path, monkeypatch):
    from tinygan.train.config import data_setting

    monkeypatch.chdir(tmp_path)
    assert data_setting("bundled") == "bundled"
    assert data_setting("./bundled") == str(tmp_path / "bundled")
