"""x86 hardware units as references: run their instructions here, and reproduce them with lpemu.

Each function runs one x86 instruction on numpy arrays through a small C kernel (kernels/hw/,
compiled on first use) with ``impl="hardware"`` (the default), or reproduces it bit for bit with
lpemu's own arithmetic with ``impl="lpemu"``, on any CPU. :func:`verify` compares the two, over
every input where that is affordable (``lpemu verify --against hw:UNIT``).

Units (:data:`UNITS`; :func:`available` says which this CPU has):

* ``f16c`` / ``avx512f``: ``vcvtps2ph`` (float32 -> float16, rounding from the imm8) and
  ``vcvtph2ps``, as VEX (8 lanes) and EVEX (16 lanes) instructions: :func:`cvtps2ph`,
  :func:`cvtph2ps`.
* ``avx512fp16``: ``vaddph vsubph vmulph vdivph vfmadd213ph vsqrtph`` with embedded rounding
  (:func:`fp16_add` ... :func:`fp16_sqrt`) and ``vcvtps2phx`` / ``vcvtph2psx``
  (:func:`cvtps2ph` / :func:`cvtph2ps` with ``unit="avx512fp16"``).
* ``avx512bf16``: ``vcvtneps2bf16`` (:func:`cvtneps2bf16`) and ``vdpbf16ps`` (:func:`dpbf16ps`).
* ``avx512vnni`` / ``avxvnni``: ``vpdpbusd`` and ``vpdpbusds`` (:func:`dpbusd`, :func:`dpbusds`).

What the units do, measured on a Sapphire Rapids-class CPU and checked against the Intel SDM (the
:class:`Unit` presets hold it; docs/semantics.md, "Hardware units", has the details):

* Rounding of finite values is IEEE 754 in every float unit, subnormals included, except
  ``avx512bf16``: subnormal inputs are read as zero (DAZ) and ``vdpbf16ps`` flushes results that
  are tiny *after* rounding to zero (FTZ); both keep the sign.
* NaNs follow the x86 rules (``nan="x86"``), not lpemu's canonical NaN: the first NaN operand is
  returned quieted with its payload (truncated or zero-extended to the result format); an invalid
  operation (Inf - Inf, 0 * Inf, 0 / 0, sqrt(-1)) gives the "default NaN", negative and quiet.
* ``vdpbf16ps`` computes ``acc + a[2i+1] * b[2i+1] + a[2i] * b[2i]`` as two float32 fused
  multiply-adds, the *high* pair first, each rounded to nearest even and flushed.
* The kernels run with MXCSR at its default (no DAZ/FTZ, exceptions masked), whatever the caller
  set.

Examples:
    >>> import numpy as np
    >>> from lpemu import hardware
    >>> x = np.array([1.0, 65520.0, 1e-8, np.nan], np.float32)
    >>> hardware.cvtps2ph(x, "toward_zero", impl="lpemu").view(np.uint16)
    array([15360, 31743,     0, 32256], dtype=uint16)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ._arith import add, div, fma, mul, sqrt, sub
from ._formats import FloatFormat
from ._modes import RoundingMode, rounding_mode
from ._quantize import decode, encode, quantize
from .errors import InvalidArgumentError, LpemuError, check_int
from .formats import BF16, FP16, FP32, lookup

__all__ = [
    "Unit", "UNITS", "F16C", "AVX512F", "AVX512FP16", "AVX512BF16", "AVX512VNNI", "AVXVNNI",
    "HardwareUnavailableError", "available", "flush_subnormals",
    "cvtps2ph", "cvtph2ps", "fp16_add", "fp16_sub", "fp16_mul", "fp16_div", "fp16_fma", "fp16_sqrt",
    "cvtneps2bf16", "dpbf16ps", "dpbusd", "dpbusds",
    "verify", "HardwareVerifyResult", "OpCheck", "HardwareMismatch",
]

ArrayLike = Any


class HardwareUnavailableError(LpemuError, RuntimeError):
    """The unit an instruction needs is missing on this CPU, or its kernel did not build."""


@dataclass(frozen=True)
class Unit:
    """An x86 unit and the options under which lpemu reproduces it bit for bit.

    The presets (:data:`F16C`, :data:`AVX512FP16`, :data:`AVX512BF16`, ...) are what the
    ``impl="lpemu"`` path of every function applies; ``daz``, ``ftz`` and ``nan`` are where the
    unit departs from lpemu's plain format semantics (docs/semantics.md).

    Examples:
        >>> AVX512BF16.daz, AVX512BF16.ftz, AVX512BF16.nan
        (True, True, 'x86')
    """

    #: Unit name, as in :func:`available` and ``lpemu verify --against hw:NAME``.
    name: str
    #: The instructions it runs here.
    instructions: str
    #: The functions of this module that run on it.
    ops: tuple[str, ...]
    #: Denormals are zero: subnormal float inputs are read as zeros of the same sign.
    daz: bool = False
    #: Flush to zero: a result below the smallest normal number *after* rounding to the format's
    #: precision with an unbounded exponent (x86 detects tininess after rounding) becomes a zero
    #: of the result's sign.
    ftz: bool = False
    #: NaN results: ``"x86"`` (first NaN operand quieted, payload kept; invalid operations give
    #: the negative default NaN), or None for integer units.
    nan: str | None = "x86"


_CVT_OPS = ("cvtps2ph", "cvtph2ps")
_FP16_OPS = ("fp16_add", "fp16_sub", "fp16_mul", "fp16_div", "fp16_fma", "fp16_sqrt")
#: F16C: VEX vcvtps2ph / vcvtph2ps. IEEE subnormals, x86 NaNs. (vcvtps2ph honours MXCSR.DAZ on its
#: float32 input, measured; the kernels run with DAZ off.)
F16C = Unit("f16c", "vcvtps2ph (imm8 rounding), vcvtph2ps; VEX, 8 lanes", _CVT_OPS)
#: AVX512F: the EVEX forms of vcvtps2ph / vcvtph2ps; same results as F16C.
AVX512F = Unit("avx512f", "vcvtps2ph (imm8 rounding), vcvtph2ps; EVEX, 16 lanes", _CVT_OPS)
#: AVX512-FP16: IEEE 754 arithmetic with subnormals (FP16 arithmetic ignores MXCSR.DAZ/FTZ, measured).
AVX512FP16 = Unit("avx512fp16", "vaddph vsubph vmulph vdivph vfmadd213ph vsqrtph with embedded rounding; "
                  "vcvtps2phx, vcvtph2psx", _FP16_OPS + _CVT_OPS)
#: AVX512-BF16: DAZ inputs, FTZ results, round to nearest even, MXCSR neither read nor written.
AVX512BF16 = Unit("avx512bf16", "vcvtneps2bf16, vdpbf16ps", ("cvtneps2bf16", "dpbf16ps"), daz=True, ftz=True)
#: AVX512-VNNI: exact int32 sums of four u8 x s8 products, wrapped or saturated.
AVX512VNNI = Unit("avx512vnni", "vpdpbusd, vpdpbusds; EVEX, 16 lanes", ("dpbusd", "dpbusds"), nan=None)
#: AVX-VNNI: the VEX forms of vpdpbusd / vpdpbusds; same results.
AVXVNNI = Unit("avxvnni", "vpdpbusd, vpdpbusds; VEX, 8 lanes", ("dpbusd", "dpbusds"), nan=None)
#: Every unit by name.
UNITS: dict[str, Unit] = {u.name: u for u in (F16C, AVX512F, AVX512FP16, AVX512BF16, AVX512VNNI, AVXVNNI)}

#: float32 precision with a wider exponent range: the result of a float32 operation rounded to
#: 24 bits before the underflow check (what FTZ looks at) and before overflow.
_FP32_WIDE = FloatFormat(9, 23, name="float32 precision, wide exponent")
#: The x86 rounding controls (imm8 bits 1:0, EVEX.RC), in lpemu's names.
_ROUNDINGS = {RoundingMode.NEAREST_EVEN: 0, RoundingMode.DOWN: 1, RoundingMode.UP: 2, RoundingMode.TOWARD_ZERO: 3}
_IMPLS = ("hardware", "lpemu")


# ---- availability -------------------------------------------------------------------------------
def _build_reason(unit: str) -> str | None:
    """None if ``unit`` runs here, else why not."""
    from .kernels import hw

    if hw.cpu_probe_error() is not None:
        return f"the CPU could not be probed: {hw.cpu_probe_error()}"
    if unit not in hw.cpu_units():
        return f"this CPU lacks {unit} (or its registers are not enabled by the OS)"
    try:
        hw.load(unit)
    except hw.BuildError as e:
        return f"its kernel did not build: {e}"
    return None


def available() -> dict[str, bool]:
    """Which units run on this machine: the CPU has them and their kernels compile.

    The first call compiles the kernels (about a second; cached on disk afterwards).

    Returns:
        ``{unit name: bool}`` for every unit of :data:`UNITS`.

    Examples:
        >>> sorted(available())
        ['avx512bf16', 'avx512f', 'avx512fp16', 'avx512vnni', 'avxvnni', 'f16c']
    """
    return {u: _build_reason(u) is None for u in UNITS}


def _bfloat16() -> np.dtype:
    """ml_dtypes' bfloat16 (imported on first use: ``import lpemu`` does not load ml_dtypes)."""
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def _library(unit: str, fn: str):
    reason = _build_reason(unit)
    if reason is not None:
        raise HardwareUnavailableError(f"{fn} needs the {unit} unit, which is unavailable: {reason} "
                                       "(lpemu.hardware.available() lists the units; impl='lpemu' runs the emulation)")
    from .kernels import hw

    return hw.load(unit)


# ---- argument checks ------------------------------------------------------------------------------
def _array(fn: str, name: str, x: ArrayLike, dtype: Any) -> np.ndarray:
    """``x`` as a C-contiguous array of ``dtype``: numpy arrays must have it already, Python
    scalars and lists are converted."""
    dtype = np.dtype(dtype)
    if isinstance(x, (np.ndarray, np.generic)):
        if x.dtype != dtype:
            raise InvalidArgumentError(f"{fn}: {name} must be a {dtype} array, got {x.dtype}")
        return np.asarray(x, order="C")
    try:
        return np.asarray(x, dtype=dtype, order="C")
    except (TypeError, ValueError, OverflowError) as e:
        raise InvalidArgumentError(f"{fn}: {name} must be convertible to a {dtype} array ({e})") from None


def _rounding(fn: str, rounding: str | RoundingMode) -> RoundingMode:
    try:
        mode = rounding_mode(rounding)
    except InvalidArgumentError:
        mode = None
    if mode not in _ROUNDINGS:
        allowed = ", ".join(m.value for m in _ROUNDINGS)
        raise InvalidArgumentError(f"{fn}: rounding must be one of {allowed} (the x86 rounding controls), "
                                   f"got {rounding!r}")
    return mode


def _choice(fn: str, name: str, value: object, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidArgumentError(f"{fn}: {name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _same_shape(fn: str, **arrays: np.ndarray) -> tuple[int, ...]:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{k} {v}" for k, v in shapes.items())
        raise InvalidArgumentError(f"{fn}: the operands must have one shape, got {listed}")
    return next(iter(shapes.values()))


def _pair_shapes(fn: str, acc: np.ndarray, a: np.ndarray, b: np.ndarray, k: int) -> None:
    """acc of shape (..., n) and a, b of shape (..., k * n)."""
    _same_shape(fn, a=a, b=b)
    if acc.ndim == 0 or a.shape[:-1] != acc.shape[:-1] or a.shape[-1] != k * acc.shape[-1]:
        raise InvalidArgumentError(f"{fn}: a and b must have shape (..., {k} * n) for acc of shape (..., n); "
                                   f"got acc {acc.shape}, a {a.shape}")


# ---- running a kernel ------------------------------------------------------------------------------
def _run(unit: str, fn: str, kernel: str, inputs: Sequence[np.ndarray], out_dtype: Any,
         per_lane: Sequence[int] | None = None, before: tuple = (), after: tuple = ()) -> np.ndarray:
    """Call ``kernel(*before, *inputs, out, n, *after)`` on zero-padded flat copies; ``per_lane``
    gives the elements of each input per output element (1 each by default)."""
    from .kernels.hw import PAD

    lib = _library(unit, fn)
    per_lane = per_lane or (1,) * len(inputs)
    n = inputs[0].size // per_lane[0]
    m = max(-(-n // PAD) * PAD, PAD)
    padded = []
    for a, k in zip(inputs, per_lane):
        p = np.zeros(m * k, a.dtype)
        p[: a.size] = a.reshape(-1)
        padded.append(p)
    out = np.empty(m, out_dtype)
    getattr(lib, kernel)(*before, *padded, out, m, *after)
    return out[:n]


# ---- the named options: DAZ/FTZ and x86 NaNs --------------------------------------------------------
def flush_subnormals(x: ArrayLike, fmt: FloatFormat | str = "fp32") -> np.ndarray:
    """Replace every non-zero number below ``fmt``'s smallest normal in magnitude by a zero of its
    sign: x86 DAZ when applied to inputs, FTZ when applied to results rounded with an unbounded
    exponent range.

    Args:
        x: a float32 or float64 array (or scalar); NaN and Inf pass unchanged.
        fmt: the format whose smallest normal (``fmt.min_normal``) is the threshold.

    Returns:
        A new array of ``x``'s dtype and shape.

    Examples:
        >>> import numpy as np
        >>> flush_subnormals(np.array([1e-40, -1e-40, 1.0], np.float32)).tolist()
        [0.0, -0.0, 1.0]
    """
    f = lookup(fmt)
    a = np.asarray(x)
    if a.dtype not in (np.float32, np.float64):
        raise InvalidArgumentError(f"flush_subnormals: x must be a float32 or float64 array, got {a.dtype}")
    return np.where(np.abs(a) < f.min_normal, np.copysign(a.dtype.type(0), a), a)


def _codes(x: np.ndarray) -> np.ndarray:
    """The bit patterns of a 16- or 32-bit float array."""
    return x.view(np.uint16 if x.dtype.itemsize == 2 else np.uint32)


def _is_nan(codes: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    t = codes.dtype.type
    return (codes & t((1 << fmt.mag_bits) - 1)) > t(fmt.inf_code)


def _quiet(codes: np.ndarray, src: FloatFormat, dst: FloatFormat) -> np.ndarray:
    """NaN codes of ``src`` as the quiet NaN codes of ``dst`` with the same sign and payload (the
    payload's leading bits, zero-extended or truncated), as x86 converts and propagates them."""
    c = codes.astype(np.uint64)
    sign = (c >> np.uint64(src.bits - 1)) << np.uint64(dst.bits - 1)
    payload = c & np.uint64((1 << src.man_bits) - 1)
    shift = dst.man_bits - src.man_bits
    payload = payload << np.uint64(shift) if shift >= 0 else payload >> np.uint64(-shift)
    return sign | np.uint64(dst.inf_code | (1 << (dst.man_bits - 1))) | payload


def _x86_nans(result: np.ndarray, fmt: FloatFormat, operands: Sequence[tuple[np.ndarray, FloatFormat]]) -> np.ndarray:
    """Flat result codes with x86 NaNs: where an operand is NaN, the first NaN operand (in the
    order given), quieted and converted to ``fmt``; other NaN results are the default NaN (sign
    set, quiet bit set, payload 0), which is what an invalid operation returns. Every operation
    here gives a NaN result for a NaN operand, so only NaN results are looked at."""
    idx = np.flatnonzero(_is_nan(result, fmt))
    if idx.size == 0:
        return result
    nans = np.full(idx.size, fmt.sign_mask | fmt.nan_code, np.uint64)
    for codes, src in reversed(operands):  # the first operand is applied last and wins
        c = codes[idx]
        nans = np.where(_is_nan(c, src), _quiet(c, src, fmt), nans)
    out = result.copy()
    out[idx] = nans
    return out


# ---- conversions ---------------------------------------------------------------------------------
_CVT_UNITS = ("f16c", "avx512f", "avx512fp16")


def cvtps2ph(x: ArrayLike, rounding: str | RoundingMode = "nearest_even", *, unit: str = "f16c",
             impl: str = "hardware") -> np.ndarray:
    """Convert float32 to float16 as ``vcvtps2ph`` (F16C, AVX512F) or ``vcvtps2phx`` (AVX512-FP16) does.

    The rounding is the instruction's own (the imm8 of vcvtps2ph, bit 2 clear; the embedded
    rounding of vcvtps2phx), not MXCSR's. Every unit rounds the exact input once, subnormal
    inputs and results included (IEEE 754; ``lpemu.encode(x, "fp16", rounding)``); overflow gives
    +-Inf, or +-max where the rounding points toward zero. A NaN keeps its sign and the top 9 bits
    of its payload, and is quieted (x86 rule).

    Args:
        x: float32 array of any shape (Python scalars and lists are converted).
        rounding: ``nearest_even`` (imm8 0), ``down`` (1), ``up`` (2) or ``toward_zero`` (3).
        unit: ``"f16c"`` (VEX), ``"avx512f"`` (EVEX) or ``"avx512fp16"`` (vcvtps2phx).
        impl: ``"hardware"`` runs the instruction; ``"lpemu"`` reproduces it (any CPU).

    Returns:
        A float16 array of ``x``'s shape; ``.view(np.uint16)`` gives the codes.

    Raises:
        InvalidArgumentError: bad dtype, rounding, unit or impl.
        HardwareUnavailableError: ``impl="hardware"`` and the unit is missing.

    Examples:
        >>> import numpy as np
        >>> x = np.array([1 + 2**-11, 1e-7, 70000.0], np.float32)
        >>> cvtps2ph(x, "up", impl="lpemu").tolist()
        [1.0009765625, 1.1920928955078125e-07, inf]
        >>> cvtps2ph(x, "toward_zero", impl="lpemu").tolist()
        [1.0, 5.960464477539063e-08, 65504.0]
    """
    fn = "cvtps2ph"
    a = _array(fn, "x", x, np.float32)
    mode = _rounding(fn, rounding)
    unit = _choice(fn, "unit", unit, _CVT_UNITS)
    if _choice(fn, "impl", impl, _IMPLS) == "hardware":
        kernel = "cvtps2phx" if unit == "avx512fp16" else "cvtps2ph"
        codes = _run(unit, fn, kernel, [a], np.uint16, after=(_ROUNDINGS[mode],))
    else:
        u = UNITS[unit]
        v = flush_subnormals(a, FP32) if u.daz else a
        codes = _x86_nans(encode(v, FP16, mode).reshape(-1), FP16, [(_codes(a).reshape(-1), FP32)])
    return codes.reshape(a.shape).view(np.float16)


def cvtph2ps(x: ArrayLike, *, unit: str = "f16c", impl: str = "hardware") -> np.ndarray:
    """Convert float16 to float32 as ``vcvtph2ps`` (F16C, AVX512F) or ``vcvtph2psx`` (AVX512-FP16) does.

    Exact, subnormals included; a NaN keeps its sign and payload (zero-extended) and is quieted.

    Args:
        x: float16 array (``np.float16``; Python scalars and lists are converted).
        unit: ``"f16c"``, ``"avx512f"`` or ``"avx512fp16"``.
        impl: ``"hardware"`` or ``"lpemu"``.

    Returns:
        A float32 array of ``x``'s shape.

    Raises:
        InvalidArgumentError: bad dtype, unit or impl.
        HardwareUnavailableError: ``impl="hardware"`` and the unit is missing.

    Examples:
        >>> import numpy as np
        >>> y = cvtph2ps(np.array([0x0001, 0x7C01], np.uint16).view(np.float16), impl="lpemu")
        >>> y[0] == 2.0**-24, hex(int(y.view(np.uint32)[1]))
        (np.True_, '0x7fc02000')
    """
    fn = "cvtph2ps"
    a = _array(fn, "x", x, np.float16)
    unit = _choice(fn, "unit", unit, _CVT_UNITS)
    codes = _codes(a).reshape(-1)
    if _choice(fn, "impl", impl, _IMPLS) == "hardware":
        out = _run(unit, fn, "cvtph2psx" if unit == "avx512fp16" else "cvtph2ps", [codes], np.float32)
    else:
        out = _x86_nans(_codes(decode(codes, FP16, np.float32)), FP32, [(codes, FP16)]).view(np.float32)
    return out.reshape(a.shape)


# ---- AVX512-FP16 arithmetic ----------------------------------------------------------------------------
#: Operation index of kernels/hw/avx512fp16.c, the lpemu operation, and the operand count.
_FP16_ARITH: dict[str, tuple[int, Callable, int]] = {
    "add": (0, add, 2), "sub": (1, sub, 2), "mul": (2, mul, 2), "div": (3, div, 2),
    "fma": (4, fma, 3), "sqrt": (5, sqrt, 1),
}


def _fp16_arith(op: str, operands: dict[str, ArrayLike], rounding, impl: str) -> np.ndarray:
    fn = f"fp16_{op}"
    arrays = {k: _array(fn, k, v, np.float16) for k, v in operands.items()}
    shape = _same_shape(fn, **arrays)
    mode = _rounding(fn, rounding)
    codes = [_codes(a).reshape(-1) for a in arrays.values()]
    index, lpemu_op, _ = _FP16_ARITH[op]
    if _choice(fn, "impl", impl, _IMPLS) == "hardware":
        xyz = codes + [codes[0]] * (3 - len(codes))
        out = _run("avx512fp16", fn, "arith", xyz, np.uint16, before=(index,), after=(_ROUNDINGS[mode],))
    else:
        values = [decode(c, FP16, np.float32) for c in codes]
        res = encode(lpemu_op(*values, FP16, mode), FP16)
        out = _x86_nans(res, FP16, [(c, FP16) for c in codes])
    return out.reshape(shape).view(np.float16)


_FP16_DOC = """{summary}

    ``{insn}`` with embedded rounding: the exact result rounded once into float16, subnormals
    included (MXCSR.DAZ/FTZ do not apply to FP16 arithmetic); ``lpemu.{op}(..., "fp16",
    rounding)`` gives the same. NaNs follow the x86 rules: a NaN operand is returned
    quieted{order}; an invalid operation gives the default NaN 0xFE00.

    Args:
        {args}: float16 {what} (``np.float16``).
        rounding: ``nearest_even``, ``down``, ``up`` or ``toward_zero`` ({{rn,rd,ru,rz}}-sae).
        impl: ``"hardware"`` runs the AVX512-FP16 instruction; ``"lpemu"`` reproduces it.

    Returns:
        A float16 array of the operands' shape.

    Raises:
        InvalidArgumentError: bad dtype, shapes, rounding or impl.
        HardwareUnavailableError: ``impl="hardware"`` and AVX512-FP16 is missing.

    Examples:
        >>> import numpy as np
        >>> {example}
    """


def _fp16_doc(op: str, summary: str, insn: str, args: str, order: str, example: str) -> str:
    what = "arrays of one shape" if "," in args else "array"
    return _FP16_DOC.format(summary=summary, insn=insn, op=op, args=args, what=what, order=order, example=example)


def fp16_add(x: ArrayLike, y: ArrayLike, rounding: str | RoundingMode = "nearest_even", *,
             impl: str = "hardware") -> np.ndarray:
    return _fp16_arith("add", {"x": x, "y": y}, rounding, impl)


def fp16_sub(x: ArrayLike, y: ArrayLike, rounding: str | RoundingMode = "nearest_even", *,
             impl: str = "hardware") -> np.ndarray:
    return _fp16_arith("sub", {"x": x, "y": y}, rounding, impl)


def fp16_mul(x: ArrayLike, y: ArrayLike, rounding: str | RoundingMode = "nearest_even", *,
             impl: str = "hardware") -> np.ndarray:
    return _fp16_arith("mul", {"x": x, "y": y}, rounding, impl)


def fp16_div(x: ArrayLike, y: ArrayLike, rounding: str | RoundingMode = "nearest_even", *,
             impl: str = "hardware") -> np.ndarray:
    return _fp16_arith("div", {"x": x, "y": y}, rounding, impl)


def fp16_fma(x: ArrayLike, y: ArrayLike, z: ArrayLike, rounding: str | RoundingMode = "nearest_even", *,
             impl: str = "hardware") -> np.ndarray:
    return _fp16_arith("fma", {"x": x, "y": y, "z": z}, rounding, impl)


def fp16_sqrt(x: ArrayLike, rounding: str | RoundingMode = "nearest_even", *, impl: str = "hardware") -> np.ndarray:
    return _fp16_arith("sqrt", {"x": x}, rounding, impl)


_H = "np.array([{}], np.float16)"
fp16_add.__doc__ = _fp16_doc("add", "x + y in float16, as ``vaddph`` computes it.", "vaddph", "x, y", " (the first one: x, then y)",
                             f"fp16_add({_H.format('1.0, 2.0**-24')}, {_H.format('2.0**-11, 2.0**-24')}, impl='lpemu')"
                             ".tolist()\n        [1.0, 1.1920928955078125e-07]")
fp16_sub.__doc__ = _fp16_doc("sub", "x - y in float16, as ``vsubph`` computes it.", "vsubph", "x, y", " (the first one: x, then y)",
                             f"fp16_sub({_H.format('1.0')}, {_H.format('1.0')}, 'down', impl='lpemu')\n"
                             "        array([-0.], dtype=float16)")
fp16_mul.__doc__ = _fp16_doc("mul", "x * y in float16, as ``vmulph`` computes it.", "vmulph", "x, y", " (the first one: x, then y)",
                             f"fp16_mul({_H.format('300.0')}, {_H.format('300.0')}, 'toward_zero', "
                             "impl='lpemu').tolist()\n"
                             "        [65504.0]")
fp16_div.__doc__ = _fp16_doc("div", "x / y in float16, as ``vdivph`` computes it.", "vdivph", "x, y", " (the first one: x, then y)",
                             f"fp16_div({_H.format('0.0')}, {_H.format('0.0')}, impl='lpemu').view(np.uint16)\n"
                             "        array([65024], dtype=uint16)")
fp16_fma.__doc__ = _fp16_doc("fma", "x * y + z with one rounding into float16, as ``vfmadd213ph`` computes it.",
                             "vfmadd213ph", "x, y, z", " (the first one: x, then y, then z; x is "
                             "the instruction's first source)",
                             f"fp16_fma({_H.format('1 + 2**-10')}, {_H.format('1 - 2**-10')}, {_H.format('-1.0')}, "
                             "impl='lpemu').tolist()\n        [-9.5367431640625e-07]")
fp16_sqrt.__doc__ = _fp16_doc("sqrt", "The square root in float16, as ``vsqrtph`` computes it.", "vsqrtph", "x", "",
                              f"fp16_sqrt({_H.format('2.0, -0.0, -1.0')}, 'up', impl='lpemu').view(np.uint16)\n"
                              "        array([15785, 32768, 65024], dtype=uint16)")


# ---- AVX512-BF16 ----------------------------------------------------------------------------------------
def cvtneps2bf16(x: ArrayLike, *, impl: str = "hardware") -> np.ndarray:
    """Convert float32 to bfloat16 as ``vcvtneps2bf16`` does.

    Round to nearest even, with :data:`AVX512BF16`'s options: a subnormal float32 input becomes a
    zero of its sign (DAZ; lpemu's plain bfloat16 rounds it to the nearest bfloat16 subnormal),
    a NaN keeps its sign and the top 6 bits of its payload and is quieted.
    Overflow gives +-Inf. MXCSR is neither read nor written (Intel SDM); verified over every
    float32 input.

    Args:
        x: float32 array (Python scalars and lists are converted).
        impl: ``"hardware"`` or ``"lpemu"``.

    Returns:
        A bfloat16 array (``ml_dtypes.bfloat16``) of ``x``'s shape.

    Raises:
        InvalidArgumentError: bad dtype or impl.
        HardwareUnavailableError: ``impl="hardware"`` and AVX512-BF16 is missing.

    Examples:
        >>> import numpy as np
        >>> cvtneps2bf16(np.array([1 + 2**-8, 1e-39, -1e-39], np.float32), impl="lpemu").tolist()
        [1.0, 0.0, -0.0]
    """
    fn = "cvtneps2bf16"
    a = _array(fn, "x", x, np.float32)
    if _choice(fn, "impl", impl, _IMPLS) == "hardware":
        codes = _run("avx512bf16", fn, "cvtneps2bf16", [a], np.uint16)
    else:
        v = flush_subnormals(a, FP32) if AVX512BF16.daz else a
        codes = _x86_nans(encode(v, BF16).reshape(-1), BF16, [(_codes(a).reshape(-1), FP32)])
    return codes.reshape(a.shape).view(_bfloat16())


def _fp32_fma_flushed(x: np.ndarray, y: np.ndarray, z: np.ndarray, unit: Unit) -> np.ndarray:
    """One float32 fused multiply-add, nearest even, with the unit's DAZ and FTZ (float64 values).

    The sum is rounded to 24 bits in a format with float32's precision and a wider exponent
    range, so that FTZ sees the value *after* rounding (x86 detects tininess after rounding:
    2^-126 - 2^-151 rounds up to 2^-126 and is kept); then it is rounded into float32, which only
    turns overflow into Inf."""
    if unit.daz:
        x, y, z = (flush_subnormals(v, FP32) for v in (x, y, z))
    r = fma(x, y, z, _FP32_WIDE, in_fmt=_FP32_WIDE)
    if unit.ftz:
        r = flush_subnormals(r, FP32)
    return quantize(r, FP32)


def dpbf16ps(acc: ArrayLike, a: ArrayLike, b: ArrayLike, *, impl: str = "hardware") -> np.ndarray:
    """Dot products of bfloat16 pairs accumulated into float32, as ``vdpbf16ps`` computes them.

    ``out[..., i] = acc[..., i] + a[..., 2i+1] * b[..., 2i+1] + a[..., 2i] * b[..., 2i]``, computed
    as two float32 fused multiply-adds, the *high* pair (2i+1) first: ``t = fma(a1, b1, acc)``,
    ``out = fma(a0, b0, t)``. Each rounds to nearest even, and with :data:`AVX512BF16`'s options
    subnormal inputs (bf16 and acc) are read as zero and a result below 2^-126 after rounding is
    flushed to a zero of its sign. NaN priority: a0, b0, a1, b1, acc (Intel SDM Table 5-1, which
    is what the two x86 fmas give); invalid operations give the default NaN 0xFFC00000.
    Measured: this reproduces every sampled case; summing the pairs first, the low pair first,
    or one rounding of the exact sum each disagree with the hardware on about 10% of random inputs.

    Args:
        acc: float32 array of shape (..., n).
        a, b: bfloat16 arrays (``ml_dtypes.bfloat16``) of shape (..., 2n).
        impl: ``"hardware"`` or ``"lpemu"``.

    Returns:
        A float32 array of ``acc``'s shape.

    Raises:
        InvalidArgumentError: bad dtypes, shapes or impl.
        HardwareUnavailableError: ``impl="hardware"`` and AVX512-BF16 is missing.

    Examples:
        >>> import numpy as np, ml_dtypes
        >>> bf = lambda *v: np.array(v, ml_dtypes.bfloat16)
        >>> acc = np.array([1.0, 2.0**-126], np.float32)
        >>> a = bf(1.5 * 2.0**-24, 2.0**-24, -(2.0**-126), 0.0)  # lane 0: (a0, a1), lane 1: (a0, a1)
        >>> b = bf(1.0, 1.0, 2.0**-24, 0.0)
        >>> dpbf16ps(acc, a, b, impl="lpemu").tolist()  # 1 + 2^-24 ties to 1 first; 2^-126 - 2^-150 flushes
        [1.0000001192092896, 0.0]
    """
    fn = "dpbf16ps"
    acc_ = _array(fn, "acc", acc, np.float32)
    a_, b_ = (_array(fn, k, v, _bfloat16()) for k, v in (("a", a), ("b", b)))
    _pair_shapes(fn, acc_, a_, b_, 2)
    ca, cb = (_codes(v).reshape(-1, 2) for v in (a_, b_))
    if _choice(fn, "impl", impl, _IMPLS) == "hardware":
        out = _run("avx512bf16", fn, "dpbf16ps", [acc_, ca, cb], np.float32, per_lane=(1, 2, 2))
    else:
        a0, a1, b0, b1 = (decode(c, BF16, np.float64) for c in (ca[:, 0], ca[:, 1], cb[:, 0], cb[:, 1]))
        with np.errstate(invalid="ignore"):  # signalling NaNs quieten; _x86_nans restores them
            acc64 = acc_.reshape(-1).astype(np.float64)
        t = _fp32_fma_flushed(a1, b1, acc64, AVX512BF16)
        r = _fp32_fma_flushed(a0, b0, t, AVX512BF16).astype(np.float32)
        nan_operands = [(ca[:, 0], BF16), (cb[:, 0], BF16), (ca[:, 1], BF16), (cb[:, 1], BF16),
                        (_codes(acc_).reshape(-1), FP32)]
        out = _x86_nans(_codes(r), FP32, nan_operands).view(np.float32)
    return out.reshape(acc_.shape)


# ---- VNNI ----------------------------------------------------------------------------------------------
_VNNI_UNITS = ("avx512vnni", "avxvnni")


def _dpbusd(fn: str, acc, a, b, saturate: bool, unit: str, impl: str) -> np.ndarray:
    acc_ = _array(fn, "acc", acc, np.int32)
    a_ = _array(fn, "a", a, np.uint8)
    b_ = _array(fn, "b", b, np.int8)
    _pair_shapes(fn, acc_, a_, b_, 4)
    unit = _choice(fn, "unit", unit, _VNNI_UNITS)
    if _choice(fn, "impl", impl, _IMPLS) == "hardware":
        out = _run(unit, fn, "dpbusd", [acc_, a_, b_], np.int32, per_lane=(1, 4, 4), after=(int(saturate),))
    else:
        # The exact sum (|sum| < 2^32, exact in float64), then lpemu's int32 overflow policy.
        exact = acc_.reshape(-1).astype(np.int64) + (a_.reshape(-1, 4).astype(np.int64)
                                                     * b_.reshape(-1, 4).astype(np.int64)).sum(axis=1)
        out = quantize(exact.astype(np.float64), "int32", overflow="saturate" if saturate else "wrap")
        out = out.astype(np.int32)
    return out.reshape(acc_.shape)


_DPBUSD_DOC = """{summary}

    ``out[..., i] = acc[..., i] + sum_k a[..., 4i+k] * b[..., 4i+k]`` with unsigned bytes ``a``
    and signed bytes ``b``; the four products and acc are summed exactly and the sum is {how}.
    lpemu: the exact sum rounded into ``int32`` with ``overflow="{overflow}"``.

    Args:
        acc: int32 array of shape (..., n).
        a: uint8 array of shape (..., 4n).
        b: int8 array of shape (..., 4n).
        unit: ``"avx512vnni"`` (EVEX) or ``"avxvnni"`` (VEX).
        impl: ``"hardware"`` or ``"lpemu"``.

    Returns:
        An int32 array of ``acc``'s shape.

    Raises:
        InvalidArgumentError: bad dtypes, shapes, unit or impl.
        HardwareUnavailableError: ``impl="hardware"`` and the unit is missing.

    Examples:
        >>> import numpy as np
        >>> acc = np.array([2**31 - 100], np.int32)
        >>> {name}(acc, np.full(4, 255, np.uint8), np.full(4, 127, np.int8), impl="lpemu")
        {result}
    """


def dpbusd(acc: ArrayLike, a: ArrayLike, b: ArrayLike, *, unit: str = "avx512vnni",
           impl: str = "hardware") -> np.ndarray:
    return _dpbusd("dpbusd", acc, a, b, False, unit, impl)


def dpbusds(acc: ArrayLike, a: ArrayLike, b: ArrayLike, *, unit: str = "avx512vnni",
            impl: str = "hardware") -> np.ndarray:
    return _dpbusd("dpbusds", acc, a, b, True, unit, impl)


dpbusd.__doc__ = _DPBUSD_DOC.format(
    summary="u8 x s8 dot products of four byte pairs added into int32, wrapping, as ``vpdpbusd`` does.",
    how="wrapped modulo 2^32", overflow="wrap", name="dpbusd", result="array([-2147354208], dtype=int32)")
dpbusds.__doc__ = _DPBUSD_DOC.format(
    summary="u8 x s8 dot products of four byte pairs added into int32, saturating, as ``vpdpbusds`` does.",
    how="saturated to [-2^31, 2^31 - 1]", overflow="saturate", name="dpbusds",
    result="array([2147483647], dtype=int32)")


# ---- verification: hardware against the lpemu reproduction ------------------------------------------------
@dataclass
class OpCheck:
    """One operation (and rounding) compared over a set of inputs."""

    #: Function name (``"cvtps2ph"``, ``"fp16_add"``, ...).
    op: str
    #: Rounding mode name, or None for operations without a rounding control.
    rounding: str | None
    #: What was checked, in words (``"all 2^32 float32 bit patterns"``, ``"2^24 random samples"``).
    inputs: str
    #: True when every input of the operation was checked.
    exhaustive: bool
    #: Number of results compared.
    checked: int = 0
    #: Number of results whose bits differ.
    mismatches: int = 0
    #: Wall-clock time in seconds.
    seconds: float = 0.0


@dataclass
class HardwareMismatch:
    """One input on which the hardware and lpemu's reproduction of it disagree."""

    #: Function name.
    op: str
    #: Rounding mode name or None.
    rounding: str | None
    #: The operands' bit patterns in hex, one string per argument (pairs and quads joined by ``|``).
    inputs: list[str]
    #: lpemu's result bits, hex.
    expected: str
    #: The hardware's result bits, hex.
    got: str


@dataclass
class HardwareVerifyResult:
    """Outcome of :func:`verify`: one :class:`OpCheck` per operation and rounding, and the first
    counterexamples."""

    #: Unit name.
    unit: str
    #: The checks, in the order run.
    checks: list[OpCheck] = field(default_factory=list)
    #: Up to ``max_counterexamples`` per check.
    counterexamples: list[HardwareMismatch] = field(default_factory=list)
    #: Total wall-clock time in seconds.
    seconds: float = 0.0

    @property
    def mismatches(self) -> int:
        """Total mismatches over all checks."""
        return sum(c.mismatches for c in self.checks)

    @property
    def ok(self) -> bool:
        """True when the hardware and lpemu agree on every input checked."""
        return self.mismatches == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (used by ``lpemu verify --against hw:UNIT --json``)."""
        d = asdict(self)
        d["mismatches"] = self.mismatches
        d["ok"] = self.ok
        return d


def _pattern_args(dtype: Any, count: int) -> Callable[[np.ndarray], tuple]:
    """Domain index -> ``count`` operands of ``dtype`` (16-bit fields of the index, high first)."""
    width = np.dtype(dtype).itemsize * 8

    def args(idx: np.ndarray) -> tuple:
        if count == 1:
            return (idx.astype(f"u{width // 8}").view(dtype),)
        return tuple(((idx >> np.uint64(width * (count - 1 - k))) & np.uint64((1 << width) - 1))
                     .astype(np.uint16).view(dtype) for k in range(count))

    return args


def _random_bits(rng: np.random.Generator, n: int, bits: int) -> np.ndarray:
    return rng.integers(0, 1 << bits, n, dtype=np.uint64)


def _near(rng: np.random.Generator, exp: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    """Random codes of ``fmt`` with biased exponents ``exp`` (clipped to the field: 0 gives
    subnormals and zeros, the top Inf and NaN), random signs and mantissas."""
    e = np.clip(exp, 0, (1 << fmt.exp_bits) - 1).astype(np.uint64)
    m = _random_bits(rng, exp.size, fmt.man_bits)
    s = _random_bits(rng, exp.size, 1)
    return (s << np.uint64(fmt.bits - 1)) | (e << np.uint64(fmt.man_bits)) | m


def _sample_fp16_pairs(rng, n: int) -> tuple:
    return _pattern_args(np.float16, 2)(_random_bits(rng, n, 32))


def _sample_fp16_fma(rng, n: int) -> tuple:
    """Half uniform random codes; half with z near x * y in magnitude, where cancellation and
    rounding of the low bits happen."""
    h = n // 2
    x, y = (_random_bits(rng, n, 16) for _ in range(2))
    z = _random_bits(rng, n, 16)
    ex, ey = (x[h:] >> np.uint64(10)) & np.uint64(31), (y[h:] >> np.uint64(10)) & np.uint64(31)
    ez = ex.astype(np.int64) + ey.astype(np.int64) - 15 + rng.integers(-3, 4, n - h)
    z[h:] = _near(rng, ez, FP16)
    return tuple(c.astype(np.uint16).view(np.float16) for c in (x, y, z))


def _sample_dpbf16ps(rng, n: int) -> tuple:
    """One lane in eight fully random; the others around a random magnitude 2^c (c across the
    whole range, underflow and overflow included) shared by acc and both products, so that sums
    cancel, round and flush."""
    c = rng.integers(-135, 130, n)
    acc = _near(rng, c + 127 + rng.integers(-3, 4, n), FP32)
    ea = rng.integers(-2, 3, (n, 2)) + (c // 2)[:, None]
    eb = c[:, None] - ea + rng.integers(-2, 3, (n, 2))
    a = _near(rng, (ea + 127).reshape(-1), BF16)
    b = _near(rng, (eb + 127).reshape(-1), BF16)
    wild = rng.random(n) < 0.125
    acc[wild] = _random_bits(rng, int(wild.sum()), 32)
    w2 = np.repeat(wild, 2)
    a[w2], b[w2] = _random_bits(rng, int(w2.sum()), 16), _random_bits(rng, int(w2.sum()), 16)
    return (acc.astype(np.uint32).view(np.float32), a.astype(np.uint16).view(_bfloat16()),
            b.astype(np.uint16).view(_bfloat16()))


def _sample_dpbusd(rng, n: int) -> tuple:
    """Random bytes; accumulators uniform for half the lanes, within 2^18 of the int32 limits
    (where the sum wraps or saturates) for the other half."""
    acc = rng.integers(-(2**31), 2**31, n)
    edge = rng.random(n) < 0.5
    k = int(edge.sum())
    acc[edge] = np.where(rng.random(k) < 0.5, 2**31 - 1, -(2**31)) + rng.integers(-(2**18), 2**18, k)
    acc = np.clip(acc, -(2**31), 2**31 - 1).astype(np.int32)
    a = rng.integers(0, 256, 4 * n).astype(np.uint8)
    b = rng.integers(-128, 128, 4 * n).astype(np.int8)
    return acc, a, b


@dataclass(frozen=True)
class _Check:
    """How :func:`verify` checks one operation."""

    op: str
    rounded: bool  #: takes a rounding argument
    domain: int | None  #: size of the complete input domain when it is enumerated, else None
    args: Callable[[np.ndarray], tuple] | None  #: domain indices -> operands
    sample: Callable[[np.random.Generator, int], tuple] | None  #: random operands
    needs_exhaustive_flag: bool = False  #: enumerate the domain only with exhaustive=True


_CHECKS = {c.op: c for c in (
    _Check("cvtps2ph", True, 1 << 32, _pattern_args(np.float32, 1), None),
    _Check("cvtph2ps", False, 1 << 16, _pattern_args(np.float16, 1), None),
    *(_Check(f"fp16_{op}", True, 1 << 32, _pattern_args(np.float16, 2), _sample_fp16_pairs, True)
      for op in ("add", "sub", "mul", "div")),
    _Check("fp16_fma", True, None, None, _sample_fp16_fma),
    _Check("fp16_sqrt", True, 1 << 16, _pattern_args(np.float16, 1), None),
    _Check("cvtneps2bf16", False, 1 << 32, _pattern_args(np.float32, 1), None),
    _Check("dpbf16ps", False, None, None, _sample_dpbf16ps),
    _Check("dpbusd", False, None, None, _sample_dpbusd),
    _Check("dpbusds", False, None, None, _sample_dpbusd),
)}
_UNIT_ARG = ("cvtps2ph", "cvtph2ps", "dpbusd", "dpbusds")


def _apply(op: str, args: tuple, mode: RoundingMode | None, unit: str, impl: str) -> np.ndarray:
    kwargs: dict[str, Any] = {"impl": impl}
    if op in _UNIT_ARG:
        kwargs["unit"] = unit
    fn = globals()[op]
    return fn(*args, mode, **kwargs) if mode is not None else fn(*args, **kwargs)


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).view(f"u{x.dtype.itemsize}")


def _power(n: int) -> str:
    return f"2^{n.bit_length() - 1}" if n & (n - 1) == 0 else f"{n:,}"


def _describe(op: str, n: int, lo: int, hi: int, domain: int | None) -> str:
    if domain is None:
        return f"{_power(n)} random samples"
    what = {1 << 32: "float32 bit patterns" if op in ("cvtps2ph", "cvtneps2bf16") else "float16 operand pairs",
            1 << 16: "float16 codes"}[domain]
    if (lo, hi) == (0, domain):
        return f"all {_power(domain)} {what}"
    return f"{what} {lo:#x}..{hi - 1:#x}"


def verify(unit: str, ops: str | Sequence[str] | None = None, roundings: str | Sequence[str] | None = None, *,
           exhaustive: bool = False, samples: int = 1 << 24, seed: int = 0, start: int = 0, stop: int | None = None,
           chunk: int = 1 << 22, progress: bool = False, max_counterexamples: int = 10) -> HardwareVerifyResult:
    """Compare a unit's instructions with lpemu's reproduction of them, bit for bit.

    Every operation of the unit runs on the same inputs with ``impl="hardware"`` and
    ``impl="lpemu"``, for every rounding control it has. Inputs:

    * float32 -> float16/bfloat16 conversions: all 2^32 float32 bit patterns (every NaN payload
      included); float16 -> float32 and ``fp16_sqrt``: all 2^16 codes.
    * binary float16 operations: all 2^32 operand pairs with ``exhaustive=True`` (about 6 minutes
      per operation and rounding on 2 cores), else ``samples`` uniformly random pairs.
    * ``fp16_fma``, ``dpbf16ps``, ``dpbusd``/``dpbusds``: ``samples`` random inputs, drawn where
      rounding, cancellation, underflow and saturation happen (and some fully random).

    Args:
        unit: a unit name of :data:`UNITS` (``"f16c"``, ``"avx512fp16"``, ...).
        ops: the operation or operations to check (default: all of the unit's, ``Unit.ops``).
        roundings: the rounding mode or modes (default: all four x86 controls).
        exhaustive: enumerate the 2^32 operand pairs of binary float16 operations.
        samples: random inputs per sampled operation and rounding, >= 1.
        seed: seed of the random inputs (each check draws from (seed, op, rounding)).
        start, stop: restrict the enumerated 2^32 domains to the indices [start, stop) (float32
            bit patterns, or ``x << 16 | y`` for float16 pairs); ``stop=None`` means 2^32.
        chunk: inputs per batch.
        progress: show a progress bar on stderr.
        max_counterexamples: counterexamples kept per check.

    Returns:
        A :class:`HardwareVerifyResult`; ``.ok`` is True when nothing differs.

    Raises:
        InvalidArgumentError: unknown unit, operation or rounding, or bad numbers.
        HardwareUnavailableError: the unit is missing on this machine.

    Examples:
        >>> r = verify("f16c", ops=["cvtph2ps"])  # doctest: +SKIP
        >>> r.ok, r.checks[0].inputs  # doctest: +SKIP
        (True, 'all 2^16 float16 codes')
    """
    if unit not in UNITS:
        raise InvalidArgumentError(f"verify: unit must be one of {', '.join(UNITS)}, got {unit!r}")
    u = UNITS[unit]
    ops = list(u.ops if ops is None else [ops] if isinstance(ops, str) else ops)
    for op in ops:
        _choice("verify", "op", op, u.ops)
    roundings = [roundings] if isinstance(roundings, (str, RoundingMode)) else roundings
    modes = [_rounding("verify", r) for r in (roundings or list(_ROUNDINGS))]
    samples = check_int("verify samples", samples, 1, 1 << 32)
    chunk = check_int("verify chunk", chunk, 1, 1 << 26)
    seed = check_int("verify seed", seed, 0, 2**63 - 1)
    start = check_int("verify start", start, 0, (1 << 32) - 1)
    stop = check_int("verify stop", 1 << 32 if stop is None else stop, start + 1, 1 << 32)
    _library(unit, "verify")

    plan = []
    for op in ops:
        chk = _CHECKS[op]
        enumerate_ = chk.domain is not None and (exhaustive or not chk.needs_exhaustive_flag)
        if not enumerate_:
            lo, hi = 0, samples
        elif chk.domain == 1 << 32:
            lo, hi = start, stop
        else:
            lo, hi = 0, chk.domain
        for mode in (modes if chk.rounded else [None]):
            plan.append((chk, mode, enumerate_, lo, hi))
    result = HardwareVerifyResult(unit)
    bar = task = None
    if progress:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=Console(stderr=True))
        task = bar.add_task(f"verify hw:{unit}", total=sum(max(hi - lo, 0) for *_, lo, hi in plan))
        bar.start()
    t_all = time.perf_counter()
    try:
        for chk, mode, enumerate_, lo, hi in plan:
            rname = None if mode is None else mode.value
            check = OpCheck(chk.op, rname, _describe(chk.op, hi - lo, lo, hi, chk.domain if enumerate_ else None),
                            exhaustive=enumerate_ and (lo, hi) == (0, chk.domain))
            rng = np.random.default_rng([seed, sum(chk.op.encode()), 0 if mode is None else mode.code + 1])
            t0 = time.perf_counter()
            kept = 0
            for base in range(lo, hi, chunk):
                n = min(chunk, hi - base)
                if enumerate_:
                    args = chk.args(np.arange(base, base + n, dtype=np.uint64))
                else:
                    args = chk.sample(rng, n)
                got = _bits(_apply(chk.op, args, mode, unit, "hardware")).reshape(-1)
                want = _bits(_apply(chk.op, args, mode, unit, "lpemu")).reshape(-1)
                bad = np.flatnonzero(got != want)
                check.checked += n
                check.mismatches += bad.size
                for i in bad[: max_counterexamples - kept]:
                    rows = [_bits(a).reshape(n, -1)[i] for a in args]
                    result.counterexamples.append(HardwareMismatch(
                        chk.op, rname, ["|".join(f"{int(v):#x}" for v in row) for row in rows],
                        f"{int(want[i]):#x}", f"{int(got[i]):#x}"))
                kept = min(kept + bad.size, max_counterexamples)
                if bar is not None:
                    bar.advance(task, n)
            check.seconds = time.perf_counter() - t0
            result.checks.append(check)
    finally:
        if bar is not None:
            bar.stop()
    result.seconds = time.perf_counter() - t_all
    return result
