"""Named formats: the presets in use, P3109 formats, and lookup by name.

Names follow ml_dtypes: ``fn`` = finite (no Inf, NaN only at all-ones), ``fnuz`` = finite,
no negative zero (NaN at the -0 code), ``u`` = unsigned, ``b11`` = non-default bias 11.
P3109 names are ``binary{K}p{P}{s|u}{e|f}`` (signed/unsigned, extended with Inf / finite).

Adding a preset means adding one entry to :data:`PRESETS`; the CLI, ``lpemu.format`` and the
tests read the registry.
"""

from __future__ import annotations

import re

import numpy as np

from ._formats import FixedFormat, FloatFormat, IntFormat, Specials
from .errors import InvalidFormatError, check_int

__all__ = [
    "FP64", "FP32", "TF32", "BF16", "FP16", "E5M2", "E4M3", "E4M3_IEEE", "E3M4", "E4M3FNUZ",
    "E5M2FNUZ", "E4M3B11FNUZ", "E3M2", "E2M3", "E2M1", "E8M0", "INT8", "UINT8", "INT4", "INT16",
    "PRESETS", "p3109", "lookup",
]

FP64 = FloatFormat(11, 52, name="float64")
FP32 = FloatFormat(8, 23, name="float32")
TF32 = FloatFormat(8, 10, name="tf32")
BF16 = FloatFormat(8, 7, name="bfloat16")
FP16 = FloatFormat(5, 10, name="float16")
#: OCP FP8 E5M2 (IEEE-like: Inf and NaN), max 57344.
E5M2 = FloatFormat(5, 2, name="float8_e5m2")
#: OCP FP8 E4M3 ("fn": no Inf, NaN = S.1111.111), max 448.
E4M3 = FloatFormat(4, 3, specials=Specials.FN, name="float8_e4m3fn")
#: IEEE-like E4M3 (ml_dtypes float8_e4m3), max 240.
E4M3_IEEE = FloatFormat(4, 3, name="float8_e4m3")
#: IEEE-like E3M4 (ml_dtypes float8_e3m4), max 15.5.
E3M4 = FloatFormat(3, 4, name="float8_e3m4")
#: E4M3 with bias 8, no Inf, NaN at 0x80, no -0 (AMD/Graphcore), max 240.
E4M3FNUZ = FloatFormat(4, 3, bias=8, specials=Specials.FNUZ, name="float8_e4m3fnuz")
#: E5M2 with bias 16, no Inf, NaN at 0x80, no -0, max 57344.
E5M2FNUZ = FloatFormat(5, 2, bias=16, specials=Specials.FNUZ, name="float8_e5m2fnuz")
#: E4M3 with bias 11, no Inf, NaN at 0x80, no -0 (ml_dtypes float8_e4m3b11fnuz), max 30.
E4M3B11FNUZ = FloatFormat(4, 3, bias=11, specials=Specials.FNUZ, name="float8_e4m3b11fnuz")
#: OCP FP6 E3M2, no Inf/NaN, max 28.
E3M2 = FloatFormat(3, 2, specials=Specials.NONE, name="float6_e3m2fn")
#: OCP FP6 E2M3, no Inf/NaN, max 7.5.
E2M3 = FloatFormat(2, 3, specials=Specials.NONE, name="float6_e2m3fn")
#: OCP FP4 E2M1, no Inf/NaN, values {0, 0.5, 1, 1.5, 2, 3, 4, 6}.
E2M1 = FloatFormat(2, 1, specials=Specials.NONE, name="float4_e2m1fn")
#: OCP E8M0 scale: unsigned powers of two 2^-127..2^127, NaN = 0xFF, no zero.
E8M0 = FloatFormat(8, 0, signed=False, subnormals=False, specials=Specials.FN, zero=False, name="float8_e8m0fnu")
INT8 = IntFormat(8)
UINT8 = IntFormat(8, signed=False)
INT4 = IntFormat(4)
INT16 = IntFormat(16)


def p3109(k: int, p: int, signed: bool = True, extended: bool = True) -> FloatFormat:
    """The IEEE P3109 format binary{k}p{p} (interim report semantics, as in gfloat).

    ``p`` counts the implicit bit. Signed formats have bias ``2^(k-p-1)``, one NaN at
    ``0x80`` and no -0; extended formats have +Inf at the largest code and -Inf at the largest
    negative code.

    Args:
        k: width in bits, 2..16.
        p: precision in bits including the implicit bit, 1..k-1 (signed) or 1..k (unsigned).
        signed: signed (``s``) or unsigned (``u``) domain.
        extended: with infinities (``e``) or finite only (``f``).

    Examples:
        >>> f = p3109(8, 3)
        >>> f.name, f.max, f.min_subnormal
        ('binary8p3se', 49152.0, 7.62939453125e-06)
    """
    k = check_int("p3109.k", k, 2, 16, InvalidFormatError)
    p = check_int("p3109.p", p, 1, k - 1 if signed else k, InvalidFormatError)
    exp_bits = k - p if signed else k - p + 1
    if exp_bits < 1:
        raise InvalidFormatError(f"p3109.p must leave at least one exponent bit; got k={k}, p={p}")
    bias = 2 ** (k - p - 1) if signed else 2 ** (k - p)
    name = f"binary{k}p{p}{'s' if signed else 'u'}{'e' if extended else 'f'}"
    return FloatFormat(exp_bits, p - 1, bias=bias, signed=signed, specials=Specials.P3109,
                       infinities=extended, name=name)


#: Every preset, keyed by its canonical (ml_dtypes-style) name.
PRESETS: dict[str, FloatFormat | FixedFormat] = {
    f.name: f
    for f in (FP64, FP32, TF32, BF16, FP16, E5M2, E4M3, E4M3_IEEE, E3M4, E4M3FNUZ, E5M2FNUZ,
              E4M3B11FNUZ, E3M2, E2M3, E2M1, E8M0, INT8, UINT8, INT4, INT16)
}

_ALIASES = {
    "fp64": "float64", "f64": "float64", "double": "float64",
    "fp32": "float32", "f32": "float32", "single": "float32",
    "bf16": "bfloat16", "fp16": "float16", "f16": "float16", "half": "float16",
    "e5m2": "float8_e5m2", "fp8_e5m2": "float8_e5m2",
    "e4m3": "float8_e4m3fn", "e4m3fn": "float8_e4m3fn", "fp8_e4m3": "float8_e4m3fn",
    "e4m3_ieee": "float8_e4m3", "e3m4": "float8_e3m4",
    "e4m3fnuz": "float8_e4m3fnuz", "e5m2fnuz": "float8_e5m2fnuz", "e4m3b11fnuz": "float8_e4m3b11fnuz",
    "e3m2": "float6_e3m2fn", "fp6_e3m2": "float6_e3m2fn", "e2m3": "float6_e2m3fn", "fp6_e2m3": "float6_e2m3fn",
    "e2m1": "float4_e2m1fn", "fp4": "float4_e2m1fn", "fp4_e2m1": "float4_e2m1fn",
    "e8m0": "float8_e8m0fnu", "e8m0fnu": "float8_e8m0fnu",
}

_P3109_RE = re.compile(r"^binary(\d+)p(\d+)([su])([ef])$")
_INT_RE = re.compile(r"^(u?)int(\d+)$")


def lookup(name: str | FloatFormat | FixedFormat | np.dtype | type) -> FloatFormat | FixedFormat:
    """Find a format by its lpemu or ml_dtypes name (exported as ``lpemu.format``).

    Accepts preset names and aliases (``"e4m3"``, ``"float8_e4m3fn"``, ``"bf16"``), P3109
    names (``"binary8p3se"``), integer names (``"int8"``, ``"uint4"``), numpy/ml_dtypes dtypes,
    and format objects (returned unchanged).

    Raises:
        InvalidFormatError: the name is unknown.

    Examples:
        >>> lookup("e4m3").max
        448.0
        >>> lookup("binary8p4sf").max
        240.0
    """
    if isinstance(name, (FloatFormat, FixedFormat)):
        return name
    if not isinstance(name, str):
        try:
            name = np.dtype(name).name
        except TypeError:
            raise InvalidFormatError(f"format must be a format object, a name or a dtype; got {name!r}") from None
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key in PRESETS:
        return PRESETS[key]
    m = _P3109_RE.match(key)
    if m:
        return p3109(int(m[1]), int(m[2]), signed=m[3] == "s", extended=m[4] == "e")
    m = _INT_RE.match(key)
    if m:
        return IntFormat(int(m[2]), signed=not m[1])
    known = ", ".join(sorted(set(PRESETS) | set(_ALIASES)))
    raise InvalidFormatError(f"unknown format {name!r}; known names: {known}, binary{{K}}p{{P}}{{s|u}}{{e|f}}, intN, uintN")
