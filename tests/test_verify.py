"""Tests of lpemu._verify: the table-based reference and the exhaustive float32 sweep.

The default run checks windows of float32 bit patterns where rounding is delicate (around 1.0,
the subnormal range, the overflow threshold, the largest float32, +-0, Inf and NaN payloads);
the full 2^32 sweep is marked slow. A deliberately corrupted ``encode`` shows that mismatches
are reported.
"""

from __future__ import annotations

import doctest
import json

import jax.numpy as jnp
import numpy as np
import pytest

import lpemu
import lpemu._verify as V
from lpemu import reference
from lpemu._formats import FixedFormat
from lpemu.errors import InvalidArgumentError, InvalidFormatError


def bits_of(x: float) -> int:
    return int(np.array(x, np.float32).view(np.uint32))


def around(x: float, half: int = 1 << 12, negative: bool = False) -> tuple[int, int]:
    """The bit-pattern window of 2*half float32 numbers centred on x (on -x when negative)."""
    b = bits_of(x) | (0x80000000 if negative else 0)
    return max(b - half, 0), min(b + half, 1 << 32)


# (format, rounding, overflow, window): readable ids, every window small.
WINDOWS = [
    ("e4m3", "nearest_even", None, around(1.0)),
    ("e4m3", "nearest_even", None, around(1.0, negative=True)),
    ("e4m3", "nearest_away", None, around(2.0**-10)),  # tie between 0 and the smallest subnormal
    ("e4m3", "odd", None, around(2.0**-6 - 2.0**-10)),  # last subnormal / first normal
    ("e4m3", "nearest_even", None, around(464.0)),  # overflow threshold: tie to 448
    ("e4m3", "up", None, around(448.0, negative=True)),
    ("e4m3", "nearest_even", "saturate", around(3.4e38)),  # largest float32 and +Inf, NaNs
    ("e4m3", "toward_zero", None, (0x7F7FF000, 0x7F801000)),
    ("e4m3", "nearest_even", None, (0x7FFFF000, 0x80001000)),  # +NaN payloads, -0, tiny negatives
    ("e4m3", "down", None, (0, 1 << 13)),  # +0 and float32 subnormals
    ("e5m2", "up", "saturate", around(57344.0 + 4096.0)),
    ("e5m2", "nearest_even", "propagate", (0xFF7FF000, 0xFF801000)),  # -FLT_MAX, -Inf, -NaN
    ("e4m3fnuz", "nearest_even", None, (0x7FFFF000, 0x80001000)),  # no -0
    ("e2m1", "toward_zero", None, around(5.0)),
    ("e2m1", "nearest_even", None, around(0.25, negative=True)),  # -0 exists, tie to -0
    ("e8m0", "nearest_even", None, around(1.5)),  # man_bits = 0: ties go up
    ("e8m0", "down", None, (0, 1 << 13)),  # 0 and values below 2^-127
    ("e8m0", "nearest_even", None, around(1.0, negative=True)),  # negative: NaN
    ("binary8p1se", "nearest_even", None, around(1.5)),
    ("binary8p3uf", "up", "propagate", around(2.0**15 * 1.75)),
    ("int8", "nearest_away", None, around(127.5)),
    ("int8", "nearest_even", "wrap", around(200.0, half=1 << 11)),
    ("bf16", "down", None, around(1.0)),
    (FixedFormat(3, 4, name="q3.4"), "odd", None, around(-8.0 - 1 / 32)),
]


def window_id(w) -> str:
    f, mode, ov, (lo, hi) = w
    name = f if isinstance(f, str) else f.name
    return f"{name}-{mode}-{ov or 'default'}-{lo:08x}"


@pytest.mark.parametrize("w", WINDOWS, ids=window_id)
def test_window_has_no_mismatch(w):
    fmt, mode, ov, (lo, hi) = w
    r = V.verify(fmt, mode, ov, start=lo, stop=hi, progress=False, chunk=1 << 12)
    assert r.ok, r.counterexamples
    assert [b.checked for b in r.backends.values()] == [hi - lo, hi - lo]


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "e2m1", "e8m0", "binary8p1ue", "int8", "uint8"])
@pytest.mark.parametrize("mode", ["nearest_even", "up", "odd"])
def test_table_reference_matches_exact_oracle(fmt, mode):
    """The table reference and lpemu.reference (exact, scalar) agree at every value, every
    midpoint and their float32 neighbours, of both signs, plus the specials."""
    ref = V.TableReference(fmt, mode)
    mags = np.unique(np.abs(ref.pos.mags))
    crit = np.concatenate([mags, (mags[1:] + mags[:-1]) / 2])
    crit = crit[crit < 3e38].astype(np.float32).view(np.uint32).astype(np.int64)
    b = np.concatenate([crit - 1, crit, crit + 1])
    b = np.concatenate([b, b + (1 << 31), [0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001, 0x80000000]])
    x = np.clip(b, 0, (1 << 32) - 1).astype(np.uint32).view(np.float32)
    want = [reference.round_to_code(float(v), lpemu.format(fmt), mode, ref.overflow) for v in x]
    assert ref.codes(x).tolist() == want


@pytest.mark.parametrize("fmt", ["e4m3", "e8m0", "int8", "bf16"])
def test_segments_equal_elementwise(fmt):
    """The run-length evaluation used by verify equals evaluating every element."""
    ref = V.TableReference(fmt, "nearest_even")
    rng = np.random.default_rng(7)
    for lo in [0, 0x3F7FF000, 0x7F7FF000, 0x7FFFF000, 0xBF7FF000, *rng.integers(0, 1 << 32, 4)]:
        lo = int(min(lo, (1 << 32) - 8192))
        np.testing.assert_array_equal(V._expected_codes(ref, lo, lo + 8192),
                                      V._expected_codes(ref, lo, lo + 8192, compressed=False))


def test_man_bits_zero_ties_follow_k_not_code_parity():
    # E8M0: 1.5 lies halfway between 2^0 (code 127, odd) and 2^1 (code 128, even); k = 1 is odd,
    # so nearest_even goes up (docs/semantics.md), which a code-parity rule would get wrong.
    ref = V.TableReference("e8m0", "nearest_even")
    assert ref.codes(np.array([1.5, 3.0, 2.0**-128], np.float32)).tolist() == [128, 129, 0]


def test_corrupted_encode_is_reported(monkeypatch):
    real = V.encode
    flip = bits_of(1.25)

    def corrupt(x, *args, **kwargs):
        codes = real(x, *args, **kwargs)
        if isinstance(x, np.ndarray):
            codes = codes.copy()
            codes[x.view(np.uint32) == flip] ^= 1
        else:
            codes = jnp.where(x == jnp.float32(1.25), codes ^ 2, codes)
        return codes

    monkeypatch.setattr(V, "encode", corrupt)
    lo, hi = around(1.25)
    r = V.verify("e4m3", start=lo, stop=hi, progress=False)
    assert not r.ok
    assert {b: x.mismatches for b, x in r.backends.items()} == {"numba": 1, "jax": 1}
    ce = {c.backend: c for c in r.counterexamples}
    assert ce["numba"].input_bits == flip and ce["numba"].input == 1.25
    assert ce["numba"].expected == 0x3A and ce["numba"].got == 0x3B
    assert ce["jax"].got == 0x38
    d = r.to_dict()
    assert json.loads(json.dumps(d))["mismatches"] == 2 and d["ok"] is False


def test_counterexamples_are_capped(monkeypatch):
    monkeypatch.setattr(V, "encode", lambda x, *a, **k: np.zeros(x.shape, np.uint8))
    r = V.verify("e4m3", start=bits_of(1.0), stop=bits_of(1.0) + 1000, backends=("numba",),
                 progress=False, max_counterexamples=5)
    assert r.backends["numba"].mismatches == 1000
    assert [c.input_bits - bits_of(1.0) for c in r.counterexamples] == [0, 1, 2, 3, 4]


def test_chunks_and_progress_cover_the_range(capsys):
    r = V.verify("e2m1", "toward_zero", start=100, stop=1100, chunk=300, backends=["numba"], progress=True)
    assert r.ok and r.backends["numba"].checked == 1000 and list(r.backends) == ["numba"]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(fmt="e4m3", rounding="stochastic"), InvalidArgumentError, "deterministic"),
    (dict(fmt="fp32"), InvalidFormatError, "at most 16 bits"),
    (dict(fmt="e4m3", overflow="wrap"), InvalidArgumentError, "wrap"),
    (dict(fmt="e2m1", overflow="infinity"), InvalidArgumentError, "no Inf or NaN"),
    (dict(fmt="e4m3", backends=("cuda",)), InvalidArgumentError, "backends"),
    (dict(fmt="e4m3", start=10, stop=10), InvalidArgumentError, "stop"),
    (dict(fmt="e4m3", stop=(1 << 32) + 1), InvalidArgumentError, "stop"),
    (dict(fmt="e4m3", chunk=0), InvalidArgumentError, "chunk"),
    (dict(fmt="nope"), InvalidFormatError, "unknown format"),
], ids=["stochastic", "too-wide", "wrap-float", "no-specials", "backend", "empty", "past-end", "chunk", "name"])
def test_bad_arguments(kwargs, error, match):
    fmt = kwargs.pop("fmt")
    with pytest.raises(error, match=match):
        V.verify(fmt, progress=False, **kwargs)


def test_doctests():
    import lpemu._display

    for mod in (V, lpemu._display):
        assert doctest.testmod(mod, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.mark.slow
def test_full_sweep_e4m3():
    r = V.verify("e4m3", progress=False)
    assert r.ok, r.counterexamples
    assert all(b.checked == 1 << 32 for b in r.backends.values())
