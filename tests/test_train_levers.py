"""The training levers of issue 13: a moving average of G's weights (--ema), D's own learning rate
(--lr-d) and one-sided label smoothing (--real-label).

Each is checked against an independent truth: the average against the recurrence written
out by hand from snapshots of G, the targets against what the loss function was really
given, the resumed average against an uninterrupted run.  How much any of them helps is a
measurement, not a test (benchmarks/quality_levers.py; the numbers are in
docs/dcgan_training.md).
"""
import numpy as np
import pytest

import tinygan
from tinygan import functional as F
from tinygan import nn
from tinygan.cli import main
from tinygan.train import DCGANTrainer, RunError, TrainConfig, load_training_digits
from tinygan.train.average import WARMUP, WeightAverage
from test_train import assert_same_state, run, tiny


def trainer_for(config):
    return DCGANTrainer(config, *load_training_digits(config))


# ---------------------------------------------------------------------- the average
def test_the_average_follows_the_recurrence_with_its_warmup():
    model, copy = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    average = WeightAverage(model, copy, decay=0.9)
    rng = np.random.default_rng(0)
    expected = {key: value.astype(np.float64) for key, value in model.state_dict().items()}
    for step in range(30):
        model.weight.data[...] = rng.standard_normal(3)
        model(tinygan.tensor(rng.standard_normal((4, 3)).astype(np.float32)))  # moves the running statistics
        average.update(step)
        d = min(0.9, (1 + step) / (WARMUP + step))
        for key, value in model.state_dict().items():
            if key == "num_batches_tracked":
                expected[key] = value  # a count is copied, not averaged
            else:
                expected[key] = d * expected[key] + (1 - d) * value
    for key, value in copy.state_dict().items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert copy.state_dict()["num_batches_tracked"] == 30
    assert not copy.training and not any(p.requires_grad for p in copy.parameters())


def test_the_trainers_average_is_the_recurrence_over_gs_weights_after_each_step():
    trainer = trainer_for(tiny(ema=0.5))
    expected = trainer.generator.state_dict()  # the average starts at G
    for step in range(5):
        trainer.train_next_batch()
        d = min(0.5, (1 + step) / (WARMUP + step))
        expected = {key: d * expected[key] + (1 - d) * value if value.dtype.kind == "f" else value
                    for key, value in trainer.generator.state_dict().items()}
    for key, value in trainer.average.average.state_dict().items():
        np.testing.assert_allclose(value, expected[key], rtol=1e-5, atol=1e-7, err_msg=key)


def test_the_average_changes_nothing_in_training():
    averaged = trainer_for(tiny(ema=0.999))
    plain = trainer_for(tiny(ema=0.0))
    for _ in range(4):
        averaged.train_next_batch(), plain.train_next_batch()
    state, other = averaged.state_dict(), plain.state_dict()
    assert state.pop("generator_average") is not None and "generator_average" not in other
    state.pop("config"), other.pop("config")
    assert_same_state(state, other)


def test_samples_come_from_the_average_and_the_checkpoint_keeps_it(tmp_path):
    trainer = run(tiny(ema=0.9), tmp_path)
    z = np.random.default_rng(1).standard_normal((4, 8, 1, 1)).astype(np.float32)
    with tinygan.no_grad():
        from_average = trainer.average.average(tinygan.tensor(z)).data
        from_g = trainer.generator.eval()(tinygan.tensor(z)).data
    assert np.array_equal(trainer.sample(z), from_average) and not np.allclose(from_average, from_g)
    generator, state = tinygan.train.generator_from_checkpoint(tmp_path)
    assert_same_state(generator.state_dict(), state["generator_average"])
    assert main(["sample", str(tmp_path), "--n", "4", "--out", str(tmp_path / "s.png")]) == 0


def test_a_resumed_averaging_run_equals_an_uninterrupted_one(tmp_path):
    straight = run(tiny(epochs=3, ema=0.9), tmp_path / "straight")
    run(tiny(epochs=3, ema=0.9), tmp_path / "paused", max_steps=5)
    resumed = run(tiny(epochs=3, ema=0.9), tmp_path / "paused", resume=tmp_path / "paused")
    assert_same_state(straight.state_dict(), resumed.state_dict())


def test_averaging_switched_on_when_resuming_starts_at_g(tmp_path):
    run(tiny(epochs=1, ema=0.0), tmp_path)
    saved = tinygan.load(tmp_path / "checkpoint.npz")
    assert "generator_average" not in saved
    trainer = run({"epochs": 1, "ema": 0.9}, tmp_path, resume=tmp_path)  # the run is complete: nothing trains
    assert_same_state(trainer.average.average.state_dict(), saved["generator"])


def test_a_damaged_average_is_refused_by_name(tmp_path):
    run(tiny(epochs=1, ema=0.9), tmp_path)
    state = tinygan.load(tmp_path / "checkpoint.npz")
    state["generator_average"]["main.0.weight"] = state["generator_average"]["main.0.weight"][:1]
    tinygan.save(state, tmp_path / "bad.npz")
    with pytest.raises(RunError, match="generator_average main.0.weight should be"):
        tinygan.train.read_checkpoint(tmp_path / "bad.npz")


def test_a_checkpoint_from_before_averaging_existed_resumes_without_it(tmp_path):
    run(tiny(epochs=1, ema=0.0), tmp_path)
    state = tinygan.load(tmp_path / "checkpoint.npz")
    del state["config"]["ema"]  # as written by tinygan before --ema existed
    tinygan.save(state, tmp_path / "checkpoint.npz")
    resumed = run({"epochs": 2}, tmp_path, resume=tmp_path)
    assert resumed.config.ema == 0.0 and resumed.average is None  # not today's default 0.999
    assert TrainConfig().ema == 0.999


# ---------------------------------------------------------------------- targets and learning rates
def test_label_smoothing_changes_only_ds_target_for_real_digits(monkeypatch):
    given = []
    original = F.binary_cross_entropy

    def spy(prediction, target, *args, **kwargs):
        given.append(np.array(target))
        return original(prediction, target, *args, **kwargs)

    monkeypatch.setattr(F, "binary_cross_entropy", spy)
    trainer_for(tiny(real_label=0.9)).train_next_batch()
    real, fake, generator = given
    assert np.all(real == np.float32(0.9)) and np.all(fake == 0) and np.all(generator == 1)


def test_each_network_gets_its_own_learning_rate_and_a_resume_may_change_them(tmp_path):
    trainer = trainer_for(tiny(lr=1e-4, lr_d=4e-4))
    assert [g["lr"] for g in trainer.optimizer_g.param_groups] == [1e-4]
    assert [g["lr"] for g in trainer.optimizer_d.param_groups] == [4e-4]
    assert trainer_for(tiny(lr=3e-4)).optimizer_d.param_groups[0]["lr"] == 3e-4  # no --lr-d: D uses --lr
    run(tiny(epochs=1, lr=1e-4, lr_d=4e-4), tmp_path)
    resumed = run({"epochs": 2, "lr_d": 2e-4}, tmp_path, resume=tmp_path)
    assert resumed.optimizer_d.param_groups[0]["lr"] == 2e-4 and resumed.optimizer_g.param_groups[0]["lr"] == 1e-4


@pytest.mark.parametrize("option, value, message", [
    ("ema", 1.0, r"--ema must be in \[0.0, 1.0\), got 1.0"),
    ("ema", -0.5, r"--ema must be in"),
    ("real_label", 0.3, r"--real-label must be in \[0.5, 1.0\], got 0.3"),
    ("real_label", float("nan"), r"--real-label must be in"),
    ("lr_d", 0.0, r"--lr-d must be"),
])
def test_bad_lever_values_are_one_line_errors(option, value, message):
    with pytest.raises(RunError, match=message):
        TrainConfig(**{option: value})


def test_the_command_line_refuses_them_in_one_line(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path), "--ema", "1.5", "--no-progress"]) == 2
    error = capsys.readouterr().err.strip()
    assert "--ema must be in [0.0, 1.0), got 1.5" in error and len(error.splitlines()) == 1
    assert not (tmp_path / "checkpoint.npz").exists()
