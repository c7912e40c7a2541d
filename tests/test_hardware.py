"""Tests of lpemu.hardware: x86 units against lpemu's reproduction of them, bit for bit.

Every edge case below is a measured hardware result (Sapphire Rapids-class CPU); each runs through
``impl="lpemu"`` everywhere and through ``impl="hardware"`` where the unit is available (skipped
with the reason otherwise). Hypothesis and seeded random inputs compare the two paths; the
exhaustive 2^32 sweeps are marked slow (``lpemu verify --against hw:UNIT`` runs them too).
"""

from __future__ import annotations

import doctest
import json

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lpemu import hardware as H
from lpemu.cli import main
from lpemu.errors import InvalidArgumentError
from lpemu.kernels import hw

AVAILABLE = H.available()
MODES = ["nearest_even", "down", "up", "toward_zero"]
BF16 = np.dtype(ml_dtypes.bfloat16)


def needs(unit: str):
    """Skip unless ``unit`` runs here, saying why."""
    return pytest.mark.skipif(not AVAILABLE[unit], reason=f"{unit} unavailable: {H._build_reason(unit)}")


def impls(unit: str) -> list:
    """Both implementations; the hardware one only where the unit is available."""
    return [pytest.param("lpemu", id="lpemu"), pytest.param("hardware", id="hardware", marks=needs(unit))]


def f32(*bits: int) -> np.ndarray:
    return np.array(bits, np.uint32).view(np.float32)


def f16(*bits: int) -> np.ndarray:
    return np.array(bits, np.uint16).view(np.float16)


def bf16(*bits: int) -> np.ndarray:
    return np.array(bits, np.uint16).view(BF16)


def bits(x: np.ndarray) -> list[int]:
    return np.ascontiguousarray(x).view(f"u{x.dtype.itemsize}").reshape(-1).tolist()


# ---- availability and the build ----------------------------------------------------------------
def test_available_lists_every_unit():
    assert set(AVAILABLE) == set(H.UNITS) == set(hw.UNITS)
    assert all(isinstance(v, bool) for v in AVAILABLE.values())
    assert {u for u, ok in AVAILABLE.items() if ok} <= hw.cpu_units()


def test_units_presets_name_their_departures():
    assert (H.AVX512BF16.daz, H.AVX512BF16.ftz, H.AVX512BF16.nan) == (True, True, "x86")
    for u in (H.F16C, H.AVX512F, H.AVX512FP16):
        assert (u.daz, u.ftz, u.nan) == (False, False, "x86")
    assert H.AVX512VNNI.nan is None and H.AVXVNNI.ops == ("dpbusd", "dpbusds")


@pytest.mark.skipif(not hw.cpu_units(), reason="no x86-64 CPU or no C compiler")
def test_build_is_cached_by_source_and_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = hw._build("f16c", "f16c.c", ("-mf16c", "-mavx", "-DHW_WIDTH=256"))
    assert first.parent == tmp_path / "lpemu" / "hw" and first.exists()
    stamp = first.stat().st_mtime_ns
    assert hw._build("f16c", "f16c.c", ("-mf16c", "-mavx", "-DHW_WIDTH=256")) == first
    assert first.stat().st_mtime_ns == stamp  # not rebuilt
    other = hw._build("f16c", "f16c.c", ("-mf16c", "-mavx", "-DHW_WIDTH=256", "-DUNUSED=1"))
    assert other != first and other.exists()


@pytest.mark.skipif(not hw.cpu_units(), reason="no x86-64 CPU or no C compiler")
def test_build_error_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(hw.BuildError, match="-mno-such-flag"):
        hw._build("f16c", "f16c.c", ("-mno-such-flag",))


@pytest.mark.skipif(not (AVAILABLE["f16c"] and AVAILABLE["avx512fp16"]), reason="needs f16c and avx512fp16")
def test_kernels_ignore_the_callers_mxcsr():
    # With DAZ set, vcvtps2ph would read the float32 subnormal 2^-127 as 0 (measured); the kernels
    # run with the default MXCSR and restore the caller's afterwards.
    x = f32(0x00400000)
    old = hw.swap_mxcsr(0x9FC0 | 0x4000)  # DAZ, FTZ, round up
    try:
        got = [bits(H.cvtps2ph(x, "up", unit=u)) for u in ("f16c", "avx512f", "avx512fp16")]
        added = bits(H.fp16_add(f16(0x0001), f16(0x0001), "toward_zero"))
        assert hw.swap_mxcsr(0x9FC0 | 0x4000) == 0x9FC0 | 0x4000
    finally:
        hw.swap_mxcsr(old)
    assert got == [[0x0001]] * 3 and added == [0x0002]


def test_missing_unit_raises_and_lpemu_still_runs(monkeypatch):
    monkeypatch.setattr(H, "_build_reason", lambda unit: "this CPU lacks it (test)")
    with pytest.raises(H.HardwareUnavailableError, match="fp16_add needs the avx512fp16 unit.*impl='lpemu'"):
        H.fp16_add(f16(0x3C00), f16(0x3C00))
    assert isinstance(H.HardwareUnavailableError("x"), RuntimeError)
    assert bits(H.fp16_add(f16(0x3C00), f16(0x3C00), impl="lpemu")) == [0x4000]
    assert not any(H.available().values())


def test_cli_reports_a_missing_unit_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(H, "_build_reason", lambda unit: "this CPU lacks it (test)")
    assert main(["verify", "--against", "hw:avx512bf16"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "avx512bf16 unit, which is unavailable" in err


# ---- argument checks: one table ------------------------------------------------------------------
BAD_ARGUMENTS = [
    (lambda: H.cvtps2ph(np.zeros(3)), "x must be a float32 array, got float64"),
    (lambda: H.cvtps2ph(np.zeros(3, np.float32), "odd"), "rounding must be one of nearest_even, down, up, toward_zero"),
    (lambda: H.cvtps2ph(np.zeros(3, np.float32), "bogus"), "rounding must be one of"),
    (lambda: H.cvtps2ph(np.zeros(3, np.float32), unit="sse"), "unit must be one of f16c, avx512f, avx512fp16"),
    (lambda: H.cvtps2ph(np.zeros(3, np.float32), impl="gpu"), "impl must be one of hardware, lpemu"),
    (lambda: H.cvtph2ps(np.zeros(3, np.uint16)), "x must be a float16 array, got uint16"),
    (lambda: H.fp16_add(f16(0, 0), f16(0)), r"one shape, got x \(2,\), y \(1,\)"),
    (lambda: H.fp16_fma(f16(0), f16(0), np.zeros(1, np.float32)), "z must be a float16 array"),
    (lambda: H.fp16_sqrt(f16(0), "nearest_away"), "rounding must be one of"),
    (lambda: H.cvtneps2bf16([1.0], impl=None), "impl must be one of"),
    (lambda: H.dpbf16ps(np.zeros(2, np.float32), bf16(0, 0, 0), bf16(0, 0, 0)), r"shape \(\.\.\., 2 \* n\)"),
    (lambda: H.dpbf16ps(np.zeros(1, np.float32), np.zeros(2, np.float32), bf16(0, 0)), "a must be a bfloat16 array"),
    (lambda: H.dpbf16ps(np.float32(0), bf16(0, 0), bf16(0, 0)), r"acc of shape \(\.\.\., n\)"),
    (lambda: H.dpbusd(np.zeros(1, np.int64), np.zeros(4, np.uint8), np.zeros(4, np.int8)), "acc must be a int32"),
    (lambda: H.dpbusd(np.zeros(1, np.int32), np.zeros(4, np.int8), np.zeros(4, np.int8)), "a must be a uint8"),
    (lambda: H.dpbusds(np.zeros(1, np.int32), np.zeros(4, np.uint8), np.zeros(3, np.int8)), "one shape"),
    (lambda: H.dpbusd(np.zeros(1, np.int32), [300] * 4, np.zeros(4, np.int8)), "a must be convertible to a uint8"),
    (lambda: H.dpbusd(np.zeros(1, np.int32), np.zeros(4, np.uint8), np.zeros(4, np.int8), unit="vnni"),
     "unit must be one of avx512vnni, avxvnni"),
    (lambda: H.flush_subnormals(np.zeros(2, np.int32)), "x must be a float32 or float64 array"),
    (lambda: H.verify("sse2"), "unit must be one of f16c"),
    (lambda: H.verify("f16c", ops=["fp16_add"]), "op must be one of cvtps2ph, cvtph2ps"),
    (lambda: H.verify("f16c", samples=0), r"samples must be an integer in \[1,"),
    (lambda: H.verify("f16c", start=10, stop=10), r"stop must be an integer in \[11,"),
]


@pytest.mark.parametrize("call, message", BAD_ARGUMENTS, ids=[m[:40] for _, m in BAD_ARGUMENTS])
def test_bad_arguments_raise_naming_the_argument(call, message):
    with pytest.raises(InvalidArgumentError, match=message):
        call()


# ---- measured edge cases ---------------------------------------------------------------------------
# (float32 bits, rounding, float16 bits), the same on F16C, AVX512F and AVX512-FP16 (vcvtps2phx).
CVTPS2PH_CASES = [
    (0x3F801000, "nearest_even", 0x3C00), (0x3F801000, "up", 0x3C01),  # 1 + 2^-11: a tie
    (0x3F803000, "nearest_even", 0x3C02), (0x3F803000, "toward_zero", 0x3C01),
    (0x33000000, "nearest_even", 0x0000), (0x33000001, "nearest_even", 0x0001),  # half the smallest subnormal
    (0x33000000, "up", 0x0001), (0x387FE000, "nearest_even", 0x0400),  # a tie: up to the smallest normal
    (0x00000001, "up", 0x0001), (0x00000001, "down", 0x0000), (0x80000001, "down", 0x8001),  # float32 subnormals
    (0x477FF000, "nearest_even", 0x7C00), (0x477FF000, "toward_zero", 0x7BFF), (0x477FF000, "down", 0x7BFF),
    (0xC77FF000, "up", 0xFBFF), (0xC77FF000, "down", 0xFC00), (0xFF800000, "toward_zero", 0xFC00),
    (0x80000000, "up", 0x8000),
    # NaN: sign and the payload's top 9 bits kept, quiet bit set
    (0x7F800001, "nearest_even", 0x7E00), (0x7FA00000, "up", 0x7F00), (0x7F802000, "down", 0x7E01),
    (0xFFC00001, "toward_zero", 0xFE00), (0x7FFFFFFF, "nearest_even", 0x7FFF),
]


@pytest.mark.parametrize("unit", ["f16c", "avx512f", "avx512fp16"])
@pytest.mark.parametrize("impl", ["lpemu", "hardware"])
def test_cvtps2ph_edge_cases(unit, impl):
    if impl == "hardware" and not AVAILABLE[unit]:
        pytest.skip(f"{unit} unavailable: {H._build_reason(unit)}")
    x = f32(*(c[0] for c in CVTPS2PH_CASES))
    for mode in MODES:
        sel = [i for i, c in enumerate(CVTPS2PH_CASES) if c[1] == mode]
        got = bits(H.cvtps2ph(x[sel], mode, unit=unit, impl=impl))
        assert got == [CVTPS2PH_CASES[i][2] for i in sel], mode


@pytest.mark.parametrize("unit", ["f16c", "avx512f", "avx512fp16"])
@pytest.mark.parametrize("impl", ["lpemu", "hardware"])
def test_cvtph2ps_is_exact_and_keeps_payloads(unit, impl):
    if impl == "hardware" and not AVAILABLE[unit]:
        pytest.skip(f"{unit} unavailable: {H._build_reason(unit)}")
    x = f16(0x0001, 0x83FF, 0x0400, 0x7BFF, 0xFC00, 0x7C01, 0xFDFF, 0x7E00)
    assert bits(H.cvtph2ps(x, unit=unit, impl=impl)) == [
        0x33800000, 0xB87FC000, 0x38800000, 0x477FE000, 0xFF800000, 0x7FC02000, 0xFFFFE000, 0x7FC00000]


A, B, C = 0x7C01, 0xFD02, 0x7E03  # +sNaN, -sNaN, +qNaN with payloads 1, 0x102, 0x203
ONE, INF, NINF, ZERO = 0x3C00, 0x7C00, 0xFC00, 0x0000
# (op, operands, rounding, float16 result)
FP16_CASES = [
    ("add", (A, ONE), "nearest_even", 0x7E01), ("add", (ONE, B), "up", 0xFF02),  # a NaN operand, quieted
    ("add", (A, B), "nearest_even", 0x7E01), ("add", (C, A), "down", 0x7E03),  # the first NaN wins
    ("sub", (B, A), "nearest_even", 0xFF02),
    ("add", (INF, NINF), "nearest_even", 0xFE00), ("sub", (INF, INF), "up", 0xFE00),  # default NaN
    ("mul", (ZERO, INF), "nearest_even", 0xFE00), ("div", (ZERO, ZERO), "toward_zero", 0xFE00),
    ("sqrt", (0xBC00,), "nearest_even", 0xFE00), ("sqrt", (0x8001,), "up", 0xFE00),
    ("sqrt", (0x8000,), "nearest_even", 0x8000), ("sqrt", (0x4000,), "up", 0x3DA9),
    ("sub", (ONE, ONE), "nearest_even", 0x0000), ("sub", (ONE, ONE), "down", 0x8000),
    ("add", (0x0001, 0x0001), "nearest_even", 0x0002), ("add", (0x03FF, 0x0001), "nearest_even", 0x0400),  # subnormals
    ("mul", (0x0001, 0x3800), "nearest_even", 0x0000), ("mul", (0x0001, 0x3800), "up", 0x0001),
    ("mul", (0x8001, 0x3800), "down", 0x8001),
    ("add", (0x7BFF, 0x7BFF), "nearest_even", 0x7C00), ("add", (0x7BFF, 0x7BFF), "toward_zero", 0x7BFF),
    ("div", (ONE, ZERO), "toward_zero", INF), ("div", (0x8000, NINF), "nearest_even", ZERO),
    ("fma", (0x3C01, 0x3BFF, 0xBC00), "nearest_even", 0x0FFE),  # (1+2^-10)(1-2^-11) - 1 exactly (mul, sub: 0)
    ("fma", (A, C, B), "nearest_even", 0x7E01), ("fma", (ONE, C, A), "nearest_even", 0x7E03),  # x, y, z priority
    ("fma", (B, ONE, C), "up", 0xFF02), ("fma", (ZERO, INF, C), "nearest_even", 0x7E03),  # NaN over invalid
    ("fma", (INF, ONE, NINF), "nearest_even", 0xFE00),
]


@pytest.mark.parametrize("impl", impls("avx512fp16"))
@pytest.mark.parametrize("case", FP16_CASES, ids=lambda c: f"{c[0]}-{'-'.join(f'{v:04x}' for v in c[1])}-{c[2]}")
def test_fp16_edge_cases(case, impl):
    op, operands, mode, expected = case
    got = getattr(H, f"fp16_{op}")(*(f16(v) for v in operands), mode, impl=impl)
    assert bits(got) == [expected]


CVTNEPS2BF16_CASES = [
    (0x3F808000, 0x3F80), (0x3F818000, 0x3F82), (0x3F808001, 0x3F81),  # ties to even
    (0x00400000, 0x0000), (0x807FFFFF, 0x8000), (0x00800000, 0x0080),  # DAZ: subnormals read as zero
    (0x7F7FFFFF, 0x7F80), (0xFF800000, 0xFF80),
    (0x7F800001, 0x7FC0), (0xFF810000, 0xFFC1), (0x7FFFFFFF, 0x7FFF), (0x7FA00000, 0x7FE0),  # NaN payloads
]


@pytest.mark.parametrize("impl", impls("avx512bf16"))
def test_cvtneps2bf16_edge_cases(impl):
    got = H.cvtneps2bf16(f32(*(c[0] for c in CVTNEPS2BF16_CASES)), impl=impl)
    assert got.dtype == BF16 and bits(got) == [c[1] for c in CVTNEPS2BF16_CASES]


# (acc, (a0, a1), (b0, b1), result): a0 * b0 is the low pair.
DPBF16PS_CASES = [
    # the high pair first: 1 + 2^-24 ties to 1, then + 1.5 * 2^-24 gives 1 + 2^-23 (low pair first: 1 + 2^-22)
    (0x3F800000, (0x33C0, 0x3380), (0x3F80, 0x3F80), 0x3F800001),
    # two roundings: 1 + 2^-24 ties to 1 twice (one rounding of the exact sum: 1 + 2^-23)
    (0x3F800000, (0x3380, 0x3380), (0x3F80, 0x3F80), 0x3F800000),
    (0x00400000, (0x0080, 0x0000), (0x3F80, 0x0000), 0x00800000),  # acc subnormal: DAZ
    (0x00000000, (0x0040, 0x0000), (0x4480, 0x0000), 0x00000000),  # bf16 subnormal times 2^10: DAZ
    (0x00000000, (0x0D80, 0x0000), (0x3080, 0x0000), 0x00000000),  # 2^-130: FTZ
    (0x00000000, (0x8D80, 0x0000), (0x3080, 0x0000), 0x80000000),  # -2^-130: FTZ keeps the sign
    (0x00800000, (0x8080, 0x0000), (0x3380, 0x0000), 0x00000000),  # 2^-126 - 2^-150: tiny after rounding
    (0x00800000, (0x8080, 0x0000), (0x3300, 0x0000), 0x00800000),  # 2^-126 - 2^-151 rounds up: kept
    (0x00000000, (0x0080, 0x0D80), (0x3F80, 0x3080), 0x00800000),  # intermediate 2^-130 flushed
    (0x7F7FFFFF, (0xFF7F, 0x7F7F), (0x3F80, 0x3F80), 0x7F800000),  # intermediate overflow stays Inf
    (0x3F800000, (0xBF80, 0x0000), (0x3F80, 0x0000), 0x00000000),
    # NaN priority a0, b0, a1, b1, acc; invalid operations give the default NaN
    (0x7F800005, (0x7F81, 0x7F83), (0xFF82, 0xFF84), 0x7FC10000),
    (0x7F800005, (0x3F80, 0x7F83), (0xFF82, 0xFF84), 0xFFC20000),
    (0x7F800005, (0x3F80, 0x7F83), (0x3F80, 0xFF84), 0x7FC30000),
    (0x7F800005, (0x3F80, 0x3F80), (0x3F80, 0xFF84), 0xFFC40000),
    (0x7F800005, (0x3F80, 0x7F80), (0x3F80, 0x0000), 0x7FC00005),  # NaN acc beats the invalid 0 * Inf
    (0x00000000, (0x3F80, 0x7F80), (0x3F80, 0x0000), 0xFFC00000),
    (0x7F800000, (0x3F80, 0x3F80), (0x3F80, 0xFF80), 0xFFC00000),  # Inf - Inf
]


@pytest.mark.parametrize("impl", impls("avx512bf16"))
def test_dpbf16ps_edge_cases(impl):
    acc = f32(*(c[0] for c in DPBF16PS_CASES))
    a = bf16(*(v for c in DPBF16PS_CASES for v in c[1]))
    b = bf16(*(v for c in DPBF16PS_CASES for v in c[2]))
    assert bits(H.dpbf16ps(acc, a, b, impl=impl)) == [c[3] for c in DPBF16PS_CASES]
    # batch dimensions
    out = H.dpbf16ps(acc[:16].reshape(4, 4), a[:32].reshape(4, 8), b[:32].reshape(4, 8), impl=impl)
    assert out.shape == (4, 4) and bits(out) == [c[3] for c in DPBF16PS_CASES[:16]]


@pytest.mark.parametrize("unit", ["avx512vnni", "avxvnni"])
@pytest.mark.parametrize("impl", ["lpemu", "hardware"])
def test_dpbusd_wraps_and_dpbusds_saturates(unit, impl):
    if impl == "hardware" and not AVAILABLE[unit]:
        pytest.skip(f"{unit} unavailable: {H._build_reason(unit)}")
    acc = np.array([2**31 - 100, -(2**31) + 10, 5, 0], np.int32)
    a = np.array([255] * 4 + [255] * 4 + [1, 2, 3, 4] + [255, 0, 0, 0], np.uint8)
    b = np.array([127] * 4 + [-128] * 4 + [-1, 1, -1, 1] + [-128, 0, 0, 0], np.int8)
    assert H.dpbusd(acc, a, b, unit=unit, impl=impl).tolist() == [-2147354208, 2147353098, 7, -32640]
    assert H.dpbusds(acc, a, b, unit=unit, impl=impl).tolist() == [2**31 - 1, -(2**31), 7, -32640]


def test_flush_subnormals_keeps_signs_and_specials():
    x = f32(0x00000001, 0x807FFFFF, 0x00800000, 0x7F800000, 0x7FC00001)
    assert bits(H.flush_subnormals(x)) == [0, 0x80000000, 0x00800000, 0x7F800000, 0x7FC00001]
    assert H.flush_subnormals(np.array([2.0**-20, -(2.0**-15)]), "fp16").tolist() == [0.0, -0.0]


# ---- hardware against lpemu: hypothesis and seeded random inputs ---------------------------------------
def codes(dtype, bits_: int, n: int | None = None):
    shape = st.integers(1, 70) if n is None else st.just(n)
    return hnp.arrays(np.dtype(f"u{bits_ // 8}"), shape, elements=st.integers(0, 2**bits_ - 1)).map(
        lambda c: c.view(dtype))


@needs("f16c")
@given(x=codes(np.float32, 32), mode=st.sampled_from(MODES), unit=st.sampled_from(["f16c", "avx512f", "avx512fp16"]))
def test_cvtps2ph_hypothesis(x, mode, unit):
    if not AVAILABLE[unit]:
        return
    assert bits(H.cvtps2ph(x, mode, unit=unit)) == bits(H.cvtps2ph(x, mode, unit=unit, impl="lpemu"))


@needs("avx512fp16")
@given(data=st.data(), op=st.sampled_from(["add", "sub", "mul", "div", "fma", "sqrt"]), mode=st.sampled_from(MODES))
def test_fp16_arith_hypothesis(data, op, mode):
    n = data.draw(st.integers(1, 70))
    operands = [data.draw(codes(np.float16, 16, n)) for _ in range(H._FP16_ARITH[op][2])]
    f = getattr(H, f"fp16_{op}")
    assert bits(f(*operands, mode)) == bits(f(*operands, mode, impl="lpemu"))


@needs("avx512bf16")
@given(data=st.data())
def test_bf16_hypothesis(data):
    n = data.draw(st.integers(1, 40))
    x = data.draw(codes(np.float32, 32, n))
    assert bits(H.cvtneps2bf16(x)) == bits(H.cvtneps2bf16(x, impl="lpemu"))
    a, b = (data.draw(codes(BF16, 16, 2 * n)) for _ in range(2))
    assert bits(H.dpbf16ps(x, a, b)) == bits(H.dpbf16ps(x, a, b, impl="lpemu"))


@needs("avx512vnni")
@given(data=st.data(), saturate=st.booleans())
def test_vnni_hypothesis(data, saturate):
    n = data.draw(st.integers(1, 40))
    acc = data.draw(hnp.arrays(np.int32, n))
    a = data.draw(hnp.arrays(np.uint8, 4 * n))
    b = data.draw(hnp.arrays(np.int8, 4 * n))
    f = H.dpbusds if saturate else H.dpbusd
    assert f(acc, a, b).tolist() == f(acc, a, b, impl="lpemu").tolist()


# (unit, ops, start, stop): windows of the 2^32 domains where rounding is delicate.
VERIFY_WINDOWS = [
    ("f16c", None, 0x33000000 - (1 << 14), 0x33000000 + (1 << 14)),  # around half the smallest subnormal
    ("avx512f", None, 0x477FF000 - (1 << 14), 0x477FF000 + (1 << 14)),  # the overflow threshold
    ("avx512fp16", ["cvtps2ph", "cvtph2ps", "fp16_sqrt"], 0x7F800000 - (1 << 14), 0x7F800000 + (1 << 14)),  # Inf, NaNs
    ("avx512fp16", ["fp16_add", "fp16_mul", "fp16_div", "fp16_fma"], 0, 1),
    ("avx512bf16", None, 0x00800000 - (1 << 14), 0x00800000 + (1 << 14)),  # the subnormal / normal boundary
    ("avx512vnni", None, 0, 1),
    ("avxvnni", None, 0, 1),
]


@pytest.mark.parametrize("unit, ops, start, stop", [pytest.param(*w, marks=needs(w[0])) for w in VERIFY_WINDOWS],
                         ids=[f"{w[0]}-{w[2]:08x}" for w in VERIFY_WINDOWS])
def test_verify_windows_and_samples_agree(unit, ops, start, stop):
    # chunks below 2^14 elements run lpemu's serial loops, compiled once for the whole suite
    r = H.verify(unit, ops, samples=1 << 13, start=start, stop=stop, seed=1, chunk=1 << 13)
    assert r.ok, r.counterexamples
    assert all(c.checked > 0 for c in r.checks)
    assert {c.op for c in r.checks} == set(ops or H.UNITS[unit].ops)


@needs("avx512fp16")
def test_verify_enumerates_pairs_when_exhaustive():
    r = H.verify("avx512fp16", "fp16_mul", "up", exhaustive=True, start=0x3C000000, stop=0x3C010000, chunk=1 << 13)
    (check,) = r.checks
    assert r.ok and check.checked == 1 << 16 and check.inputs == "float16 operand pairs 0x3c000000..0x3c00ffff"


@needs("f16c")
def test_verify_reports_counterexamples(monkeypatch):
    # Without the x86 NaN rule lpemu returns canonical NaNs: every non-canonical NaN code differs.
    monkeypatch.setattr(H, "_x86_nans", lambda result, fmt, operands: result)
    r = H.verify("f16c", ["cvtph2ps"], max_counterexamples=3, chunk=1 << 13)
    assert not r.ok and r.mismatches == r.checks[0].mismatches == 2 * 1022
    assert [(m.inputs, m.expected, m.got) for m in r.counterexamples] == [
        (["0x7c01"], "0x7fc00000", "0x7fc02000"), (["0x7c02"], "0x7fc00000", "0x7fc04000"),
        (["0x7c03"], "0x7fc00000", "0x7fc06000")]
    assert json.loads(json.dumps(r.to_dict()))["mismatches"] == 2044


# ---- CLI -------------------------------------------------------------------------------------------------
@needs("f16c")
def test_cli_verify_against_hw_json(capsys):
    rc = main(["verify", "--against", "hw:f16c", "--start", "0x3f800000", "--stop", "0x3f802000",
               "--op", "cvtps2ph", "--rounding", "up", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    data = json.loads(out)
    assert data["ok"] and data["unit"] == "f16c" and data["counterexamples"] == []
    assert [(c["op"], c["rounding"], c["checked"], c["inputs"]) for c in data["checks"]] == [
        ("cvtps2ph", "up", 1 << 13, "float32 bit patterns 0x3f800000..0x3f801fff")]


@needs("f16c")
def test_cli_verify_against_hw_table_and_mismatch_status(capsys, monkeypatch):
    monkeypatch.setattr(H, "_x86_nans", lambda result, fmt, operands: result)
    rc = main(["verify", "--against", "hw:f16c", "--op", "cvtph2ps"])
    out, _ = capsys.readouterr()
    assert rc == 1 and "MISMATCH" in out and "2044" in out and "0x7fc02000" in out


@pytest.mark.parametrize("argv, message", [
    (["verify"], "a FORMAT is required"),
    (["verify", "e4m3", "--against", "hw:f16c"], "takes no FORMAT"),
    (["verify", "--against", "hw:z80"], "invalid choice"),
])
def test_cli_verify_usage_errors(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


# ---- docstrings --------------------------------------------------------------------------------------------
def test_docstring_examples():
    result = doctest.testmod(H, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 14


# ---- exhaustive (slow) ---------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("unit", [pytest.param(u, marks=needs(u))
                                  for u in ("f16c", "avx512f", "avx512fp16", "avx512bf16")])
def test_conversions_exhaustive(unit):
    ops = [op for op in H.UNITS[unit].ops if op.startswith("cvt")]
    r = H.verify(unit, ops)
    assert r.ok, r.counterexamples
    assert all(c.exhaustive for c in r.checks)


@pytest.mark.slow
@needs("avx512fp16")
@pytest.mark.parametrize("op", ["fp16_add", "fp16_sub", "fp16_mul", "fp16_div"])
def test_fp16_binary_exhaustive_nearest_even(op):
    r = H.verify("avx512fp16", [op], ["nearest_even"], exhaustive=True)
    assert r.ok and r.checks[0].checked == 1 << 32
