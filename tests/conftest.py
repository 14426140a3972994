"""Hypothesis profiles, and the `eager` fixture two test files share.

- ci:   reproducible (derandomize) and bounded, chosen automatically when CI is set.
- dev:  the default locally: random examples, a moderate number.
- hunt: many random examples, for bug hunting:  HYPOTHESIS_PROFILE=hunt pytest
A failure hypothesis finds becomes an @example on its test so it stays found.
"""
import contextlib
import os

import pytest
from hypothesis import HealthCheck, settings

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, max_examples=25, print_blob=True, **_common)
settings.register_profile("dev", max_examples=40, **_common)
settings.register_profile("hunt", max_examples=1000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
def eager(monkeypatch):
    """A switch: inside `with eager():` a convolution's weight gradient is computed in backward()
    instead of waiting to be read (autograd.DeferredGradient): the truth deferred gradients
    must equal bit for bit."""
    from tinygan.ops import conv

    @contextlib.contextmanager
    def switch():
        with monkeypatch.context() as patch:
            patch.setattr(conv, "DeferredGradient", lambda compute, shape: compute())
            yield
    return switch
