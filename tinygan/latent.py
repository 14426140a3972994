"""Walking through a generator's noise space: spherical interpolation and the frames of a walk.

A GAN maps each point z of its noise space to an image; moving z smoothly morphs one
digit into another, and shows that G learned a continuous space rather than a list of
memorised pictures.  How to move matters.  z is drawn from N(0, I) in nz = 100
dimensions, so its norm is almost always close to sqrt(nz) = 10: the samples live on a
thin shell, and G has only ever seen points there.  The straight line between two such
points cuts through the inside of the shell -- its midpoint has norm about 10 / sqrt(2)
~ 7, a norm G essentially never saw in training -- so a linear walk fades to dull,
washed-out digits half way.  Spherical interpolation (slerp; Shoemake 1985, proposed for
GANs by White 2016) follows the great circle instead, keeping the norm of equal-norm
endpoints, so every frame is a typical z.
"""
from __future__ import annotations

import numpy as np

from .autograd import no_grad
from .tensor import Tensor

FRAMES_PER_SEGMENT = 12  # frames from one point of a walk to the next (at 80 ms: about one second)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The point a fraction t of the way from a to b along the great circle, for vectors on the last axis.

        omega = arccos( <a, b> / (|a| |b|) )       the angle between a and b
        slerp(a, b, t) = sin((1 - t) omega) / sin(omega) * a  +  sin(t omega) / sin(omega) * b

    t = 0 gives a, t = 1 gives b; the angle to a grows in proportion to t; for |a| = |b| the
    norm stays |a| all the way.  For (nearly) parallel a and b, sin(omega) ~ 0 and the
    formula becomes 0/0: there the arc is a straight line and linear interpolation is used.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    cosine = np.sum(a * b, axis=-1, keepdims=True) / (np.linalg.norm(a, axis=-1, keepdims=True)
                                                      * np.linalg.norm(b, axis=-1, keepdims=True))
    omega = np.arccos(np.clip(cosine, -1.0, 1.0))
    sine = np.sin(omega)
    parallel = sine < 1e-6
    safe = np.where(parallel, 1.0, sine)
    along_arc = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / safe
    return np.where(parallel, (1 - t) * a + t * b, along_arc)


def walk_path(points: np.ndarray, frames_per_segment: int = FRAMES_PER_SEGMENT) -> np.ndarray:
    """A closed loop through `points` (P, ..., nz): P * frames_per_segment steps by slerp, the last segment
    leading back to the first point, so a looping GIF of it has no jump."""
    following = np.roll(points, -1, axis=0)
    return np.concatenate([slerp(start, end, step / frames_per_segment)[None]
                           for start, end in zip(points, following) for step in range(frames_per_segment)])


def draw(generator, z: np.ndarray, labels=None, batch_size: int = 250) -> np.ndarray:
    """G(z) (conditional: G(z, labels)) in evaluation mode, as a float32 array (N, nc, 28, 28).

    G runs on `batch_size` vectors at a time (as `evaluate.iter_samples`), so the memory
    its layers take stays that of one batch: the images alone are 3 KB each, G's
    activations on the way ~0.75 MB.
    """
    generator.eval()
    z = np.asarray(z, dtype=np.float32).reshape(len(z), -1, 1, 1)
    with no_grad():
        return np.concatenate([generator(Tensor(z[start:start + batch_size]),
                                         None if labels is None else labels[start:start + batch_size]).data
                               for start in range(0, max(len(z), 1), batch_size)])


def walk_frames(generator, points: int, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The frames of `count` walks side by side, each through `points` random z.  A conditional generator
    keeps each walk's digit fixed (0..9 across the grid), so only the style moves."""
    z = rng.standard_normal((points, count, generator.nz))
    labels = np.arange(count) % generator.num_classes if generator.num_classes else None
    return [draw(generator, frame, labels) for frame in walk_path(z)]


def digit_walk_frames(generator, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One frame per digit 0..9 of a conditional generator, each drawing the same `count` z: the handwriting
    stays (z), the digit changes (the label)."""
    z = rng.standard_normal((count, generator.nz))
    return [draw(generator, z, np.full(count, digit)) for digit in range(generator.num_classes)]


def digit_rows(generator, per_digit: int, rng: np.random.Generator) -> np.ndarray:
    """`per_digit` samples of each digit 0..9 of a conditional generator, digit by digit (one grid row each);
    column j uses the same z in every row, so a column shows one style across the digits."""
    z = np.tile(rng.standard_normal((per_digit, generator.nz)), (generator.num_classes, 1))
    return draw(generator, z, np.repeat(np.arange(generator.num_classes), per_digit))


__all__ = ["slerp", "walk_path", "draw", "walk_frames", "digit_walk_frames", "digit_rows", "FRAMES_PER_SEGMENT"]
