"""Tensor cores: ``tc_matmul`` (Numba and JAX kernels) and the oracle ``tc_dot``, bit for bit.

* every case of the real-GPU validation data (shared/data/tensor-core-validation);
* the vectors of shared/specs/tensor-cores.md, and edge cases measured on a real H100;
* Numba == JAX == reference on seeded random inputs of every preset's arithmetic (and a few
  custom models), and on hypothesis-drawn codes;
* bad arguments, one table; JAX under jit and vmap; shapes (1-D, K = 0, empty, broadcast c).

Results are compared as float32 bit patterns (NaNs included: tensor cores return 0x7FFFFFFF).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lpemu
from lpemu._tensor_cores import TENSOR_CORES, TensorCore, tc_matmul, tensor_core
from lpemu.errors import InvalidArgumentError
from lpemu.formats import BF16, E3M4, E4M3, E5M2, FP16, FP64, INT8
from lpemu.reference._tensor_core import tc_dot

#: The real-GPU data: $LPEMU_TC_DATA, or ../shared/data/tensor-core-validation beside the repository.
DATA = Path(os.environ.get("LPEMU_TC_DATA")
            or Path(__file__).resolve().parents[2] / "shared" / "data" / "tensor-core-validation")
#: The reference runs on every REF_STRIDE-th line of each validation file (lines 0, 10, 20, ...):
#: all 5000 lines of the 14 files take about 15 s in pure Python.
REF_STRIDE = 10
FLT_MAX = float(np.finfo(np.float32).max)
INF = math.inf


def _bits(x) -> np.ndarray:
    return np.asarray(x, np.float32).view(np.uint32)


def _ref(model: TensorCore, a, b, c) -> np.ndarray:
    """The oracle on every output of ``a @ b + c`` (2-D), as float32."""
    a, b, c = np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(c, np.float64)
    out = np.empty((a.shape[0], b.shape[1]), np.float32)
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = tc_dot(list(a[i]), list(b[:, j]), float(c[i, j]), model)
    return out


def _all_backends(model: TensorCore, a, b, c) -> dict[str, np.ndarray]:
    """Bits of ``a @ b + c`` from the Numba kernel, the JAX kernel and the reference."""
    a, b, c = (np.asarray(x, np.float32) for x in (a, b, c))
    return {"numba": _bits(tc_matmul(a, b, c, model=model)),
            "jax": _bits(tc_matmul(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c), model=model)),
            "reference": _bits(_ref(model, a, b, c))}


# ---- real-GPU validation data -------------------------------------------------------------

FOLDERS = sorted(p for p in DATA.glob("*/*") if p.is_dir()) if DATA.is_dir() else []


def _read_hex(path: Path) -> np.ndarray:
    """Lines of whitespace-separated 8-digit hex fp32 bit patterns, as float32 (lines, K)."""
    words = np.loadtxt(path, dtype="U8", ndmin=2)
    codes = words.view(np.uint32).reshape(*words.shape, 8).astype(np.int64)  # UCS-4 code points
    digits = np.where(codes >= ord("a"), codes - 87, np.where(codes >= ord("A"), codes - 55, codes - 48))
    return (digits << np.arange(28, -1, -4)).sum(axis=-1).astype(np.uint32).view(np.float32)


def _read_bin(path: Path) -> np.ndarray:
    """Lines of 32-character binary fp32 bit patterns, as uint32 bits."""
    words = np.loadtxt(path, dtype="U32", ndmin=1)
    ones = words.view("U1").reshape(-1, 32) == "1"
    return np.packbits(ones, axis=1).view(">u4").astype(np.uint32).ravel()


def _numba_lines(a: np.ndarray, b: np.ndarray, c: np.ndarray, model: TensorCore, chunk: int = 64) -> np.ndarray:
    """Line i is ``a[i] . b[i] + c[i]``: diagonals of (chunk, K) @ (K, chunk) products."""
    out = np.empty(len(a), np.float32)
    for s in range(0, len(a), chunk):
        n = len(a[s:s + chunk])
        cm = np.zeros((n, n), np.float32)
        cm[np.arange(n), np.arange(n)] = c[s:s + chunk]
        out[s:s + n] = np.diagonal(tc_matmul(a[s:s + chunk], np.ascontiguousarray(b[s:s + chunk].T), cm, model=model))
    return out


@pytest.mark.parametrize("folder", FOLDERS or [None], ids=lambda p: "/".join(p.parts[-2:]) if p else "absent")
def test_validation_data(folder):
    """Every line of every file: fp32 and fp16 outputs, Numba, JAX (all lines), reference
    (every REF_STRIDE-th line)."""
    if folder is None:
        pytest.skip(f"validation data not found at {DATA}")
    gpu, fmt = folder.parts[-2:]
    a = _read_hex(folder / f"a_{gpu}_{fmt}.txt")
    b = _read_hex(folder / f"b_{gpu}_{fmt}.txt")
    c_file = _read_bin(folder / f"c_{gpu}_fp32.txt").view(np.float32)
    assert a.shape == b.shape and a.shape[0] == c_file.shape[0] == 5000
    checked = 0
    for out in ("fp32", "fp16"):
        path = folder / f"d_{gpu}_{out}.txt"
        if not path.exists():
            continue
        model = tensor_core(gpu, fmt.lower(), out)
        # README: H100 FP8 ran with c = 0 -- true of the fp32 files; the fp16 files reproduce
        # only with the file's c (rounded to fp16, which tc_matmul does).
        c = np.zeros_like(c_file) if fmt in ("E4M3", "E5M2") and out == "fp32" else c_file
        want = _read_bin(path)
        got = {"numba": _bits(_numba_lines(a, b, c, model))}
        lines = jax.vmap(lambda x, y, z: tc_matmul(x, y, z, model=model))
        got["jax"] = _bits(lines(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c)))
        for name, bits in got.items():
            bad = np.nonzero(bits != want)[0]
            assert bad.size == 0, (f"{name} {gpu}/{fmt} -> {out}: {bad.size} of 5000 lines differ, "
                                   f"first line {bad[0]}: {bits[bad[0]]:#010x} != {want[bad[0]]:#010x}")
        rows = range(0, len(a), REF_STRIDE)
        ref = _bits([tc_dot([float(x) for x in a[i]], [float(x) for x in b[i]], float(c[i]), model) for i in rows])
        np.testing.assert_array_equal(ref, want[::REF_STRIDE], err_msg=f"reference {gpu}/{fmt} -> {out}")
        checked += 1
    assert checked


# ---- exact vectors ----------------------------------------------------------------------------

T = 2.0**-12
#: shared/specs/tensor-cores.md, "Vectors": (gpu, input, a, b, c, result); fp32 output.
SPEC_VECTORS = [
    ("V100", "fp16", [1, T, T, T], [1, T, T, T], 0.0, 1.0),
    ("A100", "fp16", [1, T, T, T], [1, T, T, T], 0.0, 1 + 2.0**-23),
    ("H100", "fp16", [1, T, T, T], [1, T, T, T], 0.0, 1 + 2.0**-23),
    ("V100", "fp16", [1, -T], [1, T], 0.0, 1.0),
    ("A100", "fp16", [1, -T], [1, T], 0.0, float.fromhex("0x1.fffffep-1")),
    ("H100", "e4m3", [1, 2.0**-7], [1, 2.0**-7], 0.0, 1.0),
    ("H100", "e4m3", [1, -(2.0**-7)], [1, 2.0**-7], 0.0, 1.0),
    ("H100", "e4m3", [1, 2.0**-6], [1, 2.0**-7], 0.0, 1.0001220703125),
    ("H100", "e4m3", [2.0**-9], [2.0**-9], 1.0, 1.0),
    ("H100", "e4m3", [0.5], [0.5], 1 + 2.0**-20, 1.25),
]

#: H100 FP8 through ``mma.sync`` with fp32 output (the fp32 preset is ``wgmma``).
MMA_SYNC_FP8 = TensorCore("H100 mma.sync", E4M3, 32, 2, -133, "fp32", interleave=True)
#: Measured on an H100 (wmma / mma.sync kernels): (model, a, b, c, result bits, what it shows).
H100_MEASURED = [
    (("bf16", "fp32"), [2.0**100], [2.0**100], 0.0, 0x7F800000, "overflow is Inf, not FLT_MAX"),
    (("bf16", "fp32"), [2.0**100], [-(2.0**100)], 0.0, 0xFF800000, "negative overflow"),
    (("bf16", "fp32"), [2.0**104], [1.0], FLT_MAX, 0x7F800000, "FLT_MAX + one ulp"),
    (("bf16", "fp32"), [-(2.0**104)], [1.0], -FLT_MAX, 0xFF800000, "-FLT_MAX - one ulp"),
    (("bf16", "fp32"), [1.5 * 2.0**127] * 2, [2.0, -2.0], 0.0, 0x0, "products beyond FLT_MAX cancel"),
    (("bf16", "fp32"), [2.0**-75], [-(2.0**-75)], 0.0, 0x0, "negative sum truncated to zero: +0"),
    (("bf16", "fp32"), [1.0, -1.0], [1.0, 1.0], 0.0, 0x0, "exact cancellation: +0"),
    (("bf16", "fp32"), [0.0], [-1.0], -0.0, 0x0, "c = -0 and -0 products: +0"),
    (("bf16", "fp32"), [INF, 1.0], [0.0, 1.0], 0.0, 0x7FFFFFFF, "Inf * 0: NVIDIA's NaN"),
    (("bf16", "fp32"), [INF], [-1.0], INF, 0x7FFFFFFF, "-Inf + Inf"),
    (("bf16", "fp32"), [INF], [1.0], 1.0, 0x7F800000, "Inf"),
    (("bf16", "fp32"), [1.75 * 2.0**-130, 1 + 2.0**-7], [2.0**100, (1 + 2.0**-7) * 2.0**-38], 0.0, 0x30E08200,
     "a subnormal input's exponent is emin"),
    (("bf16", "fp32"), [1.5 * 2.0**-70, -1.25 * 2.0**-71], [1.0078125 * 2.0**-70, 1.0078125 * 2.0**-68], 0.0,
     0x80000204, "fp32 subnormal result, truncated"),
    (("bf16", "fp32"), [2.0**-60], [2.0**-60], -(2.0**-149), 0x03800000, "subnormal c"),
    (("fp16", "fp16"), [T, 2.0**-23], [2.0**-13, 2.0**-24], 0.0, 0x0, "min_exp_limit -21: 2^-47 is cut, tie to even"),
    (("fp16", "fp16"), [T, 2.0**-22], [2.0**-13, 2.0**-23], 0.0, 0x33800000, "2^-45 is kept"),
    (("fp16", "fp16"), [T, 2.0**-22], [2.0**-13, 2.0**-24], 0.0, 0x33800000, "2^-46 is kept"),
    (("fp16", "fp16"), [2.0**-14], [-(2.0**-14)], 0.0, 0x0, "negative sum rounds to +0"),
    (("fp16", "fp16"), [256.0, 256.0], [256.0, 256.0], 0.0, 0x7F800000, "fp16 overflow"),
    (("fp16", "fp16"), [255.875, 1.0], [256.0, 16.0], 0.0, 0x7F800000, "65520 rounds to Inf"),
    (("fp16", "fp16"), [255.875], [256.0], 0.0, 0x477FE000, "65504"),
    (("fp16", "fp16"), [INF, 1.0], [0.0, 1.0], 0.0, 0x7FFFE000, "fp16 NaN 0x7FFF"),
    (("fp16", "fp32"), [2.0**-14], [-(2.0**-14)], -0.0, 0xB1800000, "small product"),
    (("fp16", "fp32"), [math.nan, 1.0], [1.0, 1.0], 0.0, 0x7FFFFFFF, "NaN input"),
    (("tf32", "fp32"), [float.fromhex(h) for h in ("-0x1.21p-2", "-0x1.3b4p+1", "0x1.c8p+3", "0x1.44p-3", "0x1.25p+1",
                                                 "-0x1.404p-3", "0", "0x1.cb8p+2")],
     [float.fromhex(h) for h in ("-0x1.738p+1", "0x1.10cp-3", "0x1.1c4p-2", "-0x1.a34p+1", "-0x1.b3cp+3",
                                 "-0x1.09p+2", "0", "0")],
     float.fromhex("-0x1.f0d13cp-3"), 0xC1D6B275, "tf32 blocks hold 4 products (8 gives another result)"),
    (("tf32", "fp32"), [float.fromhex(h) for h in ("0x1.d08p-2", "0x1.e6cp-3", "-0x1.1dcp+3", "0x1.928p-2", "0x1.a74p+0",
                                                 "-0x1.f2p-3", "-0x1.7bp-1", "0x1.d8cp-3")],
     [float.fromhex(h) for h in ("-0x1.754p+1", "-0x1.7a8p-1", "-0x1.3ecp-1", "-0x1.15p+2", "0", "-0x1.bfp+0",
                                 "0x1.a7p+0", "-0x1.97p-1")],
     float.fromhex("0x1.3d377ap-1"), 0x3FFFA114, "tf32 blocks hold 4 products"),
    (MMA_SYNC_FP8, [1.0], [1.0], 1 + 2.0**-20, 0x40000004, "mma.sync: c keeps 24 bits, added with RNE"),
    (MMA_SYNC_FP8, [1.0], [1.0], 1 + 2.0**-13, 0x40000200, "mma.sync"),
    (MMA_SYNC_FP8, [1.0], [1.0], 2.0**-20, 0x3F800008, "mma.sync"),
    (MMA_SYNC_FP8, [1.0], [-1.0], float.fromhex("0x1.00101p+0"), 0x39808000, "mma.sync"),
    (MMA_SYNC_FP8, [0.5], [0.5], 1 + 2.0**-20, 0x3FA00008, "mma.sync"),
    (MMA_SYNC_FP8, [0.0], [0.0], -1 - 2.0**-20, 0xBF800008, "mma.sync"),
    (MMA_SYNC_FP8, [0.0], [0.0], 2.0**-140, 0x00000200, "mma.sync: subnormal c"),
    (MMA_SYNC_FP8, [0.0], [0.0], 1.5 * 2.0**-139, 0x00000600, "mma.sync"),
    (MMA_SYNC_FP8, [0.0], [0.0], 1.5 * 2.0**-126, 0x00C00000, "mma.sync"),
    (MMA_SYNC_FP8, [2.0**-9], [2.0**-9], 2.0**-130, 0x36800000, "mma.sync"),
]


def _vector_case(model, a, b, c):
    return np.array([a], np.float32), np.array([b], np.float32).T.copy(), np.array([[c]], np.float32)


@pytest.mark.parametrize("gpu, inp, a, b, c, want", SPEC_VECTORS, ids=[f"{v[0]}-{v[1]}-{i}" for i, v in enumerate(SPEC_VECTORS)])
def test_spec_vectors(gpu, inp, a, b, c, want):
    model = tensor_core(gpu, inp)
    for name, bits in _all_backends(model, *_vector_case(model, a, b, c)).items():
        assert bits[0, 0] == _bits(want), f"{name}: {bits[0, 0]:#010x} != {float(want)!r}"


@pytest.mark.parametrize("spec, a, b, c, want, what", H100_MEASURED, ids=[f"{i}-{v[5]}" for i, v in enumerate(H100_MEASURED)])
def test_h100_measured(spec, a, b, c, want, what):
    model = spec if isinstance(spec, TensorCore) else tensor_core("H100", *spec)
    for name, bits in _all_backends(model, *_vector_case(model, a, b, c)).items():
        assert bits[0, 0] == want, f"{name} ({what}): {bits[0, 0]:#010x} != {want:#010x}"


# ---- Numba == JAX == reference on random inputs -----------------------------------------------

#: One model per distinct arithmetic among the presets, plus custom ones: a block length that is
#: not a multiple of 4, the extreme neab, and interleaved fp16 blocks of another format.
ARITHMETICS = list({dataclasses.replace(m, gpu="any"): key for key, m in TENSOR_CORES.items()}.items())
ARITHMETICS += [(MMA_SYNC_FP8, "mma.sync-e4m3-fp32"),
                (TensorCore("custom", BF16, 5, 6, -140), "bf16-n5-neab6"),
                (TensorCore("custom", FP16, 3, -22, -30, "fp16"), "fp16-n3-neab-22"),
                (TensorCore("custom", E3M4, 12, -4, -20, "fp16", interleave=True), "e3m4-n12-interleave")]


def _values(fmt, rng, shape, scenario: str) -> np.ndarray:
    """Values of ``fmt`` for one input scenario."""
    lo = fmt.emin - fmt.man_bits
    hi = int(math.floor(math.log2(fmt.max)))
    sign = rng.choice([-1.0, 1.0], shape)
    mant = rng.uniform(1, 2, shape)
    if scenario == "normal":
        e = rng.integers(-3, 3, shape)
    elif scenario == "spread":  # the whole exponent range: alignment shifts past every bit
        e = rng.integers(lo, hi + 1, shape)
    elif scenario == "subnormal":
        e = rng.integers(lo, fmt.emin + 2, shape)
    else:  # "cancel": equal magnitudes, a few tiny ones
        e = np.where(rng.random(shape) < 0.2, rng.integers(lo, lo + 6, shape), 0)
        mant = np.where(e == 0, 1.5, mant)
    x = np.where(rng.random(shape) < 0.1, 0.0, sign * mant * 2.0**e)
    return lpemu.quantize(np.minimum(np.abs(x), fmt.max).astype(np.float32) * np.sign(x).astype(np.float32), fmt)


def _random_case(model: TensorCore, rng, k: int, rows_per: int = 6, cols: int = 5):
    """A (rows, k), B (k, cols), C (rows, cols): one band of rows per scenario, with NaN/Inf,
    zeros and extreme addends."""
    fmt = model.in_fmt
    scenarios = ["normal", "spread", "subnormal", "cancel"]
    a = np.concatenate([_values(fmt, rng, (rows_per, k), s) for s in scenarios])
    b = np.concatenate([_values(fmt, rng, (k, cols), s) for s in scenarios[:2]], axis=1)
    b[:, 1::2] = np.where(rng.random((k, b[:, 1::2].shape[1])) < 0.5, b[:, 1::2], -a[0, :, None])  # cancellation
    c = (rng.standard_normal(a.shape[:1] + b.shape[1:]) * 2.0 ** rng.integers(-40, 40, a.shape[:1] + b.shape[1:]))
    c = c.astype(np.float32)
    c[0] = [0.0, -0.0, FLT_MAX, -(2.0**-149), 2.0**-126] * (c.shape[1] // 5) + [1.0] * (c.shape[1] % 5)
    specials = [v for v, ok in ((np.nan, fmt.has_nan), (np.inf, fmt.infinities), (-np.inf, fmt.infinities)) if ok]
    for s, v in enumerate(specials):
        a[-1 - s, s] = v
        b[s, -1 - s] = v
    c[1, 0], c[1, 1], c[2, 0] = np.inf, -np.inf, np.nan
    return a, b, c


@pytest.mark.parametrize("model", [m for m, _ in ARITHMETICS], ids=[str(k) if isinstance(k, str) else "-".join(k) for _, k in ARITHMETICS])
def test_backends_agree_random(model, rng):
    """K = 2n + 3 (zero padding of the last block), all scenarios stacked in one call."""
    a, b, c = _random_case(model, rng, 2 * model.n + 3)
    got = _all_backends(model, a, b, c)
    for name in ("numba", "jax"):
        bad = np.argwhere(got[name] != got["reference"])
        assert bad.size == 0, (f"{name} != reference at {bad[0]}: {got[name][tuple(bad[0])]:#010x} vs "
                               f"{got['reference'][tuple(bad[0])]:#010x} ({len(bad)} differ)")


HYPOTHESIS_MODELS = [tensor_core("H100", "fp16", "fp16"), tensor_core("A100", "bf16"), tensor_core("H100", "e4m3", "fp16"),
                     tensor_core("Ada", "e5m2"), tensor_core("V100", "fp16")]


@pytest.mark.parametrize("model", HYPOTHESIS_MODELS, ids=lambda m: f"{m.gpu}-{m.in_fmt.name}-{m.out}")
@settings(max_examples=25)
@given(data=st.data())
def test_numba_equals_reference_on_codes(model, data):
    """Any codes of the input format (NaN, Inf, subnormals included), K = n or 2n, any c."""
    fmt = model.in_fmt
    k = data.draw(st.sampled_from([model.n, 2 * model.n]), label="K")
    codes = st.integers(0, fmt.num_codes - 1)
    a = lpemu.decode(np.array(data.draw(st.lists(codes, min_size=2 * k, max_size=2 * k)), np.uint32).reshape(2, k), fmt)
    b = lpemu.decode(np.array(data.draw(st.lists(codes, min_size=2 * k, max_size=2 * k)), np.uint32).reshape(k, 2), fmt)
    c = np.array(data.draw(st.lists(st.floats(width=32), min_size=4, max_size=4)), np.float32).reshape(2, 2)
    np.testing.assert_array_equal(_bits(tc_matmul(a, b, c, model=model)), _bits(_ref(model, a, b, c)))


# ---- JAX transformations and shapes -----------------------------------------------------------

@pytest.mark.parametrize("key", [("h100", "e4m3", "fp16"), ("a100", "fp16", "fp32")], ids="-".join)
def test_jax_jit_and_vmap(key, rng):
    model = TENSOR_CORES[key]
    a, b, c = _random_case(model, rng, model.n + 1, rows_per=2, cols=3)
    want = _bits(tc_matmul(a, b, c, model=model))
    jitted = jax.jit(lambda x, y, z: tc_matmul(x, y, z, model=model))
    np.testing.assert_array_equal(_bits(jitted(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c))), want)
    batch = np.stack([a, a[::-1]])
    mapped = jax.vmap(lambda x: tc_matmul(x, jnp.asarray(b), jnp.asarray(c), model=model))(jnp.asarray(batch))
    np.testing.assert_array_equal(_bits(mapped[0]), want)
    np.testing.assert_array_equal(_bits(mapped[1]), _bits(tc_matmul(a[::-1].copy(), b, c, model=model)))


@pytest.mark.parametrize("backend", ["numba", "jax"])
def test_shapes(backend):
    model = tensor_core("H100", "fp16")
    conv = (lambda x: jnp.asarray(np.asarray(x, np.float32))) if backend == "jax" else (lambda x: np.asarray(x, np.float32))
    v = conv([1.0, 2.0**-12, 2.0**-12, 2.0**-12])
    r = tc_matmul(v, v, model=model)  # two vectors: a 0-d result, c = None is 0
    assert r.shape == () and float(r) == 1 + 2.0**-23
    m = conv(np.arange(6).reshape(2, 3))
    assert tc_matmul(m, conv([1.0, 1.0, 1.0]), model=model).shape == (2,)
    assert tc_matmul(conv([1.0, 1.0]), m, model=model).shape == (3,)
    np.testing.assert_array_equal(np.asarray(tc_matmul(m, m.T, conv(0.5), model=model)),
                                  np.asarray([[5.5, 14.5], [14.5, 50.5]], np.float32))  # scalar c broadcasts
    empty_k = tc_matmul(conv(np.zeros((2, 0))), conv(np.zeros((0, 3))), conv(np.full((2, 3), 1.5)), model=model)
    np.testing.assert_array_equal(np.asarray(empty_k), np.full((2, 3), 1.5, np.float32))  # K = 0: c
    assert tc_matmul(conv(np.zeros((0, 4))), conv(np.zeros((4, 3))), model=model).shape == (0, 3)
    f16 = tensor_core("H100", "fp16", "fp16")
    got = tc_matmul(conv([[0.0]]), conv([[0.0]]), conv([[1 + 2.0**-12]]), model=f16)  # c rounded to fp16
    assert float(np.asarray(got)[0, 0]) == 1.0
    got = tc_matmul(conv([[1.0]]), conv([[-1.0]]), conv([[70000.0]]), model=f16)  # c is Inf in fp16
    assert float(np.asarray(got)[0, 0]) == INF


# ---- presets and bad arguments ----------------------------------------------------------------

def test_presets():
    assert tensor_core(" h200 ", "float8_e4m3fn") == dataclasses.replace(TENSOR_CORES[("h100", "e4m3", "fp32")], gpu="H200")
    assert tensor_core("L40S", E5M2, "FP16").n == 16
    assert tensor_core("A2", "tf32").n == 4
    assert {m.gpu for m in TENSOR_CORES.values()} == {"V100", "A100", "A2", "H100", "H200", "Ada", "L40S"}
    assert all(m.out == key[2] and m.in_fmt == lpemu.format(key[1]) for key, m in TENSOR_CORES.items())


F32 = np.float32
H100_E4M3 = tensor_core("H100", "e4m3")
BAD_ARGUMENTS = [
    (lambda: tensor_core("B200", "fp16"), "gpu must be one of V100, A100, A2, H100, H200, Ada, L40S"),
    (lambda: tensor_core(100, "fp16"), "gpu must be one of"),
    (lambda: tensor_core("V100", "bf16"), "V100 tensor cores take input fp16; got 'bf16'"),
    (lambda: tensor_core("A100", "e4m3"), "A100 tensor cores take input fp16, bf16, tf32"),
    (lambda: tensor_core("H100", "nonsense"), "H100 tensor cores take input"),
    (lambda: tensor_core("H100", INT8), "take input"),
    (lambda: tensor_core("H100", "tf32", out="fp16"), "H100 with tf32 input accumulates into fp32; got out='fp16'"),
    (lambda: tensor_core("Ada", "fp16", out="fp8"), "accumulates into fp32, fp16"),
    (lambda: tc_matmul(np.ones((2, 3), F32), np.ones((4, 2), F32), model=H100_E4M3), "inner dimensions 3 and 4 differ"),
    (lambda: tc_matmul(np.ones((2, 2, 2), F32), np.ones((2, 2), F32), model=H100_E4M3), "must be 1-D or 2-D"),
    (lambda: tc_matmul(np.ones((2, 2)), np.ones((2, 2), F32), model=H100_E4M3), "a must be a float32 array, got float64"),
    (lambda: tc_matmul(np.ones((2, 2), F32), np.ones((2, 2), F32), np.ones((3, 2), F32), model=H100_E4M3),
     r"c of shape \(3, 2\) does not broadcast to the result shape \(2, 2\)"),
    (lambda: tc_matmul(np.full((2, 2), 0.1, F32), np.ones((2, 2), F32), model=H100_E4M3),
     r"a must hold float8_e4m3fn values; a\[0, 0\] = .* is not one"),
    (lambda: tc_matmul(np.ones((2, 2), F32), np.array([[1, 2], [3, np.inf]], F32), model=H100_E4M3),
     r"b\[1, 1\] = .*inf"),
    (lambda: tc_matmul(np.ones((2, 2), F32), np.full((2, 2), 1e6, F32), model=tensor_core("A100", "fp16")),
     "b must hold float16 values"),
    (lambda: tc_matmul(np.ones((2, 2), F32), np.ones((2, 2), F32), model="H100"), "model must be a TensorCore"),
    (lambda: tc_matmul(jnp.ones((2, 3)), jnp.ones((4, 2)), model=H100_E4M3), "inner dimensions"),
    (lambda: tc_matmul(jnp.ones((2, 2), jnp.int32), jnp.ones((2, 2)), model=H100_E4M3), "a must be a float32 array"),
    (lambda: TensorCore("x", FP16, 0, 0, 0), r"TensorCore.n must be an integer in \[1, 1024\], got 0"),
    (lambda: TensorCore("x", FP16, 4, 7, 0), r"TensorCore.neab must be an integer in \[-22, 6\], got 7"),
    (lambda: TensorCore("x", FP16, 4, 0, 200), "TensorCore.min_exp_limit"),
    (lambda: TensorCore("x", FP16, 6, 0, 0, interleave=True), "multiple of 4 with interleave=True, got 6"),
    (lambda: TensorCore("x", FP16, 4, 0, 0, out="bf16"), "TensorCore.out must be one of fp32, fp16; got 'bf16'"),
    (lambda: TensorCore("x", FP64, 4, 0, 0), "TensorCore.in_fmt must fit in float32"),
    (lambda: TensorCore("x", INT8, 4, 0, 0), "TensorCore.in_fmt must be a signed FloatFormat"),
    (lambda: TensorCore("", FP16, 4, 0, 0), "TensorCore.gpu must be a non-empty string"),
]


@pytest.mark.parametrize("call, message", BAD_ARGUMENTS, ids=[str(i) for i in range(len(BAD_ARGUMENTS))])
def test_bad_arguments(call, message):
    with pytest.raises(InvalidArgumentError, match=message):
        call()
