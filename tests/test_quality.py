"""Quality tracked while training: the score records, quality.png, best.npz, and exact resumption with scoring on.

The judge is made cheap here, as in test_evaluate: an untrained LeNet stands in for the
trained one (no classifier training, a private cache folder) and 64 samples for 1,000.
The numbers it gives mean nothing; the bookkeeping around them is what is tested.
"""
import json

import numpy as np
import pytest

import tinygan
from tinygan import evaluate
from tinygan.cli import main
from tinygan.train import quality
from tinygan.train.quality import QualityJudge
from test_train import assert_same_state, run, tiny


@pytest.fixture(autouse=True)
def cheap_judge(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYGAN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(evaluate, "train_classifier", lambda epochs, seed, log: (evaluate.DigitClassifier().eval(), 0.5))
    monkeypatch.setattr(quality, "QUALITY_SAMPLES", 64)


def records(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_scores_are_written_as_records_of_their_own_kind(tmp_path):
    trainer = run(tiny(epochs=4, quality_every=2), tmp_path)
    lines = records(tmp_path)
    scores = [record for record in lines if record.get("kind") == "quality"]
    losses = [record for record in lines if "kind" not in record]
    assert [record["step"] for record in losses] == list(range(1, 17))  # the loss records are as before
    assert [(record["epoch"], record["step"]) for record in scores] == [(2, 8), (4, 16)]
    for record in scores:
        assert record["fid"] >= 0 and 1 <= record["inception_score"] <= 10
        assert len(record["histogram"]) == 10 and sum(record["histogram"]) == 64
    assert tinygan.train.read_metrics(tmp_path / "metrics.jsonl") == lines
    assert (tmp_path / "quality.png").is_file() and (tmp_path / "best.npz").is_file()
    # A score re-done from the saved weights, the way `tinygan evaluate` samples, gives the recorded FID.
    generator, state = tinygan.train.generator_from_checkpoint(tmp_path / "checkpoint.npz")
    model, _, _ = evaluate.load_or_train_classifier(log=lambda message: None)
    _, (holdout, _) = tinygan.train.bundled_split()
    reference, _ = evaluate.classifier_outputs(model, evaluate.to_unit_range(holdout)[:, None])
    samples = evaluate.sample_images(generator, 64, np.random.default_rng(0))
    assert evaluate.score_images(model, samples, reference)["fid"] == pytest.approx(scores[-1]["fid"], abs=1e-3)
    assert state["step"] == trainer.step == 16


def test_no_scores_when_quality_every_is_zero(tmp_path):
    run(tiny(epochs=2, quality_every=0), tmp_path)
    assert all("kind" not in record for record in records(tmp_path))
    assert not (tmp_path / "best.npz").exists() and not (tmp_path / "quality.png").exists()


def scripted_fids(monkeypatch, fids):
    """Make the judge report `fids` in turn (the rest of the record is real)."""
    original, queue = QualityJudge.score, list(fids)

    def score(self, trainer):
        return {**original(self, trainer), "fid": queue.pop(0)}

    monkeypatch.setattr(QualityJudge, "score", score)
    return queue


def test_best_npz_holds_the_lowest_fid_seen_across_a_resume(tmp_path, monkeypatch):
    queue = scripted_fids(monkeypatch, [50.0, 30.0, 40.0, 35.0, 60.0])
    run(tiny(epochs=3, quality_every=1), tmp_path)  # scores at steps 4, 8, 12: 50, 30, 40
    best = tinygan.load(tmp_path / "best.npz")
    assert best["step"] == 8
    assert not np.array_equal(best["generator"]["main.0.weight"],
                              tinygan.load(tmp_path / "checkpoint.npz")["generator"]["main.0.weight"])
    # Resumed: 35 and 60 do not beat the 30 of the first session, so best.npz stays step 8's.
    run(tiny(epochs=5, quality_every=1), tmp_path, resume=tmp_path)
    assert queue == [] and tinygan.load(tmp_path / "best.npz")["step"] == 8
    # best.npz is a checkpoint like any other: it samples and evaluates.
    assert main(["sample", str(tmp_path / "best.npz"), "--n", "4", "--out", str(tmp_path / "best.png")]) == 0


def test_resume_with_scoring_on_equals_an_uninterrupted_run(tmp_path):
    straight = run(tiny(epochs=3, quality_every=1), tmp_path / "straight")
    run(tiny(epochs=3, quality_every=1), tmp_path / "paused", max_steps=6)
    resumed = run(tiny(epochs=3, quality_every=1), tmp_path / "paused", resume=tmp_path / "paused")
    assert_same_state(straight.state_dict(), resumed.state_dict())
    assert [r for r in records(tmp_path / "straight") if "kind" in r] == \
           [r for r in records(tmp_path / "paused") if "kind" in r]


def test_scoring_moves_no_training_random_stream(tmp_path):
    scored = run(tiny(epochs=2, quality_every=1), tmp_path / "scored").state_dict()
    plain = run(tiny(epochs=2, quality_every=0), tmp_path / "plain").state_dict()
    assert scored.pop("config")["quality_every"] == 1 and plain.pop("config")["quality_every"] == 0
    assert_same_state(scored, plain)


def test_the_progress_bar_shows_the_last_fid(tmp_path, monkeypatch, capsys):
    scripted_fids(monkeypatch, [42.25, 17.5])
    training_log = []
    tinygan.train.train(tiny(epochs=2, quality_every=1), tmp_path, progress=True, log=training_log.append)
    bar = capsys.readouterr().err.replace("\r", "\n").splitlines()
    # The bar's last line was drawn after the last step, before that epoch's score: epoch 1's FID.
    assert "FID 42.2" in [line for line in bar if "step" in line][-1]


def test_an_averaging_run_scores_the_average_and_g_itself(tmp_path):
    trainer = run(tiny(epochs=2, quality_every=2, ema=0.9), tmp_path)
    score = [record for record in records(tmp_path) if record.get("kind") == "quality"][-1]
    judge = QualityJudge(log=lambda message: None)
    plain = run(tiny(epochs=2, quality_every=2, ema=0.0), tmp_path / "plain")  # the same training, G's own weights
    assert score["fid_unaveraged"] == judge.score(plain)["fid"]
    assert score["fid"] == judge.score(trainer)["fid"] != score["fid_unaveraged"]
    assert "fid_unaveraged" not in judge.score(plain)
