"""How good are the generated digits?  FID and Inception Score, measured with a small MNIST classifier.

Looking at samples is the first test of a GAN, but numbers let runs be compared.  The
two standard ones, FID (Heusel et al. 2017) and the Inception Score (Salimans et al.
2016), judge images through an image classifier -- originally Inception-v3 on ImageNet.
For MNIST a LeNet-style classifier is the natural judge; we build and train it with
tinygan itself on the bundled training digits (about ten seconds, once, then cached).

FID-MNIST (lower is better, 0 = indistinguishable statistics).  Take the classifier's
penultimate-layer features of the generated digits and of held-out real digits, fit a
Gaussian to each (mean mu, covariance S), and compute the Frechet distance between
the two Gaussians:

    FID = |mu_1 - mu_2|^2 + tr(S_1) + tr(S_2) - 2 tr( (S_1 S_2)^(1/2) )

It is small only if the samples both look like digits (the means agree) and vary as
much as real digits do (the covariances agree), so a generator that draws one perfect
"1" over and over still scores badly.

Inception Score (higher is better, from 1 up to 10 = the number of classes):

    IS = exp( mean over x of KL( p(y|x) || p(y) ) ),   p(y) = mean over x of p(y|x)

High when each sample is classified confidently (p(y|x) peaked) *and* the classes are
used evenly (p(y) flat).

Neither number means much alone -- they depend on the classifier and on the number of
samples -- so `tinygan evaluate` prints them for three sets of N images: the generator's,
real digits (the best one can hope for), and uniform noise (the worst).
"""
from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import numpy as np

from . import nn, optim
from .autograd import no_grad
from .data import DataLoader, split_bundled
from .data.loader import to_unit_range
from .serialization import load, save
from .random import manual_seed, state_kept
from .tensor import Tensor

NUM_CLASSES = 10
CLASSIFIER_FORMAT = "tinygan-mnist-classifier"
CLASSIFIER_VERSION = 1
DEFAULT_CLASSIFIER_EPOCHS = 8  # ~98% held-out accuracy, ~10 s on 2 cores
CACHE_ENVIRONMENT_VARIABLE = "TINYGAN_CACHE_DIR"


# ---------------------------------------------------------------------- the two scores
def trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """tr( (A B)^(1/2) ) for symmetric positive semi-definite A and B, with NumPy only.

    A B itself is not symmetric, but it is similar to the symmetric PSD matrix
    M = A^(1/2) B A^(1/2)  (M = A^(-1/2) (A B) A^(1/2) when A is invertible; by continuity
    the eigenvalues agree in general).  So the eigenvalues of (A B)^(1/2) are the square
    roots of M's, which `eigh` computes stably -- no general matrix square root needed.
    """
    values, vectors = np.linalg.eigh(a)
    sqrt_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T  # V diag(sqrt(l)) V^T
    m = sqrt_a @ b @ sqrt_a
    eigenvalues = np.linalg.eigvalsh((m + m.T) / 2)  # symmetrise away rounding errors
    # Tiny negative eigenvalues are rounding noise of a PSD matrix: they count as 0.
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64; unbiased, as the FID papers."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim == 1:
        features = features[:, None]
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"gaussian_statistics: need features of shape (N >= 2, D), got {features.shape}")
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Frechet distance between Gaussians fitted to two feature sets (N, D) and (M, D).

        |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))

    In one dimension this is (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2.
    """
    mean_a, cov_a = gaussian_statistics(features_a)
    mean_b, cov_b = gaussian_statistics(features_b)
    if mean_a.shape != mean_b.shape:
        raise ValueError(f"frechet_distance: the feature sets have different widths, {mean_a.shape[0]} "
                         f"and {mean_b.shape[0]}")
    distance = (np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                - 2 * trace_sqrt_product(cov_a, cov_b))
    return max(float(distance), 0.0)  # rounding can push a distance of 0 slightly below


def inception_score(probabilities: np.ndarray) -> float:
    """exp( mean_x KL(p(y|x) || p(y)) ) for class probabilities (N, classes), each row summing to 1."""
    p = np.asarray(probabilities, dtype=np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    # 0 * log(0 / q) is 0: mask those terms instead of producing NaN.
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0)
    return float(math.exp(terms.sum(axis=1).mean()))


# ---------------------------------------------------------------------- the judge
class DigitClassifier(nn.Module):
    """A LeNet-5-style classifier for 28x28 digits in [-1, 1].

        conv 5x5 (1 -> 16, pad 2) -> ReLU -> max-pool 2     28 -> 14
        conv 5x5 (16 -> 32)       -> ReLU -> max-pool 2     14 -> 10 -> 5
        flatten 800 -> linear 128 -> ReLU                   the features FID compares
        linear 128 -> 10                                    class scores (logits)
    """

    FEATURES = 128

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 5 * 5, self.FEATURES), nn.ReLU(),
        )
        self.head = nn.Linear(self.FEATURES, NUM_CLASSES)

    def forward(self, images):
        return self.head(self.features(images))


def cross_entropy(logits: Tensor, labels: np.ndarray) -> Tensor:
    """Mean of -log softmax(logits)[label], built from differentiable Tensor ops.

    log softmax(z)_k = z_k - log sum_j exp(z_j).  Subtracting max(z) from every z_j first
    changes nothing mathematically but keeps exp from overflowing; the maximum is used as a
    constant (its gradient contributions cancel exactly).
    """
    shifted = logits - logits.data.max(axis=1, keepdims=True)
    log_probabilities = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
    one_hot = np.eye(logits.shape[1], dtype=logits.dtype)[labels]
    return -(log_probabilities * one_hot).sum() / len(labels)


@contextlib.contextmanager
def _seeded(seed: int):
    """Run a block with tinygan's default generator seeded, then put the caller's state back."""
    with state_kept():
        manual_seed(seed)
        yield


def train_classifier(epochs: int = DEFAULT_CLASSIFIER_EPOCHS, seed: int = 0, log=print):
    """Train a `DigitClassifier` on the bundled training split; return it (eval mode) and its held-out accuracy."""
    (train_images, train_labels), (holdout_images, holdout_labels) = split_bundled()
    with _seeded(seed):
        model = DigitClassifier()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(train_images, train_labels, batch_size=64, seed=seed)
    for epoch in range(epochs):
        for images, labels in loader:
            optimizer.zero_grad()
            loss = cross_entropy(model(Tensor(images)), labels)
            loss.backward()
            optimizer.step()
        log(f"  classifier epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.3f}")
    model.eval()
    _, probabilities = classifier_outputs(model, to_unit_range(holdout_images)[:, None])
    accuracy = float(np.mean(probabilities.argmax(axis=1) == holdout_labels))
    return model, accuracy


def classifier_outputs(model: DigitClassifier, images: np.ndarray, batch_size: int = 500):
    """(features (N, 128), class probabilities (N, 10)) of images (N, 1, 28, 28) in [-1, 1]."""
    features, probabilities = [], []
    with no_grad():
        for start in range(0, len(images), batch_size):
            batch = Tensor(np.asarray(images[start:start + batch_size], dtype=np.float32))
            hidden = model.features(batch)
            logits = model.head(hidden).data.astype(np.float64)
            logits -= logits.max(axis=1, keepdims=True)
            exp = np.exp(logits)
            features.append(hidden.data)
            probabilities.append(exp / exp.sum(axis=1, keepdims=True))
    return np.concatenate(features), np.concatenate(probabilities)


def cache_dir() -> Path:
    """Where the trained classifier is kept: $TINYGAN_CACHE_DIR, else ~/.cache/tinygan."""
    if os.environ.get(CACHE_ENVIRONMENT_VARIABLE):
        return Path(os.environ[CACHE_ENVIRONMENT_VARIABLE])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinygan"


def load_or_train_classifier(epochs: int = DEFAULT_CLASSIFIER_EPOCHS, seed: int = 0, log=print):
    """The cached classifier for (epochs, seed), training and caching it on first use.

    Returns (model, held-out accuracy, cache path).  An unreadable cache file is replaced.
    """
    path = cache_dir() / f"mnist-lenet-v{CLASSIFIER_VERSION}-e{epochs}-s{seed}.npz"
    with _seeded(seed):  # building the model must not move the caller's random stream (a training run's)
        model = DigitClassifier()
    if path.is_file():
        try:
            cached = load(path)
            if cached.get("format") == CLASSIFIER_FORMAT:
                model.load_state_dict(cached["state"])
                return model.eval(), float(cached["accuracy"]), path
        except (OSError, ValueError, RuntimeError, KeyError, AttributeError):
            pass
        log(f"the cached classifier {path} is unreadable; training a new one")
    log(f"training the judge: a LeNet classifier on the bundled training digits ({epochs} epochs, "
        f"once; cached in {path.parent})")
    model, accuracy = train_classifier(epochs, seed, log=log)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save({"format": CLASSIFIER_FORMAT, "version": CLASSIFIER_VERSION, "state": model.state_dict(),
              "accuracy": accuracy, "epochs": epochs, "seed": seed}, path)
    except OSError as error:
        log(f"note: could not cache the classifier in {path.parent} ({error.strerror or error})")
    return model, accuracy, path


# ---------------------------------------------------------------------- evaluating images
def score_images(model: DigitClassifier, images: np.ndarray, reference_features: np.ndarray) -> dict:
    """FID against the reference features, Inception Score, and the class histogram of `images`."""
    features, probabilities = classifier_outputs(model, images)
    histogram = np.bincount(probabilities.argmax(axis=1), minlength=NUM_CLASSES)
    return {"fid": frechet_distance(features, reference_features), "inception_score": inception_score(probabilities),
            "histogram": histogram.tolist(), "n": len(images)}


def evaluate_generator(generator, n: int = 1000, seed: int = 0, classifier_epochs: int = DEFAULT_CLASSIFIER_EPOCHS,
                       log=print) -> dict:
    """Score `n` samples of `generator` next to n real digits and n noise images.

    The reference for FID is the bundled held-out split (1,000 digits neither the GAN nor
    the classifier trained on).  "real" are n digits of the training split -- what a
    generator that perfectly reproduced its training data would score.  The real digits
    and the noise come from a random stream of their own, so a given `seed` gives the same
    two reference rows for every generator (a conditional one also draws labels).
    Returns {"classifier_accuracy", "classifier_cache", "generated", "real", "noise"}, and for
    a conditional generator also "per_digit": for each digit d, the share of n samples
    asked for d that the judge classifies as d.
    """
    if n < 2:
        raise ValueError(f"evaluate: need at least 2 samples for a covariance, got n={n}")
    model, accuracy, path = load_or_train_classifier(classifier_epochs, log=log)
    (train_images, _), (holdout_images, _) = split_bundled()
    reference_features, _ = classifier_outputs(model, to_unit_range(holdout_images)[:, None])
    rng, reference_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    samples = sample_images(generator, n, rng)
    chosen = reference_rng.choice(len(train_images), size=min(n, len(train_images)), replace=False)
    real = to_unit_range(train_images[chosen])
    noise = reference_rng.uniform(-1, 1, size=(n, 1, 28, 28)).astype(np.float32)
    results = {"classifier_accuracy": accuracy, "classifier_cache": str(path),
               "generated": score_images(model, samples, reference_features),
               "real": score_images(model, real[:, None], reference_features),
               "noise": score_images(model, noise, reference_features)}
    if getattr(generator, "num_classes", None):
        results["per_digit"] = digit_accuracy(model, generator, n, rng)
    return results


def digit_accuracy(model: DigitClassifier, generator, n: int, rng: np.random.Generator) -> list[float]:
    """For a conditional generator: for each digit d, the share of n samples drawn with label d that the
    judge classifies as d (does G draw the digit it is asked for?)."""
    shares = []
    for digit in range(generator.num_classes):
        images = sample_images(generator, n, rng, labels=np.full(n, digit))
        _, probabilities = classifier_outputs(model, images)
        shares.append(float(np.mean(probabilities.argmax(axis=1) == digit)))
    return shares


def sample_images(generator, n: int, rng: np.random.Generator, batch_size: int = 250, labels=None) -> np.ndarray:
    """n images (n, nc, 28, 28) in [-1, 1] from `generator` (evaluation mode), noise drawn from `rng`.

    A conditional generator draws the digits `labels` (n ints), or, without them, labels
    drawn uniformly from `rng` (after each batch's noise), so every digit is asked for
    about equally often.
    """
    return np.concatenate(list(iter_samples(generator, n, rng, batch_size, labels)))


def iter_samples(generator, n: int, rng: np.random.Generator, batch_size: int = 250, labels=None):
    """The images of `sample_images`, `batch_size` at a time (the same numbers), for streaming them to a file."""
    classes = getattr(generator, "num_classes", None)
    generator.eval()
    with no_grad():
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            z = rng.standard_normal((count, generator.nz, 1, 1)).astype(np.float32)
            if classes is None:
                wanted = None
            elif labels is None:
                wanted = rng.integers(0, classes, size=count)
            else:
                wanted = np.asarray(labels[start:start + count])
            yield generator(Tensor(z), wanted).data


def evaluation_bytes(n: int) -> int:
    """Rough memory of scoring n samples: the generated, real and noise images (float32), and the
    classifier's features (float32, then float64 for the statistics) and probabilities of each set."""
    per_image = 3 * (28 * 28 * 4 + 128 * (4 + 8 + 8) + 10 * 8)
    return n * per_image


def format_report(results: dict) -> str:
    """The table `tinygan evaluate` prints."""
    lines = [f"judge: LeNet classifier, {100 * results['classifier_accuracy']:.1f}% accurate on the held-out digits",
             "",
             f"{'':22}{'FID-MNIST':>10}{'IS':>7}   predicted class counts for digits 0..9"]
    for label, key in (("generated", "generated"), ("real digits", "real"), ("uniform noise", "noise")):
        row = results[key]
        counts = " ".join(f"{count:4d}" for count in row["histogram"])
        name = f"{label} ({row['n']})"
        lines.append(f"{name:22}{row['fid']:10.2f}{row['inception_score']:7.2f}   {counts}")
    if "per_digit" in results:
        shares = " ".join(f"{100 * share:4.0f}" for share in results["per_digit"])
        lines += ["", f"{'asked for digit d (% read as d)':42}{shares}"]
    lines += ["", "FID: lower is better (distance to held-out real digits' features); "
                  "IS: 1 to 10, higher is better."]
    return "\n".join(lines)


__all__ = ["frechet_distance", "trace_sqrt_product", "gaussian_statistics", "inception_score", "DigitClassifier",
           "cross_entropy", "train_classifier", "load_or_train_classifier", "classifier_outputs", "cache_dir",
           "score_images", "evaluate_generator", "digit_accuracy", "sample_images", "iter_samples", "evaluation_bytes", "format_report"]
