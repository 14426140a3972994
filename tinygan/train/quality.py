"""Sample quality while training: the judge of `tinygan evaluate` scores the generator every few epochs.

GAN losses do not say how good the digits are (docs/dcgan_training.md explains why), so a
run measures it: every `config.quality_every` epochs, G draws the same 1,000 digits' worth
of noise it would draw in `tinygan evaluate` (seed 0), and the LeNet judge computes
FID-MNIST, the Inception Score and the class histogram.  The numbers are therefore the
ones `tinygan evaluate RUN` prints for those weights (with the default judge), and,
because the noise is fixed, a change in them is a change in G, not in the draw.

Scoring must leave the run exactly as it was, so that a resumed run stays bit for bit the
same: G runs in evaluation mode (BatchNorm reads its running statistics and updates none),
without a graph, and every random number comes from a generator of its own -- the training
noise is not touched, and tinygan's default generator (which builds and may first train
the judge) is put back as it was (`state_kept`).
"""
from __future__ import annotations

import numpy as np

from ..data.loader import to_unit_range
from ..evaluate import classifier_outputs, load_or_train_classifier, sample_images, score_images
from ..random import state_kept
from .config import bundled_split

QUALITY_SAMPLES = 1000  # as `tinygan evaluate`'s default --n
QUALITY_SEED = 0  # as `tinygan evaluate`'s default --seed
QUALITY_KIND = "quality"  # the `kind` of a quality record in metrics.jsonl (loss records have none)


class QualityJudge:
    """Scores a trainer's generator; the judge and the reference features are loaded on first use."""

    def __init__(self, log=print):
        self.log = log
        self._model = self._reference = None

    def score(self, trainer) -> dict:
        """The metrics record of a score of `trainer`'s generator now: step, epoch, fid, inception_score,
        histogram (how many of the samples the judge puts in each class 0..9) of the generator that
        samples; in a run that samples from a weight average (--ema), also fid_unaveraged: G's own."""
        with state_kept():
            if self._model is None:
                self._model, _, _ = load_or_train_classifier(log=self.log)
                _, (holdout_images, _) = bundled_split()
                self._reference, _ = classifier_outputs(self._model, to_unit_range(holdout_images)[:, None])
            scores = self._scores(trainer, averaged=True)
            extra = {}
            if trainer.average is not None:
                extra["fid_unaveraged"] = round(self._scores(trainer, averaged=False)["fid"], 4)
        return {"kind": QUALITY_KIND, "step": trainer.step, "epoch": trainer.epoch,
                "fid": round(scores["fid"], 4), "inception_score": round(scores["inception_score"], 4),
                "histogram": scores["histogram"], **extra}

    def _scores(self, trainer, averaged: bool) -> dict:
        with trainer.generator_in_eval_mode(averaged) as generator:
            samples = sample_images(generator, QUALITY_SAMPLES, np.random.default_rng(QUALITY_SEED))
        return score_images(self._model, samples, self._reference)


def is_quality(record: dict) -> bool:
    return record.get("kind") == QUALITY_KIND


def best_fid(records: list[dict]) -> float | None:
    """The lowest FID among the quality records (None before the first score)."""
    scores = [record["fid"] for record in records if is_quality(record)]
    return min(scores) if scores else None


__all__ = ["QualityJudge", "QUALITY_SAMPLES", "QUALITY_SEED", "QUALITY_KIND", "is_quality", "best_fid"]
