"""Tests of lpemu._packing: dense MSB-first storage of bit codes of 1..32 bits."""

from __future__ import annotations

import doctest

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lpemu._packing as packing
from lpemu._formats import FixedFormat, FloatFormat
from lpemu._packing import pack, packed_length, unpack
from lpemu.errors import InvalidArgumentError, LpemuError

ALL_BITS = list(range(1, 33))


def ref_pack(codes, bits: int) -> np.ndarray:
    """Pure-Python reference: concatenate the codes' binary strings MSB first, pad with 0s."""
    s = "".join(format(int(c), f"0{bits}b") for c in codes)
    s += "0" * (-len(s) % 8)
    return np.array([int(s[i : i + 8], 2) for i in range(0, len(s), 8)], dtype=np.uint8)


def code_dtype(bits: int) -> np.dtype:
    return np.dtype(np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32)


def random_codes(rng, bits: int, shape) -> np.ndarray:
    return rng.integers(0, 1 << bits, size=shape, dtype=np.uint64).astype(code_dtype(bits))


# ---- exact byte layouts -------------------------------------------------------------------
def test_fp4_bytes():
    assert pack(np.array([1, 2, 3, 4], np.uint8), 4).tolist() == [0x12, 0x34]
    # odd count: the low nibble of the last byte is zero
    assert pack(np.array([0xF, 0x1, 0xA], np.uint8), 4).tolist() == [0xF1, 0xA0]
    c = np.random.default_rng(1).integers(0, 16, 64, dtype=np.uint8)
    expected = (c[0::2] << 4) | c[1::2]
    np.testing.assert_array_equal(pack(c, 4), expected)


def test_fp6_bytes():
    # 000001 000010 000011 000100 -> 00000100 00100000 11000100
    assert pack(np.array([1, 2, 3, 4], np.uint8), 6).tolist() == [0x04, 0x20, 0xC4]
    # 5 codes = 30 bits -> 4 bytes, last two bits zero
    assert pack(np.array([63, 0, 0, 0, 63], np.uint8), 6).tolist() == [0xFC, 0, 0, 0xFC]
    c = np.random.default_rng(2).integers(0, 64, 64, dtype=np.uint8)
    c0, c1, c2, c3 = c[0::4], c[1::4], c[2::4], c[3::4]
    expected = np.stack(
        [c0 << 2 | c1 >> 4, (c1 & 0xF) << 4 | c2 >> 2, (c2 & 3) << 6 | c3], axis=-1
    ).reshape(-1)
    np.testing.assert_array_equal(pack(c, 6), expected)


def test_byte_aligned_widths_are_big_endian():
    rng = np.random.default_rng(3)
    c8 = rng.integers(0, 256, 10, dtype=np.uint8)
    np.testing.assert_array_equal(pack(c8, 8), c8)
    c16 = rng.integers(0, 1 << 16, 10, dtype=np.uint16)
    assert pack(c16, 16).tobytes() == c16.astype(">u2").tobytes()
    c32 = rng.integers(0, 1 << 32, 10, dtype=np.uint32)
    assert pack(c32, 32).tobytes() == c32.astype(">u4").tobytes()
    c24 = np.array([0x123456, 0xABCDEF], np.uint32)
    assert pack(c24, 24).tolist() == [0x12, 0x34, 0x56, 0xAB, 0xCD, 0xEF]


def test_bits1_matches_packbits():
    c = np.random.default_rng(4).integers(0, 2, (3, 13), dtype=np.uint8)
    np.testing.assert_array_equal(pack(c, 1), np.packbits(c, axis=-1))


def test_format_objects_as_bits():
    e2m1 = FloatFormat(2, 1, specials="none")
    e3m2 = FloatFormat(3, 2, specials="none")
    assert (e2m1.bits, e3m2.bits) == (4, 6)
    c = np.array([1, 2, 3, 4], np.uint8)
    assert pack(c, e2m1).tolist() == [0x12, 0x34]
    assert pack(c, e3m2).tolist() == [0x04, 0x20, 0xC4]
    np.testing.assert_array_equal(unpack(pack(c, e3m2), e3m2, 4), c)
    q = FixedFormat(3, 4)  # 8 bits
    np.testing.assert_array_equal(pack(c, q), c)
    assert packed_length(5, e2m1) == 3


def test_packed_length():
    for bits in ALL_BITS:
        for n in (0, 1, 7, 8, 9, 100):
            assert packed_length(n, bits) == -(-n * bits // 8)
            assert pack(np.zeros(n, np.uint32), bits).shape == (packed_length(n, bits),)


# ---- round trips --------------------------------------------------------------------------
@pytest.mark.parametrize("bits", ALL_BITS)
def test_round_trip_and_reference_every_width(bits):
    rng = np.random.default_rng(bits)
    for n in (0, 1, 2, 3, 7, 8, 9, 31, 64, 257):
        c = random_codes(rng, bits, n)
        # include the extremes of the code range
        if n >= 2:
            c[0], c[-1] = (1 << bits) - 1, 0
        p = pack(c, bits)
        assert p.dtype == np.uint8 and p.shape == (packed_length(n, bits),)
        np.testing.assert_array_equal(p, ref_pack(c, bits))
        u = unpack(p, bits, n)
        assert u.dtype == code_dtype(bits)
        np.testing.assert_array_equal(u, c)


@pytest.mark.parametrize("bits", ALL_BITS)
def test_internal_paths_agree(bits):
    """The grouped, bit-matrix and re-slicing kernels produce the same bytes and codes."""
    rng = np.random.default_rng(100 + bits)
    c = random_codes(rng, bits, (3, 29))
    pb = packing._np_pack_bitmatrix(c, bits)
    np.testing.assert_array_equal(pack(c, bits), pb)
    np.testing.assert_array_equal(packing._np_unpack_bitmatrix(pb, bits, 29, code_dtype(bits)), c)
    if np.lcm(bits, 8) <= 64:
        np.testing.assert_array_equal(packing._np_pack_grouped(c, bits), pb)
        np.testing.assert_array_equal(packing._np_unpack_grouped(pb, bits, 29, code_dtype(bits)), c)
    # the general re-slicing kernel used by JAX, run with numpy
    c32 = c.astype(np.uint32)
    np.testing.assert_array_equal(packing._recombine(np, c32, bits, 8, pb.shape[1]), pb)
    np.testing.assert_array_equal(packing._recombine(np, pb.astype(np.uint32), 8, bits, 29), c)


@pytest.mark.parametrize("bits", [1, 3, 4, 6, 8, 11, 16, 21, 32])
@pytest.mark.parametrize("shape,axis", [((5,), 0), ((4, 7), 0), ((4, 7), 1), ((4, 7), -1),
                                        ((2, 3, 5), 0), ((2, 3, 5), 1), ((2, 3, 5), -1),
                                        ((0, 5), 1), ((3, 0), 1), ((3, 0), 0)])
def test_shapes_and_axes(bits, shape, axis):
    rng = np.random.default_rng(7)
    c = random_codes(rng, bits, shape)
    p = pack(c, bits, axis=axis)
    n = shape[axis]
    expected_shape = list(shape)
    expected_shape[axis] = packed_length(n, bits)
    assert p.shape == tuple(expected_shape) and p.dtype == np.uint8
    assert p.flags.c_contiguous
    # packing along an axis is packing each 1-D slice along it
    rows = c.size // n if n else 0
    moved = np.moveaxis(c, axis, -1).reshape(rows, n)
    pm = np.moveaxis(p, axis, -1).reshape(rows, expected_shape[axis])
    for row, prow in zip(moved, pm):
        np.testing.assert_array_equal(prow, ref_pack(row, bits))
    u = unpack(p, bits, n, axis=axis)
    assert u.shape == c.shape and u.dtype == code_dtype(bits)
    np.testing.assert_array_equal(u, c)


def test_input_dtypes_and_array_likes():
    codes = [0, 5, 17, 31, 2]
    expected = ref_pack(codes, 5)
    for dt in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32, np.int64, np.uint64):
        np.testing.assert_array_equal(pack(np.array(codes, dt), 5), expected)
    np.testing.assert_array_equal(pack(codes, 5), expected)  # a list
    np.testing.assert_array_equal(unpack(list(expected), 5, 5), codes)
    # a non-contiguous input
    big = np.zeros((5, 2), np.int64)
    big[:, 0] = codes
    np.testing.assert_array_equal(pack(big[:, 0], 5), expected)


def test_unpack_fewer_codes_and_extra_bytes():
    c = np.arange(10, dtype=np.uint8)
    p = pack(c, 5)
    np.testing.assert_array_equal(unpack(p, 5, 4), c[:4])
    np.testing.assert_array_equal(unpack(p, 5, 0), c[:0])
    padded = np.concatenate([p, np.full(3, 0xFF, np.uint8)])
    np.testing.assert_array_equal(unpack(padded, 5, 10), c)
    # count is limited by the bits available: 2 bytes hold three 5-bit codes
    assert unpack(np.array([0xFF, 0xFF], np.uint8), 5, 3).tolist() == [31, 31, 31]


# ---- JAX ----------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", ALL_BITS)
def test_jax_matches_numpy(bits):
    rng = np.random.default_rng(200 + bits)
    c = random_codes(rng, bits, (3, 11))
    axis = bits % 2  # alternate the packed axis to keep the number of compilations down
    p_np = pack(c, bits, axis=axis)
    # signed JAX input with non-negative codes for some widths
    c_jx = jnp.asarray(c.astype(np.int32) if bits < 32 and bits % 3 == 0 else c)
    p_jx = pack(c_jx, bits, axis=axis)
    assert isinstance(p_jx, jax.Array) and p_jx.dtype == jnp.uint8
    np.testing.assert_array_equal(np.asarray(p_jx), p_np)
    u_jx = unpack(jnp.asarray(p_np), bits, c.shape[axis], axis=axis)
    assert isinstance(u_jx, jax.Array) and u_jx.dtype == code_dtype(bits)
    np.testing.assert_array_equal(np.asarray(u_jx), c)


@pytest.mark.parametrize("bits,axis", [(4, -1), (6, 0), (13, 1), (32, -2)])
def test_jax_jit(bits, axis):
    rng = np.random.default_rng(300 + bits)
    c = random_codes(rng, bits, (4, 9))
    jpack = jax.jit(pack, static_argnames=("bits", "axis"))
    junpack = jax.jit(unpack, static_argnames=("bits", "count", "axis"))
    p = jpack(jnp.asarray(c), bits=bits, axis=axis)
    assert isinstance(p, jax.Array)
    np.testing.assert_array_equal(np.asarray(p), pack(c, bits, axis=axis))
    u = junpack(p, bits=bits, count=c.shape[axis], axis=axis)
    assert u.dtype == code_dtype(bits)
    np.testing.assert_array_equal(np.asarray(u), c)


@pytest.mark.parametrize("bits", [4, 5])  # grouped and re-slicing JAX kernels
def test_jax_zero_size(bits):
    for shape, axis in [((0, 5), 1), ((3, 0), 1), ((3, 0), 0)]:
        c = np.zeros(shape, np.uint8)
        p = pack(jnp.asarray(c), bits, axis=axis)
        assert p.shape == pack(c, bits, axis=axis).shape
        u = unpack(p, bits, shape[axis], axis=axis)
        assert u.shape == shape and u.dtype == np.uint8


def test_jax_jit_with_format_and_masking():
    e3m2 = FloatFormat(3, 2, specials="none")
    f = jax.jit(lambda x: pack(x, e3m2))
    assert np.asarray(f(jnp.array([1, 2, 3, 4]))).tolist() == [0x04, 0x20, 0xC4]
    # under jit values cannot be checked: only the low `bits` bits of each code are stored,
    # so an out-of-range code does not spill into its neighbours
    g = jax.jit(lambda x: pack(x, 4))
    assert np.asarray(g(jnp.array([0x1F, 0x2], jnp.uint32))).tolist() == [0xF2]
    assert np.asarray(g(jnp.array([-1, 0], jnp.int32))).tolist() == [0xF0]


def test_jax_eager_checks_values():
    with pytest.raises(InvalidArgumentError, match=r"codes must be in \[0, 15\]"):
        pack(jnp.array([1, 16]), 4)
    with pytest.raises(InvalidArgumentError, match=r"codes must be in \[0, 15\]"):
        pack(jnp.array([1, -1]), 4)


# ---- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("bits", [0, 33, -1, 64, 4.0, True, "4", None])
def test_bad_bits(bits):
    for fn in (lambda: pack(np.zeros(4, np.uint8), bits), lambda: unpack(np.zeros(4, np.uint8), bits, 1)):
        with pytest.raises(InvalidArgumentError, match=r"bits must be an integer in \[1, 32\]") as e:
            fn()
        assert isinstance(e.value, ValueError) and isinstance(e.value, LpemuError)


def test_format_too_wide():
    wide = FixedFormat(40, 0)  # 41 bits
    with pytest.raises(InvalidArgumentError, match=r"bits must be an integer in \[1, 32\].*41 bits"):
        pack(np.zeros(2, np.uint8), wide)


@pytest.mark.parametrize("codes", [np.zeros(4, np.float32), np.zeros(4, bool), np.array(["a"]),
                                   jnp.zeros(4, jnp.float32)])
def test_non_integer_codes(codes):
    with pytest.raises(InvalidArgumentError, match="codes must have an integer dtype"):
        pack(codes, 4)


@pytest.mark.parametrize("bits,bad", [(1, 2), (4, 16), (6, 64), (6, -1), (13, 1 << 13), (31, 1 << 31),
                                      (32, 1 << 32), (32, -5)])
def test_out_of_range_codes(bits, bad):
    c = np.array([0, 1, bad], np.int64)
    with pytest.raises(InvalidArgumentError, match=rf"codes must be in \[0, {(1 << bits) - 1}\]"):
        pack(c, bits)


def test_out_of_range_unsigned_codes():
    with pytest.raises(InvalidArgumentError, match=r"codes must be in \[0, 7\] for bits=3"):
        pack(np.array([3, 8], np.uint8), 3)


def test_count_errors():
    p = np.zeros(3, np.uint8)  # 24 bits: at most four 6-bit codes
    unpack(p, 6, 4)
    with pytest.raises(InvalidArgumentError, match=r"count .* must be an integer in \[0, 4\], got 5"):
        unpack(p, 6, 5)
    with pytest.raises(InvalidArgumentError, match=r"count .* must be an integer in \[0, 4\], got -1"):
        unpack(p, 6, -1)
    with pytest.raises(InvalidArgumentError, match="count"):
        unpack(p, 6, 2.0)
    with pytest.raises(InvalidArgumentError, match=r"count .*\[0, 0\]"):
        unpack(np.zeros(3, np.uint8), 32, 1)
    with pytest.raises(InvalidArgumentError, match="count"):
        unpack(jnp.zeros((2, 3), jnp.uint8), 6, 5)


@pytest.mark.parametrize("packed", [np.zeros(4, np.int8), np.zeros(4, np.uint16), np.zeros(4, np.float32),
                                    np.zeros(4, np.int64), jnp.zeros(4, jnp.int32)])
def test_packed_not_uint8(packed):
    with pytest.raises(InvalidArgumentError, match="packed must have dtype uint8"):
        unpack(packed, 4, 2)


def test_bad_axis_and_zero_dim():
    with pytest.raises(InvalidArgumentError, match=r"axis must be an integer in \[-2, 1\]"):
        pack(np.zeros((2, 3), np.uint8), 4, axis=2)
    with pytest.raises(InvalidArgumentError, match=r"axis must be an integer in \[-1, 0\]"):
        unpack(np.zeros(3, np.uint8), 4, 2, axis=-2)
    with pytest.raises(InvalidArgumentError, match="codes must have at least one dimension"):
        pack(np.uint8(3), 4)
    with pytest.raises(InvalidArgumentError, match="packed must have at least one dimension"):
        unpack(np.uint8(3), 4, 1)


def test_doctests():
    result = doctest.testmod(packing, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
