"""Checkpoints that are damaged, inconsistent, diverged or absurd: one clear line, never a traceback.

Cases of issue 11 covered here: (5) a checkpoint's structure is checked before its arrays
are read, (6) inconsistent contents, (7) NaN/inf weights, (9) sizes that cannot fit.
"""
import tracemalloc

import numpy as np
import pytest

from helpers import TINY_TRAIN, assert_one_line_error
import tinygan
from tinygan.cli import main
from tinygan.models import Discriminator, Generator
from tinygan.train import RunError, read_checkpoint
from tinygan.train.limits import dcgan_parameter_count


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("good")
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--out", str(out)]) == 0
    return out


def damaged_copy(good_run, tmp_path, damage) -> str:
    state = tinygan.load(good_run / "checkpoint.npz")
    damage(state)
    path = tmp_path / "checkpoint.npz"
    tinygan.save(state, path)
    return str(path)


def set_in(*keys_and_value):
    *keys, value = keys_and_value

    def damage(state):
        target = state
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return damage


# Each damage, and a fragment of the message that must name it.
REFUSED_ON_READING = {
    "config is a list": (set_in("config", [1, 2]), "config"),
    "generator weight is an int": (set_in("generator", "main.0.weight", 3), "main.0.weight"),
    "generator weight has another shape": (set_in("generator", "main.0.weight", np.zeros((9, 32, 7, 7), np.float32)),
                                           "main.0.weight"),
    "generator has an extra key": (set_in("generator", "extra", np.zeros(1, np.float32)), "unexpected"),
    "ngf is 10^12": (set_in("config", "ngf", 10**12), "memory"),
    "epoch is a string": (set_in("epoch", "x"), "epoch"),
    "step is negative": (set_in("step", -1), "step"),
    "rng state is damaged": (set_in("rng", "noise", {"bit_generator": "PCG64", "state": "x"}), "rng"),
    "loader seed is negative": (set_in("loader", "seed", -1), "loader"),
    "optimizer moment has another shape": (set_in("optimizer_g", "state", 0, "exp_avg", np.zeros((3, 3), np.float32)),
                                           "optimizer_g"),
    "fixed noise has another shape": (set_in("fixed_noise", np.zeros((2, 8, 1, 1), np.float32)), "fixed_noise"),
    "generator holds NaN": (lambda s: s["generator"]["main.0.weight"].__setitem__((0, 0, 0, 0), np.nan), "NaN"),
    "running_var holds inf": (lambda s: s["generator"]["main.1.running_var"].__setitem__(0, np.inf), "running_var"),
}


@pytest.mark.parametrize("name", sorted(REFUSED_ON_READING))
def test_a_damaged_checkpoint_is_refused_by_every_command(good_run, tmp_path, capsys, monkeypatch, name):
    damage, fragment = REFUSED_ON_READING[name]
    path = damaged_copy(good_run, tmp_path, damage)
    with pytest.raises(RunError, match=fragment):
        read_checkpoint(path)
    grid = tmp_path / "grid.png"
    assert_one_line_error(capsys, main(["sample", path, "--out", str(grid)]), fragment)
    assert not grid.exists()
    monkeypatch.setenv("TINYGAN_CACHE_DIR", str(tmp_path / "cache"))
    assert_one_line_error(capsys, main(["evaluate", path, "--n", "10"]), fragment)
    out = tmp_path / "resumed"
    assert_one_line_error(capsys, main(["train", "--resume", path, "--out", str(out), "--no-progress"]), fragment)
    assert not (out / "checkpoint.npz").exists()


def test_damaged_optimizer_hyperparameters_stop_a_resume_only(good_run, tmp_path, capsys):
    path = damaged_copy(good_run, tmp_path, set_in("optimizer_d", "param_groups", [{"params": [0, 1, 2], "lr": "x"}]))
    assert main(["sample", path, "--out", str(tmp_path / "grid.png")]) == 0  # sampling needs only G
    capsys.readouterr()
    code = main(["train", "--resume", path, "--out", str(tmp_path / "resumed"), "--no-progress"])
    assert_one_line_error(capsys, code, "optimizer_d")
    # Even into a folder it was told to overwrite, a refused resume touches nothing.
    import shutil

    target = tmp_path / "target"
    shutil.copytree(good_run, target)
    before = {p: p.read_bytes() for p in target.rglob("*") if p.is_file() and p.name != ".lock"}
    code = main(["train", "--resume", path, "--out", str(target), "--overwrite", "--no-progress"])
    assert_one_line_error(capsys, code, "optimizer_d")
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file() and p.name != ".lock"} == before


def test_a_checkpoint_claiming_a_huge_network_is_refused_before_allocating(good_run, tmp_path):
    path = damaged_copy(good_run, tmp_path, set_in("config", "nz", 10**9))
    tracemalloc.start()
    try:
        with pytest.raises(RunError, match="memory"):
            read_checkpoint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


# ---------------------------------------------------------------------- case 7: training
def test_a_huge_learning_rate_stops_with_a_message_and_no_non_finite_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", *TINY_TRAIN, "--epochs", "3", "--lr", "1e10", "--out", str(out)])
    assert_one_line_error(capsys, code, "diverged", "not finite", exit_code=1)
    if (out / "checkpoint.npz").exists():  # if an epoch finished before, its checkpoint is a good one
        read_checkpoint(out)


def test_non_finite_weights_stop_training_before_they_are_saved(good_run, tmp_path, monkeypatch, capsys):
    import shutil

    from tinygan.train import DCGANTrainer

    run = tmp_path / "run"
    shutil.copytree(good_run, run)
    good = (run / "checkpoint.npz").read_bytes()
    original_step = DCGANTrainer.train_step

    def step_then_break_a_buffer(self, real, labels=None):
        numbers = original_step(self, real, labels)
        self.discriminator.main[3].running_var[0] = np.inf  # what --lr 1e10 does, reliably
        return numbers

    monkeypatch.setattr(DCGANTrainer, "train_step", step_then_break_a_buffer)
    code = main(["train", "--resume", "--out", str(run), "--epochs", "2", "--no-progress"])
    assert_one_line_error(capsys, code, "main.3.running_var is not finite", "is kept", exit_code=1)
    assert (run / "checkpoint.npz").read_bytes() == good


# ---------------------------------------------------------------------- case 9
def test_evaluate_needs_two_samples(good_run, capsys):
    assert_one_line_error(capsys, main(["evaluate", str(good_run), "--n", "1"]), "--n", ">= 2")


@pytest.mark.parametrize("option", [["--nz", "1000000000"], ["--ngf", "100000"], ["--ndf", "100000"],
                                    ["--batch-size", "100000000", "--limit", "100000000"]])
def test_absurd_sizes_are_refused_up_front(tmp_path, capsys, option):
    out = tmp_path / "run"
    tracemalloc.start()
    try:
        code = main(["train", *TINY_TRAIN, *option, "--out", str(out)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_one_line_error(capsys, code, "memory")
    assert peak < 64 * 2**20
    assert not out.exists()


def test_sample_refuses_what_cannot_be_written(good_run, tmp_path, capsys):
    assert_one_line_error(capsys, main(["sample", str(good_run), "--n", "20000", "--out", str(tmp_path / "g.png")]),
                          "at most", ".npy")
    code = main(["sample", str(good_run), "--n", str(10**12), "--out", str(tmp_path / "d.npy")])
    assert_one_line_error(capsys, code, "disk")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("nz, ngf, ndf, upsample", [(100, 64, 64, "transposed"), (8, 8, 16, "nearest"),
                                                     (3, 5, 7, "bilinear")])
def test_the_parameter_count_of_the_estimate_is_the_models(nz, ngf, ndf, upsample):
    models = Generator(nz=nz, ngf=ngf, upsample=upsample), Discriminator(ndf=ndf)
    assert dcgan_parameter_count(nz, ngf, ndf, upsample) == sum(p.data.size for m in models for p in m.parameters())
