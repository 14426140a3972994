"""slerp against its definition: the endpoints, the norm of equal-norm endpoints, the angle proportional to t."""
import numpy as np
from hypothesis import given, strategies as st

from tinygan.latent import slerp, walk_path
from tinygan.testing import seeds


def angle(a, b):
    return np.arccos(np.clip(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))


@given(seed=seeds(), size=st.integers(2, 50), t=st.floats(0, 1))
def test_slerp_follows_the_great_circle(seed, size, t):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(size), rng.standard_normal(size)
    np.testing.assert_allclose(slerp(a, b, 0.0), a, atol=1e-12)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-12)
    # Equal norms stay equal all the way (a straight line would dip inside the sphere).
    b_on_sphere = b * np.linalg.norm(a) / np.linalg.norm(b)
    point = slerp(a, b_on_sphere, t)
    np.testing.assert_allclose(np.linalg.norm(point), np.linalg.norm(a), rtol=1e-9)
    # The angle from a is t times the whole angle, and the rest lies between the point and b.
    whole = angle(a, b)
    np.testing.assert_allclose(angle(a, point), t * whole, atol=1e-6)
    np.testing.assert_allclose(angle(point, b), (1 - t) * whole, atol=1e-6)


def test_slerp_of_parallel_vectors_is_the_straight_line():
    a = np.array([1.0, 2.0, 2.0])
    np.testing.assert_allclose(slerp(a, 3 * a, 0.5), 2 * a)


def test_slerp_works_on_the_last_axis_of_batches():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 8)), rng.standard_normal((5, 8))
    together = slerp(a, b, 0.3)
    for row in range(5):
        np.testing.assert_allclose(together[row], slerp(a[row], b[row], 0.3))


def test_walk_is_a_closed_loop_through_the_points():
    points = np.random.default_rng(1).standard_normal((3, 2, 6))
    path = walk_path(points, frames_per_segment=4)
    assert path.shape == (12, 2, 6)
    np.testing.assert_allclose(path[[0, 4, 8]], points)  # each segment starts at its point
    np.testing.assert_allclose(path[-1], slerp(points[2], points[0], 0.75))  # and the last one heads back
