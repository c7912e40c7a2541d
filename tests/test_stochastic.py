"""Stochastic rounding: reproducible from the seed, identical in both backends, unbiased."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import lpemu
from lpemu import reference


def test_same_seed_same_bits_different_seed_different_bits(rng):
    x = rng.standard_normal(4096).astype(np.float32)
    a = lpemu.encode(x, "e4m3", "stochastic", seed=1)
    np.testing.assert_array_equal(a, lpemu.encode(x, "e4m3", "stochastic", seed=1))
    np.testing.assert_array_equal(a, np.asarray(lpemu.encode(jnp.asarray(x), "e4m3", "stochastic", seed=1)))
    b = lpemu.encode(x, "e4m3", "stochastic", seed=2)
    assert 0.05 < (a != b).mean() < 0.6


def test_random_bits_match_the_reference_hash():
    # element i of a call uses reference.random_bits(i, seed, n): check through the rounding of
    # values exactly 1/2^n above a code, which round up iff r >= 2^n - 1 (variant A)
    n = 4
    x = np.full(256, 1.0 + 2.0**-3 * 2.0**-n, np.float32)  # e4m3: ulp(1) = 2^-3; f = 2^-n
    got = lpemu.quantize(x, "e4m3", "stochastic", sr_bits=n, seed=99)
    r = np.array([reference.random_bits(i, 99, n) for i in range(x.size)])
    np.testing.assert_array_equal(got > 1.0, r == 2**n - 1)


@pytest.mark.parametrize("mode", ["stochastic", "stochastic_b", "stochastic_c"])
def test_mean_converges_to_the_input(mode):
    """E[SR(x)] = x up to the n-bit truncation of the fraction. Each element draws its own bits,
    so 20000 copies of x are 20000 independent roundings (and 50 seeds of 400 copies likewise).
    The bound is 6 standard errors of the mean plus that bias: with fixed seeds it cannot flake."""
    x = np.array([1.0 + 0.3 * 0.125, -3.1, 0.0371, 200.5], np.float32)
    ulp = np.array([0.125, 0.25, 2**-8, 16.0])
    reps = 20000
    samples = lpemu.quantize(np.tile(x, reps), "e4m3", mode, seed=7).reshape(reps, -1).astype(np.float64)
    per_seed = np.stack([lpemu.quantize(np.tile(x, 400), "e4m3", mode, seed=s) for s in range(50)])
    for q in (samples, per_seed.reshape(-1, x.size).astype(np.float64)):
        mean, std = q.mean(axis=0), q.std(axis=0)
        bound = 6 * std / np.sqrt(q.shape[0]) + ulp * 2.0**-30 + 1e-12
        assert (np.abs(mean - x) <= bound).all(), (mean, x, bound)
        assert (std > 0).all()  # it really is random


def test_sr_bits_limits_the_resolution():
    # with n = 1 random bit, variant A can only see whether f >= 1/2: f = 0.3 never rounds up
    x = np.full(512, 1.0 + 0.3 * 0.125, np.float32)
    assert (lpemu.quantize(x, "e4m3", "stochastic", sr_bits=1, seed=5) == 1.0).all()
    assert (lpemu.quantize(x, "e4m3", "stochastic", sr_bits=8, seed=5) > 1.0).any()
