"""The training loop: reproducibility, exact resumption, checkpoints, Ctrl-C, NaN losses, the run folder.

Everything runs at a tiny size (8-channel networks, 128 digits, 4 steps per epoch), where
a step takes milliseconds: the point is the bookkeeping, not the digits.
"""
import json
import os
import signal

import numpy as np
import pytest

import tinygan
from tinygan import train as training
from tinygan.train import DCGANTrainer, Diverged, Interrupted, RunError, TrainConfig


def tiny(**overrides) -> TrainConfig:
    settings = dict(epochs=2, batch_size=32, nz=8, ngf=8, ndf=8, limit=128, seed=0)
    return TrainConfig(**{**settings, **overrides})


def run(config, out, **options) -> DCGANTrainer:
    return training.train(config, out, progress=False, log=lambda message: None, **options)


def assert_same_state(first: dict, second: dict, where="checkpoint"):
    """Recursively equal: arrays bit for bit, everything else with ==."""
    if isinstance(first, dict):
        assert set(first) == set(second), where
        for key in first:
            if key != "seconds":  # wall-clock time differs between runs, of course
                assert_same_state(first[key], second[key], f"{where}[{key!r}]")
    elif isinstance(first, (list, tuple)):
        assert len(first) == len(second), where
        for index, (a, b) in enumerate(zip(first, second)):
            assert_same_state(a, b, f"{where}[{index}]")
    elif isinstance(first, np.ndarray):
        assert np.array_equal(first, second), where
    else:
        assert first == second, where


def test_same_seed_same_run_and_other_seed_other_run(tmp_path):
    first = run(tiny(), tmp_path / "a").state_dict()
    second = run(tiny(), tmp_path / "b").state_dict()
    assert_same_state(first, second)
    other = run(tiny(seed=1), tmp_path / "c").state_dict()
    assert not np.array_equal(first["generator"]["main.0.weight"], other["generator"]["main.0.weight"])
    losses = [[r["loss_d"] for r in map(json.loads, (tmp_path / name / "metrics.jsonl").read_text().splitlines())]
              for name in ("a", "b")]
    assert losses[0] == losses[1]


def test_resume_after_an_epoch_equals_an_uninterrupted_run(tmp_path):
    straight = run(tiny(), tmp_path / "straight").state_dict()
    run(tiny(epochs=1), tmp_path / "paused")
    resumed = run(tiny(epochs=2), tmp_path / "paused", resume=tmp_path / "paused" / "checkpoint.npz")
    assert_same_state(straight, resumed.state_dict())
    assert_same_state(straight, tinygan.load(tmp_path / "paused" / "checkpoint.npz"))


def test_resume_in_the_middle_of_an_epoch_equals_an_uninterrupted_run(tmp_path):
    straight = run(tiny(), tmp_path / "straight").state_dict()
    stopped = run(tiny(), tmp_path / "paused", max_steps=6)  # 1.5 epochs
    assert (stopped.epoch, stopped.batch, stopped.step) == (1, 2, 6)
    resumed = run(tiny(), tmp_path / "paused", resume=tmp_path / "paused")
    assert_same_state(straight, resumed.state_dict())
    # The metrics of the two sessions join into one line per step.
    steps = [json.loads(line)["step"] for line in (tmp_path / "paused" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_that_resumes_exactly(tmp_path, monkeypatch, stop_signal):
    straight = run(tiny(), tmp_path / "straight").state_dict()
    original_step = DCGANTrainer.train_step

    def step_then_press_ctrl_c(self, real, labels=None):
        numbers = original_step(self, real, labels)
        if self.step == 3:
            os.kill(os.getpid(), stop_signal)  # as if the user pressed Ctrl-C (or `kill` ran) during step 3
        return numbers

    monkeypatch.setattr(DCGANTrainer, "train_step", step_then_press_ctrl_c)
    with pytest.raises(Interrupted, match="--resume") as stop:
        run(tiny(), tmp_path / "paused")
    assert stop.value.exit_code == 130
    saved = tinygan.load(tmp_path / "paused" / "checkpoint.npz")
    assert (saved["epoch"], saved["batch"], saved["step"]) == (0, 3, 3)
    monkeypatch.setattr(DCGANTrainer, "train_step", original_step)
    resumed = run(tiny(), tmp_path / "paused", resume=tmp_path / "paused")
    assert_same_state(straight, resumed.state_dict())
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL



def test_a_ctrl_c_is_acknowledged_at_once_not_when_the_step_ends(tmp_path, monkeypatch, capfd):
    original_step = DCGANTrainer.train_step

    def step_with_ctrl_c_in_the_middle(self, real, labels=None):
        if self.step == 1:
            os.kill(os.getpid(), signal.SIGINT)
            os.write(2, b"<rest of the step>")  # a step still running after the Ctrl-C came
        return original_step(self, real, labels)

    monkeypatch.setattr(DCGANTrainer, "train_step", step_with_ctrl_c_in_the_middle)
    with pytest.raises(Interrupted):
        run(tiny(), tmp_path / "run")
    err = capfd.readouterr().err
    said = err.index("SIGINT: stopping after this step, with a checkpoint (Ctrl-C again stops at once)")
    assert said < err.index("<rest of the step>")

def test_ctrl_c_during_the_last_steps_saving_lets_the_run_finish(tmp_path, monkeypatch):
    original_step = DCGANTrainer.train_step
    config = tiny()

    def last_step_then_press_ctrl_c(self, real, labels=None):
        numbers = original_step(self, real, labels)
        if self.step == 2 * 4:  # the last step (2 epochs of 128 digits / 32): its epoch's saving comes next
            os.kill(os.getpid(), signal.SIGINT)
        return numbers

    monkeypatch.setattr(DCGANTrainer, "train_step", last_step_then_press_ctrl_c)
    messages = []
    trainer = training.train(config, tmp_path, progress=False, log=messages.append)  # no Interrupted
    assert trainer.epoch == config.epochs and messages[-1].startswith("done: 8 steps, 2 epochs")
    assert tinygan.load(tmp_path / "checkpoint.npz")["step"] == 8


class Died(Exception):
    """Stands for a kill: the process stops between two lines, nothing of tinygan's runs after it."""


def test_a_run_that_died_before_its_first_checkpoint_starts_again_with_its_settings(tmp_path, monkeypatch):
    config = tiny(seed=3, lr=1e-3, limit=256)  # 8 steps an epoch
    straight = run(config, tmp_path / "straight").state_dict()
    original_step = DCGANTrainer.train_step

    def die_at_step_5(self, real, labels=None):
        if self.step == 5:
            raise Died
        return original_step(self, real, labels)

    monkeypatch.setattr(DCGANTrainer, "train_step", die_at_step_5)
    with pytest.raises(Died):
        run(config, tmp_path / "died")
    monkeypatch.setattr(DCGANTrainer, "train_step", original_step)
    assert not (tmp_path / "died" / "checkpoint.npz").exists() and (tmp_path / "died" / "config.json").is_file()

    messages = []  # nothing given now: every setting comes from the run's config.json
    resumed = training.train({}, tmp_path / "died", resume=tmp_path / "died", progress=False, log=messages.append)
    assert "no checkpoint yet" in messages[0] and "from step 0" in messages[0]
    assert_same_state(straight, resumed.state_dict())
    steps = [json.loads(line)["step"] for line in (tmp_path / "died" / "metrics.jsonl").read_text().splitlines()
             if "kind" not in line]
    assert steps == list(range(1, 17))  # the five steps of the first try are not kept twice


def test_checkpoint_round_trip(tmp_path):
    trainer = run(tiny(epochs=1), tmp_path)
    state = training.read_checkpoint(tmp_path)
    assert_same_state(trainer.state_dict(), state)
    fresh = DCGANTrainer(tiny(seed=5), training.load_training_images(tiny()))
    fresh.load_state_dict(state)
    assert_same_state({k: v for k, v in trainer.state_dict().items() if k != "config"},
                      {k: v for k, v in fresh.state_dict().items() if k != "config"})
    generator, _ = training.generator_from_checkpoint(tmp_path / "checkpoint.npz")
    assert not generator.training
    # It samples with the moving average of G's weights (on by default), which the checkpoint keeps.
    assert np.array_equal(generator.state_dict()["main.3.weight"], state["generator_average"]["main.3.weight"])


def test_run_folder_contents(tmp_path):
    run(tiny(), tmp_path)
    assert json.loads((tmp_path / "config.json").read_text()) == tiny().to_dict()
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 8
    record = json.loads(lines[-1])
    assert {"step", "epoch", "loss_d", "loss_g", "d_x", "d_g_z", "d_g_z2", "seconds"} <= set(record)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    from PIL import Image

    with Image.open(tmp_path / "samples" / "epoch_002.png") as grid:
        assert grid.size == (2 * (8 * 30 + 2),) * 2  # 8x8 digits of 28 px, 2 px gaps, drawn at 2x
    with Image.open(tmp_path / "progress.gif") as gif:
        assert gif.n_frames == 2
    assert (tmp_path / "losses.png").stat().st_size > 0
    assert (tmp_path / "checkpoint.npz").is_file()
    assert not list(tmp_path.rglob("*.tmp"))  # no temporary files left
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".lock"]  # the (released) lock


def test_nan_losses_stop_the_run_and_keep_the_last_good_checkpoint(tmp_path, monkeypatch):
    run(tiny(epochs=1), tmp_path)
    good = (tmp_path / "checkpoint.npz").read_bytes()
    original_init = DCGANTrainer.__init__

    def poisoned_init(self, config, images, labels=None):
        original_init(self, config, images, labels)
        original_load = self.load_state_dict

        def load_then_poison(state):
            original_load(state)
            self.generator.main[0].weight.data[...] = np.nan

        self.load_state_dict = load_then_poison

    monkeypatch.setattr(DCGANTrainer, "__init__", poisoned_init)
    with pytest.raises(Diverged, match="not finite") as error:
        run(tiny(epochs=2), tmp_path, resume=tmp_path)
    assert error.value.exit_code == 1 and "checkpoint" in str(error.value)
    assert (tmp_path / "checkpoint.npz").read_bytes() == good


def test_bad_inputs_raise_run_errors(tmp_path):
    with pytest.raises(RunError, match="no such folder"):
        run(tiny(data=str(tmp_path / "missing")), tmp_path / "out")
    with pytest.raises(RunError, match="batch-size"):
        run(tiny(batch_size=256), tmp_path / "out")
    with pytest.raises(RunError, match="epochs"):
        tiny(epochs=0)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(RunError, match="cannot write"):
        run(tiny(), blocker / "run")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 but not really a zip file")
    with pytest.raises(RunError, match="cannot read the checkpoint"):
        training.read_checkpoint(corrupt)
    run(tiny(epochs=1), tmp_path / "small")
    with pytest.raises(RunError, match=r"main\.0\.weight.*\(8, 32, 7, 7\).*\(8, 64, 7, 7\)"):
        run(tiny(ngf=16), tmp_path / "small", resume=tmp_path / "small")


def test_training_data_from_an_mnist_folder(tmp_path):
    from tinygan.data import load_bundled_mnist, write_idx

    images, labels = load_bundled_mnist()
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images[:64])
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels[:64])
    assert training.load_training_images(tiny(data=str(tmp_path))).shape == (64, 28, 28)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(RunError, match="--data"):
        training.load_training_images(tiny(data=str(tmp_path)))


def test_a_fresh_run_replaces_an_old_run_only_when_asked(tmp_path):
    run(tiny(epochs=2), tmp_path)
    before = {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()}
    with pytest.raises(RunError, match="already holds a run.*--resume.*--out.*--overwrite"):
        run(tiny(epochs=1, seed=1), tmp_path)
    assert {path: path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()} == before  # untouched
    run(tiny(epochs=1, seed=1), tmp_path, overwrite=True)
    assert [p.name for p in (tmp_path / "samples").iterdir()] == ["epoch_001.png"]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 4
    assert training.read_checkpoint(tmp_path)["config"]["seed"] == 1


def test_sample_draws_in_evaluation_mode_and_leaves_the_generator_as_it_was():
    # Without the weight average, so that the trainer samples with G itself (the average is always in
    # evaluation mode: test_train_levers.py).
    trainer = DCGANTrainer(tiny(ema=0.0), np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8))
    for batch in range(2):  # a few steps give the running statistics values of their own
        trainer.train_step(np.random.default_rng(batch + 1).uniform(-1, 1, (32, 1, 28, 28)).astype(np.float32))
    generator = trainer.generator
    before = generator.state_dict()
    images = trainer.sample(trainer.fixed_noise)
    assert generator.training  # the mode is put back
    assert_same_state(before, generator.state_dict(), "generator")  # running statistics untouched

    # The truth, by hand: the generator's layers with each BatchNorm computed from its
    # running statistics, (x - running_mean) / sqrt(running_var + eps) * weight + bias.
    x = tinygan.tensor(trainer.fixed_noise)
    with tinygan.no_grad():
        for layer in generator.main:
            if isinstance(layer, tinygan.nn.BatchNorm2d):
                shape = (1, -1, 1, 1)
                scale = layer.weight.data / np.sqrt(layer.running_var + layer.eps)
                x = tinygan.tensor(((x.data - layer.running_mean.reshape(shape)) * scale.reshape(shape)
                                    + layer.bias.data.reshape(shape)).astype(np.float32))
            else:
                x = layer(x)
    np.testing.assert_allclose(images, x.data, rtol=1e-5, atol=1e-6)
    # and so each image depends on its own noise only, not on the batch it is drawn with
    np.testing.assert_allclose(trainer.sample(trainer.fixed_noise[:3]), images[:3], rtol=1e-5, atol=1e-6)
