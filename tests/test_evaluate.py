"""The evaluation maths (Frechet distance, Inception Score) and the judging classifier's plumbing."""
import math

import numpy as np
import pytest

from tinygan import evaluate


def test_frechet_distance_of_identical_feature_sets_is_zero():
    features = np.random.default_rng(0).normal(size=(300, 12))
    assert evaluate.frechet_distance(features, features) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_one_dimensional_case_by_hand():
    # a: mean 0, variance ((-1)^2 + 1^2) / (2 - 1) = 2;  b: mean 3, variance (2^2 + 2^2) / 1 = 8.
    # FID = (0 - 3)^2 + (sqrt(2) - sqrt(8))^2 = 9 + (sqrt(2) - 2 sqrt(2))^2 = 9 + 2 = 11.
    assert evaluate.frechet_distance(np.array([-1.0, 1.0]), np.array([1.0, 5.0])) == pytest.approx(11.0)


def test_frechet_distance_of_independent_gaussians_in_closed_form():
    # Diagonal covariances commute, so tr sqrt(S1 S2) = sum sqrt(s1_i s2_i) and
    # FID = |mu1 - mu2|^2 + sum (sqrt(s1_i) - sqrt(s2_i))^2.  Check with exact statistics.
    rng = np.random.default_rng(1)
    whitened = rng.normal(size=(2000, 3))
    whitened = (whitened - whitened.mean(0)) @ np.linalg.inv(np.linalg.cholesky(np.cov(whitened, rowvar=False))).T
    a = whitened * [1.0, 2.0, 3.0] + [0.0, 1.0, 0.0]
    b = whitened * [2.0, 2.0, 1.0] + [1.0, 1.0, 1.0]
    expected = 2.0 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2
    assert evaluate.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_trace_sqrt_product_handles_singular_matrices():
    a = np.diag([4.0, 0.0])
    b = np.array([[1.0, 0.5], [0.5, 1.0]])
    # A B has eigenvalues 4 and 0, so tr sqrt(A B) = 2.
    assert evaluate.trace_sqrt_product(a, b) == pytest.approx(2.0)


def test_inception_score_bounds():
    confident_and_even = np.eye(10)[np.arange(100) % 10]
    assert evaluate.inception_score(confident_and_even) == pytest.approx(10.0)
    one_class = np.eye(10)[np.zeros(100, dtype=int)]
    assert evaluate.inception_score(one_class) == pytest.approx(1.0)
    undecided = np.full((50, 10), 0.1)
    assert evaluate.inception_score(undecided) == pytest.approx(1.0)
    # Two classes, each sample certain: KL = log 2 for every sample.
    halves = np.eye(10)[np.arange(40) % 2]
    assert evaluate.inception_score(halves) == pytest.approx(math.exp(math.log(2)))


def test_cross_entropy_matches_the_formula_and_its_gradient():
    import tinygan as tg

    logits = np.random.default_rng(2).normal(size=(4, 10)) * 3
    labels = np.array([0, 3, 9, 3])
    x = tg.tensor(logits, requires_grad=True)
    loss = evaluate.cross_entropy(x, labels)
    log_softmax = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert loss.item() == pytest.approx(-log_softmax[np.arange(4), labels].mean())
    loss.backward()
    softmax = np.exp(log_softmax)
    assert np.allclose(x.grad, (softmax - np.eye(10)[labels]) / 4)


def test_cache_dir_honours_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYGAN_CACHE_DIR", str(tmp_path / "cache"))
    assert evaluate.cache_dir() == tmp_path / "cache"


def test_corrupt_cached_classifier_is_replaced(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYGAN_CACHE_DIR", str(tmp_path))
    trained = []

    def fake_training(epochs, seed, log):
        trained.append(epochs)
        return evaluate.DigitClassifier().eval(), 0.5

    monkeypatch.setattr(evaluate, "train_classifier", fake_training)
    (tmp_path / "mnist-lenet-v1-e1-s0.npz").write_bytes(b"not a checkpoint")
    messages = []
    _, accuracy, path = evaluate.load_or_train_classifier(epochs=1, log=messages.append)
    assert trained == [1] and accuracy == 0.5 and "unreadable" in messages[0]
    _, accuracy, _ = evaluate.load_or_train_classifier(epochs=1, log=messages.append)  # now from the cache
    assert trained == [1] and accuracy == 0.5 and path.is_file()


def test_digit_accuracy_asks_for_each_digit_and_counts_the_judges_agreement(monkeypatch):
    import tinygan as tg

    class PaintsItsLabel:
        """A stand-in conditional G: digits 0..4 come out as images of value label/10, 5..9 as blank images."""
        nz, num_classes = 3, 10

        def eval(self):
            return self

        def __call__(self, z, labels):
            values = np.where(labels < 5, labels / 10, 0.0).astype(np.float32)
            return tg.tensor(np.broadcast_to(values[:, None, None, None], (len(labels), 1, 28, 28)).copy())

    def reads_the_value(model, images):  # a judge that reads a digit off the image's value
        predicted = np.rint(images.mean(axis=(1, 2, 3)) * 10).astype(int)
        return None, np.eye(10)[predicted]

    monkeypatch.setattr(evaluate, "classifier_outputs", reads_the_value)
    shares = evaluate.digit_accuracy(None, PaintsItsLabel(), 20, np.random.default_rng(0))
    # 0..4 are drawn as asked; 5..9 come out blank, read as 0: wrong every time.
    assert shares == [1.0] * 5 + [0.0] * 5


def test_the_reference_rows_are_the_same_for_every_generator_at_one_seed(monkeypatch, tmp_path):
    # A conditional G also draws labels from the seed's stream: the real digits and the noise
    # must not depend on that, or runs could not be compared by their reference rows.
    from tinygan.models import Generator

    monkeypatch.setenv("TINYGAN_CACHE_DIR", str(tmp_path))
    untrained_judge = lambda epochs, seed, log: (evaluate.DigitClassifier().eval(), 0.5)  # noqa: E731
    monkeypatch.setattr(evaluate, "train_classifier", untrained_judge)
    plain, conditional = Generator(nz=8, ngf=4), Generator(nz=8, ngf=4, num_classes=10)
    first, second = (evaluate.evaluate_generator(g, n=16, seed=3, log=lambda message: None)
                     for g in (plain, conditional))
    for row in ("real", "noise"):
        assert first[row] == second[row]
    assert first["generated"] != second["generated"]
    other_seed = evaluate.evaluate_generator(plain, n=16, seed=4, log=lambda message: None)
    assert other_seed["real"] != first["real"]
