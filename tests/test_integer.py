"""lpemu.integer (shared/specs/integer-pipelines.md): the integer GEMM / convolution and the I-ViT
and I-BERT nonlinearities. The spec's vectors; the Numba and JAX kernels against the exact
Python-int oracle (lpemu.reference._integer) over every int8 input where that is small, and
hypothesis over scales, shapes and int32 extremes; Numba == JAX bit for bit (also under jit and
vmap); float layers against their integer-only counterparts within the expected quantization
error; the argument checks.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lpemu
from lpemu import dyadic, integer
from lpemu.errors import InvalidArgumentError, InvalidFormatError
from lpemu.integer import _constants as K
from lpemu.kernels.jax import integer as jax_kernels
from lpemu.kernels.numba import integer as numba_kernels
from lpemu.reference import _integer as R

MIN, MAX = -(2**31), 2**31 - 1
VARIANTS = ["pytorch", "tvm"]


def both(fn, x, *args, **kwargs):
    """``fn(x, ...)`` on a numpy ``x`` (Numba) and on ``jnp.asarray(x)`` (JAX); asserts identical
    integers, dtypes and scales, and returns the numpy result."""
    got = fn(x, *args, **kwargs)
    with jax.enable_x64(x.dtype == np.int64):  # (x64 is off: jnp.asarray would truncate int64)
        xj = jnp.asarray(x)
    got_jax = fn(xj, *args, **kwargs)
    if isinstance(got, tuple):
        assert got[1] == got_jax[1] if np.ndim(got[1]) == 0 else np.array_equal(got[1], got_jax[1])
        got, got_jax = got[0], got_jax[0]
    got_jax = np.asarray(got_jax)
    assert got.dtype == got_jax.dtype and got.shape == got_jax.shape
    bad = np.flatnonzero(got != got_jax)
    assert bad.size == 0, (bad[:5], got.ravel()[bad[:5]], got_jax.ravel()[bad[:5]])
    return got


def rows_oracle(fn, x, *args) -> np.ndarray:
    """The oracle applied to each row of a 2-D ``x`` (functions returning (row, scale) or row)."""
    out = []
    for row in np.asarray(x).tolist():
        r = fn(row, *args)
        out.append(r[0] if isinstance(r, tuple) else r)
    return np.array(out, dtype=object)


def elements_oracle(fn, x, *args) -> np.ndarray:
    return np.array([fn(v, *args) for v in np.asarray(x).ravel().tolist()], dtype=object).reshape(np.shape(x))


def assert_equal(got, expected):
    expected = np.asarray(expected, dtype=object)
    bad = np.flatnonzero(got.astype(object) != expected) if got.size else np.array([], int)
    assert bad.size == 0, (bad[:5], got.ravel()[bad[:5]], expected.ravel()[bad[:5]])


def test_kernel_modules_share_names():
    """The Numba and JAX kernels are read side by side: the same public names (the JAX module
    adds its int64 helpers only)."""
    def public(m):
        return {n for n, v in vars(m).items() if callable(v) and not n.startswith("_") and v.__module__ == m.__name__}
    assert public(numba_kernels) - {"add_saturate"} == public(jax_kernels) - {"pow2_f64"}


@settings(max_examples=40)
@given(st.lists(st.integers(-(2**52) + 1, 2**52 - 1) | st.sampled_from([0, -1, 1, 2**52 - 1, -(2**52) + 1]),
                min_size=16, max_size=16),
       st.integers(1, 2**40) | st.sampled_from([1, 2, 3, 2**31 - 1, 2**40]))
def test_floor_div_without_integer_division(a, b):
    """The exponentials' ``floor(a / b)`` by a float64 reciprocal and two corrections is exact."""
    a = np.array(a + [k * b for k in (-3, -1, 0, 1, 5)] + [k * b - 1 for k in (1, 7)], np.int64)
    expected = [v // b for v in a.tolist()]
    got = np.array([numba_kernels.floor_div(v, b) for v in a.tolist()])
    assert got.tolist() == expected
    with jax.enable_x64(True):
        assert np.asarray(jax_kernels.floor_div(jnp.asarray(a), b)).tolist() == expected


# ---- integer GEMM ---------------------------------------------------------------------------------
def matmul_oracle(a, b, za, zb, bias, overflow):
    zb = np.broadcast_to(zb, (b.shape[1],))
    bias = np.zeros(b.shape[1], np.int64) if bias is None else bias
    a2 = np.asarray(a).reshape(-1, a.shape[-1])
    res = [[R.int_dot(row.tolist(), b[:, j].tolist(), za, int(zb[j]), int(bias[j]), overflow)[0]
            for j in range(b.shape[1])] for row in a2]
    return np.array(res, dtype=object).reshape(a.shape[:-1] + (b.shape[1],))


DTYPE_PAIRS = [(np.int8, np.int8), (np.uint8, np.int8), (np.uint8, np.uint8), (np.int8, np.uint8)]


def _random(dtype, shape, rng):
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)


@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
@pytest.mark.parametrize("da, db", DTYPE_PAIRS, ids=lambda d: np.dtype(d).name)
def test_matmul_equals_oracle(da, db, overflow, rng):
    a, b = _random(da, (2, 3, 17), rng), _random(db, (17, 5), rng)
    za = 128 if da == np.uint8 else -3
    zb = np.array([0, 1, -7, 100, 5]) if db == np.int8 else 200
    bias = np.array([MAX, MIN, 0, -12345, 2**30], np.int32)  # the last addition overflows
    got = both(lambda x: integer.int_matmul(x, b, a_zero_point=za, b_zero_point=zb, bias=bias, overflow=overflow), a)
    assert got.dtype == np.int32 and got.shape == (2, 3, 5)
    assert_equal(got, matmul_oracle(a, b, za, zb, bias, overflow))


def _overflowing():
    """Rows whose partial sums leave int32 and come back: +127*127 terms then -127*127 terms."""
    k = 140000
    a = np.full((3, 2 * k), 127, np.int8)
    a[1, :] = -127
    a[2, ::2] = 1  # stays in range
    b = np.concatenate([np.full(k, 127), np.full(k, -127)]).astype(np.int8).reshape(-1, 1)
    return a, b


def test_matmul_overflow_policies():
    a, b = _overflowing()
    exact = a.astype(np.int64) @ b.astype(np.int64)
    wrap = both(lambda x: integer.int_matmul(x, b), a)
    np.testing.assert_array_equal(wrap, exact)  # wrapping: the exact sum modulo 2^32 (here 0 and back)
    sat = both(lambda x: integer.int_matmul(x, b, overflow="saturate"), a)
    # saturating: row 0 clamps at MAX after 133,144 terms, then loses 140,000 * 16129
    assert sat[:, 0].tolist() == [MAX - 140000 * 16129, MIN + 140000 * 16129, int(exact[2, 0])]
    oracle = [R.int_dot(a[i].tolist(), b[:, 0].tolist(), overflow="saturate")[0] for i in range(3)]
    assert sat[:, 0].tolist() == oracle
    for x in (a, jnp.asarray(a)):
        with pytest.raises(InvalidArgumentError, match="overflows .* row 0"):
            integer.int_matmul(x, b, overflow="raise")
    np.testing.assert_array_equal(integer.int_matmul(a[2:], b, overflow="raise"), exact[2:])


def test_matmul_large_wrap_threads_and_jax(rng):
    """A problem large enough for the threaded row blocks; wrap is order-free, so numpy's int64
    product modulo 2^32 is the oracle."""
    a, b = _random(np.uint8, (96, 300), rng), _random(np.int8, (300, 40), rng)
    bias = rng.integers(MIN, MAX, 40).astype(np.int32)
    exact = (a.astype(np.int64) - 7) @ b.astype(np.int64) + bias
    got = both(lambda x: integer.int_matmul(x, b, a_zero_point=7, bias=bias), a)
    np.testing.assert_array_equal(got, (exact + 2**31) % 2**32 - 2**31)
    jitted = jax.jit(lambda x, w, c: integer.int_matmul(x, w, a_zero_point=7, bias=c))
    np.testing.assert_array_equal(np.asarray(jitted(jnp.asarray(a), jnp.asarray(b), jnp.asarray(bias))), got)
    sat = jax.jit(lambda x: integer.int_matmul(x, jnp.asarray(b), a_zero_point=7, bias=jnp.asarray(bias),
                                               overflow="saturate"))(jnp.asarray(a))
    np.testing.assert_array_equal(np.asarray(sat), integer.int_matmul(a, b, a_zero_point=7, bias=bias,
                                                                      overflow="saturate"))
    batched = jax.vmap(lambda x: integer.int_matmul(x, jnp.asarray(b), a_zero_point=7, bias=jnp.asarray(bias)))
    np.testing.assert_array_equal(np.asarray(batched(jnp.asarray(a.reshape(4, 24, 300)))).reshape(96, 40), got)


@settings(max_examples=25)
@given(data=st.data())
def test_matmul_hypothesis_extremes(data):
    da, db = data.draw(st.sampled_from(DTYPE_PAIRS))
    m, k, n = data.draw(st.sampled_from([(1, 1, 1), (2, 7, 3), (3, 33, 2)]))
    ia, ib = np.iinfo(da), np.iinfo(db)
    vals = lambda info: st.one_of(st.sampled_from([int(info.min), int(info.max), 0]),
                                  st.integers(int(info.min), int(info.max)))
    a = np.array(data.draw(st.lists(vals(ia), min_size=m * k, max_size=m * k)), da).reshape(m, k)
    b = np.array(data.draw(st.lists(vals(ib), min_size=k * n, max_size=k * n)), db).reshape(k, n)
    za = data.draw(vals(ia))
    zb = data.draw(vals(ib))
    bias = np.array(data.draw(st.lists(st.sampled_from([MIN, MAX, 0, -1]) | st.integers(MIN, MAX),
                                       min_size=n, max_size=n)), np.int32)
    overflow = data.draw(st.sampled_from(["wrap", "saturate"]))
    got = both(lambda x: integer.int_matmul(x, b, a_zero_point=za, b_zero_point=zb, bias=bias, overflow=overflow), a)
    assert_equal(got, matmul_oracle(a, b, za, zb, bias, overflow))


def conv_oracle(x, w, stride, pads, dilation, za, zb):
    """Direct loops over output pixels, taps in (kh, kw, c) order, through the dot oracle."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    (pt, pb), (pl, pr) = pads
    xp = np.full((n, h + pt + pb, wd + pl + pr, c), za, np.int64)
    xp[:, pt:pt + h, pl:pl + wd] = x
    oh = (xp.shape[1] - (kh - 1) * dilation - 1) // stride + 1
    ow = (xp.shape[2] - (kw - 1) * dilation - 1) // stride + 1
    out = np.zeros((n, oh, ow, o), np.int64)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                taps = [xp[b, i * stride + u * dilation, j * stride + v * dilation, ch]
                        for u in range(kh) for v in range(kw) for ch in range(c)]
                for q in range(o):
                    wq = [w[u, v, ch, q] for u in range(kh) for v in range(kw) for ch in range(c)]
                    out[b, i, j, q] = R.int_dot(taps, wq, za, zb)[0]
    return out


@pytest.mark.parametrize("stride, padding, dilation, pads", [
    (1, "valid", 1, ((0, 0), (0, 0))), (2, "same", 1, ((1, 1), (0, 1))), (1, "same", 2, ((2, 2), (2, 2))),
    (2, ((1, 0), (2, 1)), 1, ((1, 0), (2, 1))),
])
def test_conv2d_equals_oracle(stride, padding, dilation, pads, rng):
    x = _random(np.uint8, (2, 5, 6, 3), rng)
    w = _random(np.int8, (3, 3, 3, 4), rng)
    got = both(lambda v: integer.int_conv2d(v, w, stride=stride, padding=padding, dilation=dilation,
                                            x_zero_point=130, w_zero_point=-2), x)
    np.testing.assert_array_equal(got, conv_oracle(x, w, stride, pads, dilation, 130, -2))


def test_dense_is_matmul_then_requantize(rng):
    x, w = _random(np.int8, (4, 3, 20), rng), _random(np.int8, (20, 6), rng)
    bias = rng.integers(-5000, 5000, 6).astype(np.int32)
    m, s = dyadic.quantize_multiplier(np.linspace(0.001, 0.02, 6))
    for rounding in ("double", "single", "hawq"):
        got = both(lambda v: integer.int_dense(v, w, bias, m, s, zero_point=-4, rounding=rounding), x)
        expected = dyadic.requantize(integer.int_matmul(x, w, bias=bias), m, s, -4, rounding=rounding)
        np.testing.assert_array_equal(got, expected)
    fn = jax.jit(lambda v, ww, bb, mm, ss: integer.int_dense(v, ww, bb, mm, ss, zero_point=-4))
    args = (jnp.asarray(v) for v in (x, w, bias, m, s))
    np.testing.assert_array_equal(np.asarray(fn(*args)), integer.int_dense(x, w, bias, m, s, zero_point=-4))


def test_dense_layer_agrees_with_float(rng):
    """A float dense layer and its integer-only counterpart (int8 per-channel weights, int8
    activations, int32 bias, dyadic per-channel requantization to int8) agree within the
    quantization error: input rounding (S_x/2 per x, S_w/2 per w, propagated through the
    products), the output's rounding (S_y/2) and the requantization's own error (S_y/2 for
    double rounding, plus 2^-31 relative for the multiplier)."""
    x = rng.standard_normal((64, 48)).astype(np.float64)
    w = rng.standard_normal((48, 16)) * np.linspace(0.05, 0.5, 16)
    b = rng.standard_normal(16) * 0.2
    y = x @ w + b
    s_x = np.abs(x).max() / 127
    s_w = np.abs(w).max(axis=0) / 127
    s_y = np.abs(y).max() * 1.1 / 127
    xq = np.round(x / s_x).astype(np.int8)
    wq = np.round(w / s_w).astype(np.int8)
    bq = np.round(b / (s_x * s_w)).astype(np.int32)
    m, s = dyadic.quantize_multiplier(s_x * s_w / s_y)
    yq = both(lambda v: integer.int_dense(v, wq, bq, m, s), xq)
    err = np.abs(yq * s_y - y)
    bound = (s_x / 2 * np.abs(w).sum(0) + s_w / 2 * np.abs(x).sum(1, keepdims=True) + 48 * s_x * s_w / 4
             + s_x * s_w / 2 + s_y * (1 + 2.0**-20))
    assert (err <= bound).all(), (err / bound).max()
    assert err.max() < 0.05 * np.abs(y).max()


# ---- the spec's vectors -----------------------------------------------------------------------------
def test_spec_vectors_ivit():
    x = np.array([10, 0, -5, -20], np.int8)
    assert both(integer.shift_exp, np.array([0, -10, -15, -30], np.int32), 0.1).tolist() == [327680, 131072, 73728,
                                                                                           17408]
    y, s = integer.shiftmax(x, 0.1)
    assert both(integer.shiftmax, x, 0.1).tolist() == [76, 30, 17, 4] and s == 1 / 2**7
    assert K.INT32_MAX // (327680 + 131072 + 73728 + 17408) == 3905  # the spec's f
    assert both(integer.shiftmax, np.full(4, 7, np.int8), 0.1).tolist() == [31] * 4
    g = np.array([-100, -50, 0, 50, 100], np.int8)
    assert both(integer.shiftgelu, g, 0.02).tolist() == [-400, -950, 0, 5350, 12000]
    assert integer.shiftgelu(g, 0.02)[1] == 0.02 / 2**7
    v = np.array([100, 10000, 2**20, 2**32 - 1])
    assert both(integer.ivit_sqrt, v).tolist() == [64, 108, 1024, 65536] == [R.ivit_sqrt(int(t)) for t in v]


def test_spec_vectors_ibert():
    y, s = integer.ibert_exp(np.array([0, -10, -50, -100], np.int16), 0.01)
    assert both(integer.ibert_exp, np.array([0, -10, -50, -100], np.int16), 0.01).tolist() == \
        [29979945467904, 27188216725504, 18168785403904, 11124502167552]
    assert math.isclose(s, 3.3355e-14, rel_tol=1e-4)
    x = np.array([-3000, -1000, 0, 1000, 3000], np.int16)
    y, s = integer.ibert_gelu(x, 0.001)
    assert both(integer.ibert_gelu, x, 0.001).tolist() == [3000, 139000, 0, -708000, -2538000]
    assert math.isclose(s, -1.18295e-6, rel_tol=1e-5)
    v = np.array([15, 16, 24, 99, 2**31 - 1])
    assert both(integer.ibert_sqrt, v).tolist() == [3, 4, 4, 9, 46340]


# ---- exhaustive sweeps over int8 inputs -----------------------------------------------------------
ALL_INT8 = np.arange(-128, 128, dtype=np.int32)
SCALES = [0.013, 0.1, 0.5]


@pytest.mark.parametrize("scale", SCALES)
def test_exps_every_int8_and_int16(scale):
    x = np.arange(-(2**15), 1, dtype=np.int32)  # every int16 <= 0 (int8 included)
    got = both(lambda v: integer.shift_exp(v, scale)[0], x)
    assert got.dtype == np.int64
    assert_equal(got, elements_oracle(R.shift_exp, x, K.ivit_x0(scale, "pytorch"), 15))
    s_ib = scale / 20  # smaller scales: I-BERT's inputs are int32 accumulators
    assert_equal(both(lambda v: integer.ibert_exp(v, s_ib)[0], x), elements_oracle(R.ibert_exp, x, s_ib))


@pytest.mark.parametrize("scale", [1e-3, 0.01, 0.2])
def test_ibert_gelu_every_int8_and_int16_stride(scale):
    x = np.concatenate([ALL_INT8, np.arange(-(2**15), 2**15, 37, dtype=np.int32), [MIN, MAX, -(2**20), 2**20]])
    got = both(lambda v: integer.ibert_gelu(v, scale)[0], x.astype(np.int32))
    assert_equal(got, elements_oracle(R.ibert_gelu, x, scale))


def _row_sweep(rng) -> np.ndarray:
    """Every int8 value in the first position of rows whose other entries are the extremes, zero
    and random values (so the row maximum is that value or another one)."""
    others = np.array([[127, -128, 0], [-128, -128, -128], [5, -7, 60], [0, 0, 0]])
    rows = [np.column_stack([ALL_INT8, np.broadcast_to(o, (256, 3))]) for o in others]
    rows.append(rng.integers(-128, 128, (64, 4)))
    return np.concatenate(rows).astype(np.int8)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("scale", SCALES)
def test_shiftmax_and_shiftgelu_int8_sweep(scale, variant, rng):
    x = _row_sweep(rng)
    assert_equal(both(lambda v: integer.shiftmax(v, scale, variant=variant)[0], x),
                 rows_oracle(R.shiftmax, x, scale, variant))
    assert_equal(both(lambda v: integer.shiftgelu(v, scale, variant=variant)[0], x),
                 rows_oracle(R.shiftgelu, x, scale, variant))


@pytest.mark.parametrize("scale", [0.01, 0.05, 0.3])
def test_ibert_softmax_int8_sweep(scale, rng):
    x = _row_sweep(rng)
    assert_equal(both(lambda v: integer.ibert_softmax(v, scale)[0], x), rows_oracle(R.ibert_softmax, x, scale))


def test_layernorms_int8_sweep(rng):
    x = _row_sweep(rng)
    gamma = np.array([0.5, -2.0, 1.0, 3.0])
    beta = np.array([0.1, 0.0, -1e-3, 2.0])
    for variant in VARIANTS:
        (y, scale) = integer.ivit_layernorm(x, gamma, beta, variant=variant)
        bias = [K.layernorm_bias(b, g, 4) for b, g in zip(beta, gamma)]
        assert_equal(both(lambda v: integer.ivit_layernorm(v, gamma, beta, variant=variant)[0], x),
                     rows_oracle(R.ivit_layernorm, x, bias, variant))
        np.testing.assert_array_equal(scale, math.sqrt(4) / 2**30 * gamma)
    for shift in (0, 3):
        assert_equal(both(lambda v: integer.ibert_layernorm(v, gamma, beta, shift=shift)[0], x),
                     rows_oracle(R.ibert_layernorm, x, [K.layernorm_bias(b, g, 4) for b, g in zip(beta, gamma)],
                                 shift))


def test_square_roots_sweep():
    v = np.concatenate([np.arange(0, 2**16), [2**32 - 1, 2**32, 2**40 + 1, 2**62, 2**63 - 1]]).astype(np.int64)
    k = np.arange(2**31 - 200, 2**31 + 200, dtype=np.int64)  # around the largest roots: k^2 - 1, k^2, k^2 + 1
    edges = np.concatenate([k * k - 1, k * k, k * k + 1, 2**62 + k * 2**20])
    for values in (v, edges):
        assert_equal(both(integer.ibert_sqrt, values), [math.isqrt(int(t)) for t in values])
    assert_equal(both(integer.ivit_sqrt, v), elements_oracle(R.ivit_sqrt, v))


# ---- hypothesis over scales, shapes, dtypes and extremes -----------------------------------------
SHAPES = [(1, 1), (2, 5), (3, 16)]
DTYPES = {np.int8: (-128, 127), np.int16: (-(2**15), 2**15 - 1), np.int32: (MIN, MAX), np.uint8: (0, 255)}


def _int_arrays(data, dtypes=tuple(DTYPES)):
    dtype = data.draw(st.sampled_from(dtypes))
    lo, hi = DTYPES[dtype]
    shape = data.draw(st.sampled_from(SHAPES))
    size = shape[0] * shape[1]
    values = st.one_of(st.sampled_from([lo, hi, 0, -1 if lo < 0 else 1, lo + 1, hi - 1]), st.integers(lo, hi),
                       st.integers(max(lo, -300), min(hi, 300)))
    return np.array(data.draw(st.lists(values, min_size=size, max_size=size)), dtype).reshape(shape)


def _scale(data, lo: float, hi: float) -> float:
    return data.draw(st.one_of(st.sampled_from([lo, hi, 0.1]), st.floats(lo, hi)))


@settings(max_examples=40)
@given(data=st.data())
def test_ivit_hypothesis(data):
    x = _int_arrays(data)
    variant = data.draw(st.sampled_from(VARIANTS))
    s = _scale(data, 2.0**-14, 4.0)  # TVM: floor(1/S + 1) 2^16 < 2^31
    assert_equal(both(lambda v: integer.shiftmax(v, s, variant=variant)[0], x),
                 rows_oracle(R.shiftmax, x, s, variant))
    s2 = _scale(data, 2.0**-16, 4.0)
    assert_equal(both(lambda v: integer.shiftgelu(v, s2, variant=variant)[0], x),
                 rows_oracle(R.shiftgelu, x, s2, variant))


@settings(max_examples=40)
@given(data=st.data())
def test_ibert_hypothesis(data):
    x = _int_arrays(data)
    s = _scale(data, 3e-5, 1.6)
    assert_equal(both(lambda v: integer.ibert_softmax(v, s)[0], x), rows_oracle(R.ibert_softmax, x, s))
    assert_equal(both(lambda v: integer.ibert_exp(v, s)[0], -np.abs(x.astype(np.int64)).astype(np.int32)),
                 elements_oracle(R.ibert_exp, -np.abs(x.astype(np.int64)), s))
    s2 = _scale(data, 3e-6, 4.0)
    assert_equal(both(lambda v: integer.ibert_gelu(v, s2)[0], x), elements_oracle(R.ibert_gelu, x, s2))


@settings(max_examples=25)
@given(data=st.data())
def test_layernorm_hypothesis(data):
    x = _int_arrays(data, (np.int8, np.int16, np.uint8))
    c = x.shape[1]
    gamma = np.array(data.draw(st.lists(st.floats(0.05, 4.0) | st.floats(-4.0, -0.05), min_size=c, max_size=c)))
    # |beta / gamma| < 2: the TVM variant's int32 bias floor((beta/gamma) 2^30 / sqrt(C)) fits
    beta = np.array(data.draw(st.lists(st.floats(-0.09, 0.09), min_size=c, max_size=c)))
    bias = [K.layernorm_bias(b, g, c) for b, g in zip(beta, gamma)]
    variant = data.draw(st.sampled_from(VARIANTS))
    assert_equal(both(lambda v: integer.ivit_layernorm(v, gamma, beta, variant=variant)[0], x),
                 rows_oracle(R.ivit_layernorm, x, bias, variant))
    shift = data.draw(st.integers(0, 8))
    assert_equal(both(lambda v: integer.ibert_layernorm(v, gamma, beta, shift=shift)[0], x),
                 rows_oracle(R.ibert_layernorm, x, bias, shift))


# ---- axes, jit and vmap -----------------------------------------------------------------------------
ROW_OPS = {
    "shiftmax": lambda v, **kw: integer.shiftmax(v, 0.05, **kw),
    "shiftmax_tvm": lambda v, **kw: integer.shiftmax(v, 0.05, variant="tvm", **kw),
    "shiftgelu": lambda v, **kw: integer.shiftgelu(v, 0.05, **kw),
    "ivit_layernorm": lambda v, **kw: integer.ivit_layernorm(v, **kw),
    "ivit_layernorm_tvm": lambda v, **kw: integer.ivit_layernorm(v, variant="tvm", **kw),
    "ibert_softmax": lambda v, **kw: integer.ibert_softmax(v, 0.02, **kw),
    "ibert_layernorm": lambda v, **kw: integer.ibert_layernorm(v, **kw),
}


@pytest.mark.parametrize("name", ROW_OPS)
def test_axis_jit_and_vmap(name, rng):
    op = ROW_OPS[name]
    x = rng.integers(-128, 128, (3, 4, 6)).astype(np.int8)
    base = op(x)[0]
    np.testing.assert_array_equal(op(np.moveaxis(x, -1, 1), axis=1)[0], np.moveaxis(base, -1, 1))
    jitted = jax.jit(lambda v: op(v)[0])(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(jitted), base)
    mapped = jax.vmap(lambda v: op(v)[0])(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(mapped), base)


# ---- float layers against their integer-only counterparts ----------------------------------------
def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _gelu(z):
    return 0.5 * z * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))


def test_softmaxes_agree_with_float(rng):
    """Shiftmax: exp2 of the fraction is linear (error < 6.1 %), log2(e) ~ 1.4375 and
    the division by the sum both floor, and the output has 7 fraction bits: |p' - p| <= 0.125 p +
    2^-6. I-BERT: the polynomial's error (< 0.2 % of exp's range), 16-bit exponentials and 8
    fraction bits: |p' - p| <= 0.01 p + 2^-7."""
    for scale in (0.02, 0.05):
        x = rng.integers(-128, 128, (300, 32)).astype(np.int8)
        p = _softmax(x * scale)
        y, s = integer.shiftmax(x, scale)
        assert (np.abs(y * s - p) <= 0.125 * p + 2**-6).all()
        y, s = integer.ibert_softmax(x, scale)
        assert (np.abs(y * s - p) <= 0.01 * p + 2**-7).all()


def test_exps_and_gelus_agree_with_float(rng):
    s = 1e-3  # I-BERT's inputs are int32 accumulators with small scales
    x = rng.integers(-8000, 8000, 5000).astype(np.int32)
    y, so = integer.ibert_exp(-np.abs(x), s)
    assert np.abs(y * so - np.exp(-np.abs(x) * s)).max() < 0.0025  # the polynomial's ~0.19 % on (-ln 2, 0]
    y, so = integer.ibert_gelu(x, s)
    assert np.abs(y * so - _gelu(x * s)).max() < 0.025  # I-BERT's erf polynomial (its paper: ~0.018)
    x8 = rng.integers(-128, 128, (200, 64)).astype(np.int8)
    for scale in (0.03, 0.05):
        y, so = integer.shiftgelu(x8, scale)
        # the sigmoid's own error (x sigmoid(1.702 x) vs GELU: 0.02), its 7-bit output, and the
        # factor floor((2^31 - 1) / sum) with sum up to |x0| 2^23: about log2(256 / |x0|) bits
        x0 = -K.ivit_x0(K.gelu_scale(scale), "pytorch")
        rel = 2.0**-7 + x0 / 256 + 0.07
        assert (np.abs(y * so - _gelu(x8 * scale)) <= rel * np.abs(x8 * scale) + 0.021).all()


def test_layernorms_agree_with_float(rng):
    """The integer normalisation is exact up to the mean's rounding (half a unit in x, so
    0.5 / std in the output), the square root's floor and the output's 2^-30-ish rounding."""
    for dtype, hi in ((np.int8, 128), (np.int16, 3000)):
        x = rng.integers(-hi, hi, (200, 64)).astype(dtype)
        std = x.std(-1, keepdims=True)
        f = (x - x.mean(-1, keepdims=True)) / std
        bound = 0.5 / std + np.abs(f) * 2.0 / std + 1e-6
        for fn in (integer.ivit_layernorm, integer.ibert_layernorm):
            y, s = fn(x)
            assert (np.abs(y * s - f) <= bound).all(), fn.__name__


# ---- bad arguments ----------------------------------------------------------------------------------
I8 = np.zeros((2, 3), np.int8)
W8 = np.zeros((3, 4), np.int8)
BAD = [  # (call, error, words the message must contain)
    (lambda: integer.int_matmul(I8.astype(np.int16), W8), InvalidArgumentError, ["a must", "int8, uint8", "int16"]),
    (lambda: integer.int_matmul(I8, W8.astype(np.float32)), InvalidArgumentError, ["b must", "float32"]),
    (lambda: integer.int_matmul(I8, W8[:2]), InvalidArgumentError, ["same K", "(2, 3)", "(2, 4)"]),
    (lambda: integer.int_matmul(I8, W8[0]), InvalidArgumentError, ["(K, N)"]),
    (lambda: integer.int_matmul(I8, W8, a_zero_point=128), InvalidArgumentError, ["a_zero_point", "[-128, 127]"]),
    (lambda: integer.int_matmul(I8.astype(np.uint8), W8, a_zero_point=-1), InvalidArgumentError, ["[0, 255]"]),
    (lambda: integer.int_matmul(I8, W8, a_zero_point=np.array([1, 2])), InvalidArgumentError, ["single integer"]),
    (lambda: integer.int_matmul(I8, W8, b_zero_point=np.zeros(3, int)), InvalidArgumentError, ["(4,)", "(3,)"]),
    (lambda: integer.int_matmul(I8, W8, b_zero_point=np.array([0, 0, 0, 300])), InvalidArgumentError,
     ["b_zero_point", "300"]),
    (lambda: integer.int_matmul(I8, W8, bias=np.zeros(4, np.int64)), InvalidArgumentError, ["bias", "int32"]),
    (lambda: integer.int_matmul(I8, W8, bias=np.zeros(3, np.int32)), InvalidArgumentError, ["bias", "(4,)"]),
    (lambda: integer.int_matmul(I8, W8, overflow="clip"), InvalidArgumentError, ["overflow", "wrap, saturate, raise"]),
    (lambda: jax.jit(lambda a: integer.int_matmul(a, W8, overflow="raise"))(jnp.asarray(I8)), InvalidArgumentError,
     ["concrete", "jit"]),
    (lambda: integer.int_conv2d(I8, W8), InvalidArgumentError, ["(N, H, W, C)"]),
    (lambda: integer.int_conv2d(np.zeros((1, 4, 4, 2), np.int8), np.zeros((2, 2, 3, 1), np.int8)),
     InvalidArgumentError, ["same C"]),
    (lambda: integer.int_conv2d(np.zeros((1, 4, 4, 1), np.int8), np.zeros((2, 2, 1, 1), np.int8), stride=0),
     InvalidArgumentError, ["stride", "positive"]),
    (lambda: integer.int_conv2d(np.zeros((1, 4, 4, 1), np.int8), np.zeros((2, 2, 1, 1), np.int8), padding="full"),
     InvalidArgumentError, ["padding", "valid", "same"]),
    (lambda: integer.int_conv2d(np.zeros((1, 2, 2, 1), np.int8), np.zeros((3, 3, 1, 1), np.int8)),
     InvalidArgumentError, ["window", "larger"]),
    (lambda: integer.int_dense(I8, W8, None, 2**31, 0), InvalidArgumentError, ["multiplier", "[0, 2147483647]"]),
    (lambda: integer.int_dense(I8, W8, None, 2**30, 0, out="fp16"), InvalidFormatError, ["IntFormat"]),
    (lambda: integer.shiftmax(I8.astype(np.float32), 0.1), InvalidArgumentError, ["x must", "float32"]),
    (lambda: integer.shiftmax(I8.astype(np.int64), 0.1), InvalidArgumentError, ["int32", "int64"]),
    (lambda: integer.shiftmax(I8, 0.0), InvalidArgumentError, ["scale", "positive"]),
    (lambda: integer.shiftmax(I8, float("nan")), InvalidArgumentError, ["scale", "finite"]),
    (lambda: integer.shiftmax(I8, np.array([0.1])), InvalidArgumentError, ["scale", "not an array"]),
    (lambda: integer.shiftmax(I8, 2.0**-17), InvalidArgumentError, ["too small", "n = 15", "2^31"]),
    (lambda: integer.shiftmax(I8, 0.1, axis=2), InvalidArgumentError, ["axis", "[-2, 1]"]),
    (lambda: integer.shiftmax(I8, 0.1, variant="onnx"), InvalidArgumentError, ["variant", "pytorch, tvm"]),
    (lambda: integer.shiftmax(I8, 0.1, output_bits=17), InvalidArgumentError, ["output_bits", "[2, 16]"]),
    (lambda: integer.shiftmax(I8, 0.1, n=0), InvalidArgumentError, ["n", "[1, 31]"]),
    (lambda: integer.shiftmax(np.zeros((2, 0), np.int8), 0.1), InvalidArgumentError, ["at least one element"]),
    (lambda: integer.shiftmax(np.int8(3), 0.1), InvalidArgumentError, ["at least one element"]),
    (lambda: integer.shiftgelu(I8, 2.0**-25), InvalidArgumentError, ["too small", "2^40"]),
    (lambda: integer.shift_exp(np.array([1, -1], np.int32), 0.1), InvalidArgumentError, ["x must be in", "0]", "1"]),
    (lambda: integer.ibert_exp(np.array([3], np.int32), 0.1), InvalidArgumentError, ["x must be in", "3"]),
    (lambda: integer.ibert_exp(np.array([-3], np.int32), 1e-6), InvalidArgumentError, ["too small", "2^62"]),
    (lambda: integer.ibert_softmax(I8, 1e-6), InvalidArgumentError, ["too small"]),
    (lambda: integer.ibert_softmax(I8, 2.0), InvalidArgumentError, ["too large", "1.67"]),
    (lambda: integer.ibert_softmax(I8, 0.1, output_bits=1), InvalidArgumentError, ["output_bits"]),
    (lambda: integer.ibert_gelu(I8, 1e-7), InvalidArgumentError, ["too small", "2^40"]),
    (lambda: integer.ibert_sqrt(np.array([4, -1])), InvalidArgumentError, ["v must be in", "-1"]),
    (lambda: integer.ivit_sqrt(np.array([1.0])), InvalidArgumentError, ["v must", "float64"]),
    (lambda: integer.ivit_layernorm(I8.astype(np.int32)), InvalidArgumentError, ["int16", "int32"]),
    (lambda: integer.ivit_layernorm(I8, np.ones(2)), InvalidArgumentError, ["gamma", "(3,)"]),
    (lambda: integer.ivit_layernorm(I8, np.array([1.0, 0.0, 1.0])), InvalidArgumentError, ["gamma", "non-zero"]),
    (lambda: integer.ivit_layernorm(I8, 1.0, np.array([0.0, np.nan, 0.0])), InvalidArgumentError, ["beta", "finite"]),
    (lambda: integer.ivit_layernorm(I8, 1e-3, 1.0, variant="tvm"), InvalidArgumentError, ["2^31", "beta / gamma"]),
    (lambda: integer.ibert_layernorm(I8, 1e-30, 1.0), InvalidArgumentError, ["2^62", "beta / gamma"]),
    (lambda: integer.ibert_layernorm(I8, "1"), InvalidArgumentError, ["gamma", "finite float"]),
    (lambda: integer.ibert_layernorm(I8, shift=32), InvalidArgumentError, ["shift", "[0, 31]"]),
]


@pytest.mark.parametrize("call, error, words", BAD, ids=range(len(BAD)))
def test_bad_arguments(call, error, words, raises_naming):
    raises_naming(call, error, words)


def test_scalars_and_empty_arrays():
    for x in (np.int32(-5), -5, jnp.int32(-5)):
        assert np.asarray(integer.shift_exp(x, 0.1)[0]).shape == ()
        assert int(integer.ibert_exp(x, 0.01)[0]) == R.ibert_exp(-5, 0.01)
        assert int(integer.ibert_gelu(x, 0.001)[0]) == R.ibert_gelu(-5, 0.001)
    assert int(integer.ibert_sqrt(16)) == 4 and int(integer.ivit_sqrt(100)) == 64
    assert integer.shiftmax(np.zeros((0, 3), np.int8), 0.1)[0].shape == (0, 3)
    assert integer.int_matmul(np.zeros((2, 0), np.int8), np.zeros((0, 3), np.int8)).tolist() == [[0] * 3] * 2


def test_public_api():
    assert lpemu.integer is integer and lpemu.dyadic is dyadic
    assert set(integer.__all__) <= set(dir(integer)) and set(dyadic.__all__) <= set(dir(dyadic))
