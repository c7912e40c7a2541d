"""Argument checking and kernel parameters: which format fits which container, and how.

This is the public boundary of the kernels: everything here validates, the kernels assume.
"""

from __future__ import annotations

import numpy as np

from ._formats import FixedFormat, FloatFormat, Specials
from ._modes import Overflow, RoundingMode, overflow_policy, rounding_mode
from .errors import InvalidArgumentError, InvalidFormatError, UnsupportedContainerError, check_int
from .kernels.params import (
    NAN_SIGN_INPUT, NAN_SIGN_NEGATIVE, NAN_SIGN_POSITIVE, Container, FixedParams, FloatParams,
)

CONTAINERS = {
    np.dtype(np.float32): Container(mc=23, bias=127, width=32),
    np.dtype(np.float64): Container(mc=52, bias=1023, width=64),
}
#: Largest number of random bits of stochastic rounding.
MAX_SR_BITS = 30


def container_of(dtype: np.dtype) -> Container:
    """The container layout of a float32/float64 dtype, or a clear error."""
    dtype = np.dtype(dtype)
    if dtype not in CONTAINERS:
        raise UnsupportedContainerError(
            f"container dtype must be float32 or float64, got {dtype}; cast the input with .astype(np.float32)")
    return CONTAINERS[dtype]


def check_fits(fmt: FloatFormat | FixedFormat, dtype: np.dtype) -> Container:
    """Raise unless every value of ``fmt`` is exactly a number of the container ``dtype``."""
    c = container_of(dtype)
    dtype = np.dtype(dtype)
    emin_c = 1 - c.bias
    if isinstance(fmt, FloatFormat):
        problems = []
        if fmt.man_bits > c.mc:
            problems.append(f"man_bits {fmt.man_bits} > {c.mc}")
        if fmt.emin - fmt.man_bits < emin_c - c.mc:
            problems.append(f"smallest quantum 2^{fmt.emin - fmt.man_bits} < 2^{emin_c - c.mc}")
        if fmt.emax > c.bias:
            problems.append(f"emax {fmt.emax} > {c.bias}")
    elif isinstance(fmt, FixedFormat):
        problems = []
        magnitude_bits = fmt.bits - 1 if fmt.signed else fmt.bits  # |k| < 2^magnitude_bits
        if magnitude_bits > c.mc + 1:
            problems.append(f"integers of {fmt.bits} bits need more than {c.mc + 1} significand bits")
        if -fmt.frac_bits < emin_c - c.mc:
            problems.append(f"quantum 2^{-fmt.frac_bits} is below the smallest {dtype} 2^{emin_c - c.mc}")
        if magnitude_bits - fmt.frac_bits > c.bias:
            problems.append(f"range 2^{magnitude_bits - fmt.frac_bits} exceeds the largest {dtype}")
    else:
        raise InvalidFormatError(f"fmt must be a FloatFormat, FixedFormat or IntFormat; got {fmt!r}")
    if problems:
        raise UnsupportedContainerError(
            f"{fmt.name} cannot be emulated exactly in {dtype} ({'; '.join(problems)}); "
            + ("use a float64 container" if dtype == np.float32 else "no container can hold it"))
    return c


def resolve_overflow(fmt: FloatFormat | FixedFormat, overflow: str | Overflow | None) -> Overflow:
    """The overflow policy to use: the format's default for ``None``, checked otherwise."""
    if isinstance(fmt, FixedFormat):
        ov = Overflow.SATURATE if overflow is None else overflow_policy(overflow)
        if ov not in (Overflow.SATURATE, Overflow.WRAP):
            raise InvalidArgumentError(f"overflow for integer/fixed format {fmt.name} must be 'saturate' or 'wrap', got {ov.value!r}")
        return ov
    has_special = fmt.infinities or fmt.has_nan
    if overflow is None:
        return Overflow.INFINITY if has_special else Overflow.SATURATE
    ov = overflow_policy(overflow)
    if ov is Overflow.WRAP:
        raise InvalidArgumentError(f"overflow='wrap' is for integer and fixed-point formats, not {fmt.name}")
    if not has_special and ov is not Overflow.SATURATE:
        raise InvalidArgumentError(f"{fmt.name} has no Inf or NaN: overflow must be 'saturate', got {ov.value!r}")
    return ov


def seed_words(seed: object, mode: RoundingMode) -> tuple[int, int]:
    """Split a Python-int seed into its low and high 32-bit words (0, 0 when not stochastic)."""
    if not mode.is_stochastic:
        return 0, 0
    if seed is None:
        raise InvalidArgumentError(f"rounding={mode.value!r} needs a seed: an integer in [0, 2^64)")
    s = check_int("seed", seed, 0, 2**64 - 1)
    return s & 0xFFFFFFFF, s >> 32


def _bits_of(value: float, dtype: np.dtype) -> int:
    itype = np.int32 if np.dtype(dtype) == np.float32 else np.int64
    return int(np.array(value, dtype=dtype).view(itype))


def _checked(fmt, dtype, rounding, overflow, sr_bits) -> tuple[Container, RoundingMode, Overflow, int]:
    """The arguments every kernel shares, checked: container, mode, overflow policy, sr_bits."""
    c = check_fits(fmt, dtype)
    return (c, rounding_mode(rounding), resolve_overflow(fmt, overflow),
            check_int("sr_bits", sr_bits, 1, MAX_SR_BITS))


def float_params(fmt: FloatFormat, dtype: np.dtype, rounding: str | RoundingMode,
                 overflow: str | Overflow | None, sr_bits: int) -> FloatParams:
    """Validated kernel parameters for rounding ``dtype`` values into float format ``fmt``."""
    c, mode, ov, n = _checked(fmt, dtype, rounding, overflow, sr_bits)
    s = fmt.specials
    if not fmt.signed:
        nan_sign = NAN_SIGN_POSITIVE
    elif s in (Specials.IEEE, Specials.FN):
        nan_sign = NAN_SIGN_INPUT
    else:
        nan_sign = NAN_SIGN_NEGATIVE
    nan_rule = {Specials.IEEE: 0, Specials.FN: 1, Specials.FNUZ: 2, Specials.P3109: 2, Specials.NONE: 3}[s]
    return FloatParams(
        mc=c.mc, bias_c=c.bias, exp_mask_c=c.exp_mask, mag_mask_c=c.mag_mask, qnan_c=c.qnan,
        sign_bit_c=c.sign_bit, mt=fmt.man_bits, emin=fmt.emin, bias_t=fmt.bias, subn=int(fmt.subnormals),
        nozero=int(not fmt.zero), signed=int(fmt.signed), negzero=int(fmt.has_negative_zero),
        has_inf=int(fmt.infinities), has_nan=int(fmt.has_nan), nan_sign=nan_sign,
        max_bits=_bits_of(fmt.max, dtype), minq_bits=_bits_of(fmt.min_subnormal, dtype),
        # a 64-bit format's sign bit as a (negative) int64, like every other field
        sign_code=fmt.sign_mask - (1 << 64) if fmt.sign_mask >= 1 << 63 else fmt.sign_mask,
        mag_code_mask=(1 << fmt.mag_bits) - 1,
        inf_code=-1 if fmt.inf_code is None else fmt.inf_code,
        nan_code=-1 if fmt.nan_code is None else fmt.nan_code, max_code=fmt.max_code, nan_rule=nan_rule,
        mode=mode.code, overflow=ov.code, sr_bits=n,
    )


def fixed_params(fmt: FixedFormat, dtype: np.dtype, rounding: str | RoundingMode,
                 overflow: str | Overflow | None, sr_bits: int) -> FixedParams:
    """Validated kernel parameters for rounding ``dtype`` values into fixed-point ``fmt``."""
    c, mode, ov, n = _checked(fmt, dtype, rounding, overflow, sr_bits)
    return FixedParams(
        mc=c.mc, bias_c=c.bias, exp_mask_c=c.exp_mask, mag_mask_c=c.mag_mask, frac=fmt.frac_bits,
        width=fmt.bits, kmin=fmt.min_int, kmax=fmt.max_int, signed=int(fmt.signed), quantum=fmt.quantum,
        mode=mode.code, overflow=ov.code, sr_bits=n,
    )


def code_dtype(fmt: FloatFormat | FixedFormat) -> np.dtype:
    """The unsigned dtype that holds one code of ``fmt``."""
    for bits, dt in ((8, np.uint8), (16, np.uint16), (32, np.uint32), (64, np.uint64)):
        if fmt.bits <= bits:
            return np.dtype(dt)
    raise InvalidFormatError(f"{fmt.name} is wider than 64 bits")
