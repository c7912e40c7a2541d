"""Shared test configuration: deterministic hypothesis profiles and common fixtures."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# CI must be deterministic; the first Numba call compiles for seconds, so no deadlines.
settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: every random test input is reproducible."""
    return np.random.default_rng(20261122)


@pytest.fixture
def raises_naming():
    """A check that ``call()`` raises ``error`` (a ValueError or TypeError subclass, as lpemu's
    errors are) whose message contains every string in ``words``."""

    def check(call, error, words) -> None:
        with pytest.raises(error) as info:
            call()
        assert isinstance(info.value, (ValueError, TypeError))
        for w in words:
            assert w in str(info.value), (w, str(info.value))

    return check
