"""Block formats: a format for the elements, a block size and a format for the shared scales.

A :class:`BlockFormat` describes how a tensor is cut into blocks of ``block_size`` consecutive
elements along one axis, how each block's scale is chosen (``scale_rule``) and how the scaled
elements are rounded. Every place where the references disagree is a named field.

Presets: OCP MX v1.0 (:data:`MXFP8_E4M3`, :data:`MXFP8_E5M2`, :data:`MXFP6_E3M2`,
:data:`MXFP6_E2M3`, :data:`MXFP4`, :data:`MXINT8`), :data:`NVFP4`, the microsoft/microxcaling
flavours (``MX_COMPAT``), :func:`bfp` (MSFP) and :func:`dynamic_fixed_point`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .._formats import FixedFormat, FloatFormat
from .._modes import RoundingMode, rounding_mode
from ..errors import InvalidFormatError, check_int
from ..formats import E2M1, E2M3, E3M2, E4M3, E5M2, E8M0, lookup

__all__ = [
    "BlockFormat", "SCALE_RULES", "MXFP8_E4M3", "MXFP8_E5M2", "MXFP6_E3M2", "MXFP6_E2M3", "MXFP4", "MXINT8",
    "NVFP4", "MX_COMPAT", "bfp", "dynamic_fixed_point", "microxcaling",
]

#: Scale rules and what they compute (``E = floor(log2 amax)``, ``emax`` the element format's
#: largest exponent, the scale is ``2^s``):
#:
#: * ``floor`` (alias ``ocp``): ``s = E - emax``, OCP MX v1.0 / arXiv 2310.10537 Algorithm 1,
#:   microxcaling's "max" method, gfloat's ``compute_scale_amax`` and torchao ``FLOOR``. The
#:   largest elements of some blocks clip to the element maximum (microxcaling issue #4).
#: * ``ceil``: ``s = ceil(log2 amax) - emax`` (torchao ``CEIL``).
#: * ``even`` (alias ``nearest``): amax first rounded to the element's mantissa width, ties
#:   away, then ``floor`` (torchao ``EVEN``).
#: * ``rceil``: the smallest ``s`` with ``amax / 2^s <= max_elem`` (torchao ``RCEIL``, NVIDIA's
#:   ``cvt.rp`` of ``amax / max_elem`` to UE8M0): nothing clips.
#: * ``amax``: scales with mantissa bits (NVFP4's E4M3): ``s = round_scale(amax / max_elem * S_enc)``.
SCALE_RULES = ("floor", "ceil", "even", "rceil", "amax")
_RULE_ALIASES = {"ocp": "floor", "nearest": "even"}
_NONFINITE = ("nan", "elementwise")
_SCALE_OVERFLOW = ("saturate", "nan")
_ELEMENT_SCALE = ("rounded", "unrounded")


def _is_pow2_scale(fmt: FloatFormat) -> bool:
    return fmt.man_bits == 0


@dataclass(frozen=True)
class BlockFormat:
    """A block-scaled format: ``block_size`` elements of ``element`` share one ``scale``.

    Quantization (:func:`lpemu.block.quantize`) of one block ``V`` with a power-of-two scale
    format (E8M0): ``amax = max |V_i|`` over the finite elements, ``s`` from ``scale_rule``,
    clamped to the scale format's exponent range, ``P_i = round_elem(V_i / 2^s)`` exactly (one
    rounding with ``rounding``; ``saturate`` clamps to the element's largest value), and the
    dequantized value is ``P_i * 2^s``. An all-zero block gets the smallest scale (2^-127).

    With a scale format that has mantissa bits (``scale_rule="amax"``, NVFP4), the scale math is
    float32 arithmetic as in NVIDIA's recipe: ``S_enc = scale.max * element.max / tensor_amax``
    (``min`` FLT_MAX; 1 when the amax is 0; 1 without ``tensor_scale``),
    ``s = round_scale(amax / element.max * S_enc)`` (RNE, saturating),
    ``P_i = round_elem(V_i * (S_enc / s))`` and the value ``P_i * s / S_enc``. Each float32
    operation is correctly rounded with subnormal inputs and results flushed to zero (the
    FTZ/DAZ behaviour of XLA on CPU and of GPU kernels built with ftz), so that the numpy and JAX
    backends agree bit for bit. A block whose ``s`` rounds to 0 quantizes to zeros.

    Args:
        element: element format (object or name): a :class:`~lpemu.FloatFormat` or a
            :class:`~lpemu.FixedFormat`/:class:`~lpemu.IntFormat` (integers are read as
            two's-complement fixed point: MXINT8 is ``FixedFormat(1, 6)``, k / 64).
        block_size: elements per block, 1..2^20, or ``None`` for one block per tensor (the
            whole array, every axis: dynamic fixed point).
        scale: scale format: exponent-only (``man_bits == 0``, e.g. E8M0) for power-of-two
            scales, or a float format with mantissa bits (E4M3) for ``scale_rule="amax"``.
        scale_rule: see :data:`SCALE_RULES`; ``None`` picks ``floor`` for power-of-two scales
            and ``amax`` otherwise.
        rounding: element rounding mode (any lpemu mode; default ``nearest_even``). The
            microxcaling reference rounds ties away (``nearest_away``).
        saturate: elements beyond the element format's range clamp to +-max (OCP). With False
            a float element overflows as the element format does alone (E4M3 NaN, E5M2 Inf);
            integer elements always saturate.
        symmetric: integer elements clamp to [-max_int, max_int] (microxcaling MXINT8 and MSFP:
            -2.0 of MXINT8 is never produced).
        flush_subnormals: fp32-subnormal inputs (0 < |x| < 2^-126) count as zero, before the
            scale is computed (arXiv 2310.10537 Algorithm 1; not part of the OCP spec).
        nonfinite: a block with an Inf or NaN: ``"nan"`` (microxcaling; default) makes the
            whole block NaN (scale code = the scale format's NaN, element codes 0);
            ``"elementwise"`` computes the scale from the finite elements and rounds Inf/NaN as
            the element format does alone (the Inf saturates with ``saturate``).
        scale_overflow: a scale exponent above the scale format's range (float64 inputs, or
            ``ceil``/``rceil`` at the top of float32): ``"saturate"`` (gfloat; default) uses the
            largest scale, ``"nan"`` (microxcaling) makes the block NaN. Exponents below the
            range always use the smallest scale.
        element_scale: ``amax`` rule only: elements divide by the ``"rounded"`` scale (default;
            TransformerEngine 2-D and Python references) or the ``"unrounded"`` float32 one
            (the 1-D C++ reference).
        tensor_scale: ``amax`` rule only: use the float32 per-tensor scale ``S_enc`` (NVFP4).
        name: display name.

    Raises:
        InvalidFormatError: a field is out of range or the combination is unsupported.

    Examples:
        >>> MXFP4.block_size, MXFP4.scale.name, MXFP4.scale_rule
        (32, 'float8_e8m0fnu', 'floor')
        >>> BlockFormat("e4m3", 32, "e8m0", scale_rule="rceil").emax_element
        8
        >>> NVFP4.scale_rule, NVFP4.tensor_scale
        ('amax', True)
    """

    #: Element format.
    element: FloatFormat | FixedFormat
    #: Elements per block (None: one block for the whole tensor).
    block_size: int | None
    #: Scale format (E8M0, E4M3, ...).
    scale: FloatFormat = E8M0
    #: How the scale is chosen from the block's amax (:data:`SCALE_RULES`).
    scale_rule: str | None = None
    #: Element rounding mode.
    rounding: RoundingMode = RoundingMode.NEAREST_EVEN
    #: Clamp out-of-range elements to +-max.
    saturate: bool = True
    #: Integer elements clamp to +-max_int.
    symmetric: bool = False
    #: Treat fp32-subnormal inputs as zero.
    flush_subnormals: bool = False
    #: What a block holding Inf/NaN becomes: "nan" or "elementwise".
    nonfinite: str = "nan"
    #: Scale exponent above range: "saturate" or "nan".
    scale_overflow: str = "saturate"
    #: amax rule: elements divide by the "rounded" or "unrounded" block scale.
    element_scale: str = "rounded"
    #: amax rule: use a float32 per-tensor scale.
    tensor_scale: bool = False
    #: Display name.
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        err = InvalidFormatError
        set_ = object.__setattr__
        try:
            elem = lookup(self.element)
            scale = lookup(self.scale)
        except InvalidFormatError as e:
            raise err(f"BlockFormat: {e}") from None
        set_(self, "element", elem)
        set_(self, "scale", scale)
        if self.block_size is not None:
            set_(self, "block_size", check_int("BlockFormat.block_size", self.block_size, 1, 1 << 20, err))
        if not isinstance(scale, FloatFormat):
            raise err(f"BlockFormat.scale must be a float format such as E8M0 or E4M3, got {scale.name}")
        if isinstance(elem, FloatFormat):
            if not elem.zero:
                raise err(f"BlockFormat.element must have a zero; {elem.name} is an exponent-only scale format")
            if elem.emin - elem.man_bits < -90:
                raise err(f"BlockFormat.element's smallest quantum 2^{elem.emin - elem.man_bits} is below 2^-90")
        elif elem.frac_bits > 90:
            raise err(f"BlockFormat.element's quantum 2^-{elem.frac_bits} is below 2^-90")
        pow2 = _is_pow2_scale(scale)
        rule = self.scale_rule
        if rule is None:
            rule = "floor" if pow2 else "amax"
        rule = _RULE_ALIASES.get(rule, rule) if isinstance(rule, str) else rule
        if rule not in SCALE_RULES:
            raise err(f"BlockFormat.scale_rule must be one of {', '.join(SCALE_RULES)} (or ocp, nearest), got {self.scale_rule!r}")
        if pow2 and rule == "amax":
            raise err(f"BlockFormat.scale_rule='amax' needs a scale with mantissa bits; {scale.name} is exponent-only")
        if not pow2 and rule != "amax":
            raise err(f"BlockFormat.scale_rule must be 'amax' for scale {scale.name} (it has mantissa bits), got {rule!r}")
        if pow2 and (not scale.zero and not scale.has_nan):
            raise err(f"BlockFormat.scale {scale.name} is unsupported")
        if not pow2 and (not scale.signed and scale.zero is False):
            raise err(f"BlockFormat.scale {scale.name} is unsupported")
        set_(self, "scale_rule", rule)
        try:
            set_(self, "rounding", rounding_mode(self.rounding))
        except ValueError as e:
            raise err(f"BlockFormat.rounding: {e}") from None
        for flag in ("saturate", "symmetric", "flush_subnormals", "tensor_scale"):
            v = getattr(self, flag)
            if not isinstance(v, (bool, np.bool_)):
                raise err(f"BlockFormat.{flag} must be a bool, got {v!r}")
            set_(self, flag, bool(v))
        for name, allowed in (("nonfinite", _NONFINITE), ("scale_overflow", _SCALE_OVERFLOW),
                              ("element_scale", _ELEMENT_SCALE)):
            if getattr(self, name) not in allowed:
                raise err(f"BlockFormat.{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if isinstance(elem, FixedFormat) and not self.saturate:
            raise err("BlockFormat.saturate=False is for float elements; integer elements always saturate")
        if self.symmetric and not isinstance(elem, FixedFormat):
            raise err(f"BlockFormat.symmetric=True is for integer elements, not {elem.name}")
        if (self.nonfinite == "nan" or self.scale_overflow == "nan") and not scale.has_nan:
            raise err(f"BlockFormat: nonfinite/scale_overflow 'nan' need a scale format with a NaN; {scale.name} has none")
        if rule != "amax" and (self.tensor_scale or self.element_scale != "rounded"):
            raise err("BlockFormat.tensor_scale and element_scale are for scale_rule='amax'")
        if not self.name:
            set_(self, "name", f"block({elem.name}, {self.block_size}, {scale.name})")

    # ---- derived --------------------------------------------------------------------------
    @property
    def pow2_scale(self) -> bool:
        """Whether the scales are powers of two (an exponent-only scale format)."""
        return _is_pow2_scale(self.scale)

    @property
    def emax_element(self) -> int:
        """floor(log2(element max)): the exponent the largest element of a block is scaled to."""
        elem = self.element
        if isinstance(elem, FloatFormat):
            return elem.emax
        return elem.max_int.bit_length() - 1 - elem.frac_bits

    @property
    def element_max_significand(self) -> tuple[int, int]:
        """(sig, m): the element maximum is ``sig * 2^(emax_element - m)``, ``2^m <= sig < 2^(m+1)``."""
        elem = self.element
        if isinstance(elem, FloatFormat):
            from fractions import Fraction

            m = elem.man_bits
            sig = Fraction(elem.max) / Fraction(2) ** (elem.emax - m)
            return int(sig), m
        mx = elem.max_int if not self.symmetric else elem.max_int
        return mx, mx.bit_length() - 1

    @property
    def element_mantissa_bits(self) -> int:
        """Mantissa bits of the element used by the ``even`` rule (precision - 1)."""
        elem = self.element
        if isinstance(elem, FloatFormat):
            return elem.man_bits
        return elem.max_int.bit_length() - 1

    @property
    def scale_range(self) -> tuple[int, int]:
        """(smallest, largest) scale exponent of a power-of-two scale format."""
        return self.scale.emin, self.scale.emax

    def replace(self, **changes) -> "BlockFormat":
        """A copy with some fields changed (validated again).

        Examples:
            >>> MXFP4.replace(rounding="nearest_away").rounding.value
            'nearest_away'
        """
        changes.setdefault("name", "")
        return dataclasses.replace(self, **changes)

    def __str__(self) -> str:
        return self.name


class BlockParams(NamedTuple):
    """Plain-int parameters of the block kernels (kernels/numba/block.py, kernels/jax/block.py)."""

    k: int  #: block size (the padded row length for per-tensor blocks)
    rule: int  #: index in SCALE_RULES
    emax_e: int  #: element emax
    even_bits: int  #: element mantissa bits for the "even" rule
    msig: int  #: element max significand (rceil)
    mt_e: int  #: its mantissa bits
    smin: int  #: smallest scale exponent
    smax: int  #: largest scale exponent
    sbias: int  #: scale code of 2^0 (power-of-two scales)
    snan: int  #: scale NaN code
    scale_nan: int  #: 1: scale overflow gives a NaN block
    nonfinite_nan: int  #: 1: blocks with Inf/NaN are NaN
    flush: int  #: flush fp32-subnormal inputs
    fixed: int  #: 1: fixed-point elements
    symmetric: int  #: clamp integers to +-kmax
    tiny_bits: int  #: container bits of 2^-126
    unrounded: int  #: amax rule: divide by the unrounded scale
    tensor_scale: int  #: amax rule: use S_enc
    emax_c: int  #: container's largest exponent
    scale_max: float  #: amax rule: scale.max
    elem_max: float  #: amax rule: element.max


def _mx(element, name: str, **kw) -> BlockFormat:
    return BlockFormat(element, 32, E8M0, name=name, **kw)


#: OCP MX v1.0 MXFP8 with E4M3 elements (block 32, E8M0 scale).
MXFP8_E4M3 = _mx(E4M3, "mxfp8_e4m3")
#: OCP MX v1.0 MXFP8 with E5M2 elements.
MXFP8_E5M2 = _mx(E5M2, "mxfp8_e5m2")
#: OCP MX v1.0 MXFP6 with E3M2 elements.
MXFP6_E3M2 = _mx(E3M2, "mxfp6_e3m2")
#: OCP MX v1.0 MXFP6 with E2M3 elements.
MXFP6_E2M3 = _mx(E2M3, "mxfp6_e2m3")
#: OCP MX v1.0 MXFP4 (E2M1 elements).
MXFP4 = _mx(E2M1, "mxfp4")
#: OCP MX v1.0 MXINT8: 8-bit two's complement k / 64 (0x80 = -2.0).
MXINT8 = _mx(FixedFormat(1, 6, name="mxint8_element"), "mxint8")
#: NVIDIA NVFP4: E2M1 elements, blocks of 16, E4M3 block scale, float32 per-tensor scale.
NVFP4 = BlockFormat(E2M1, 16, E4M3, "amax", tensor_scale=True, name="nvfp4")


def microxcaling(fmt: BlockFormat) -> BlockFormat:
    """The microsoft/microxcaling reference flavour of a power-of-two block format.

    Elements round ties away (its ``'nearest'``), integer elements clamp symmetrically, blocks
    with Inf/NaN and scale overflows give NaN blocks.

    Examples:
        >>> microxcaling(MXINT8).symmetric, microxcaling(MXFP4).rounding.value
        (True, 'nearest_away')
    """
    if not fmt.pow2_scale:
        raise InvalidFormatError(f"microxcaling() takes a power-of-two block format, got {fmt.name}")
    return fmt.replace(rounding=RoundingMode.NEAREST_AWAY, symmetric=isinstance(fmt.element, FixedFormat),
                       nonfinite="nan", scale_overflow="nan", name=f"{fmt.name}_microxcaling")


#: The MX presets in their microxcaling flavour, by preset name.
MX_COMPAT = {f.name: microxcaling(f) for f in (MXFP8_E4M3, MXFP8_E5M2, MXFP6_E3M2, MXFP6_E2M3, MXFP4, MXINT8)}


def bfp(mantissa_bits: int, block_size: int = 16) -> BlockFormat:
    """Block floating point / MSFP: sign-magnitude integer mantissas sharing a power of two.

    Elements are ``round(V / X * 2^(b-2)) / 2^(b-2)`` clamped to ``+-(2^(b-1) - 1) / 2^(b-2)``
    with ``X = 2^floor(log2 amax)`` and ``b = mantissa_bits`` counting the sign (MSFP12 is
    ``bfp(4, 16)``, MSFP16 ``bfp(8, 16)``); E8M0 scale, nearest-even.

    Args:
        mantissa_bits: element width with sign, 2..24.
        block_size: elements per block.

    Examples:
        >>> f = bfp(8, 16)
        >>> f.element.max, f.symmetric, f.emax_element
        (1.984375, True, 0)
    """
    b = check_int("bfp.mantissa_bits", mantissa_bits, 2, 24, InvalidFormatError)
    return BlockFormat(FixedFormat(1, b - 2), block_size, E8M0, symmetric=True, name=f"bfp{b}_{block_size}")


def dynamic_fixed_point(bits: int = 16) -> BlockFormat:
    """Dynamic fixed point (Das et al. 2018): one shared exponent per tensor, ``bits``-bit integers.

    ``E_s = floor(log2 amax) - (bits - 2)``, ``I = round(x / 2^E_s)`` clamped to
    ``+-(2^(bits-1) - 1)``: the per-tensor case of :func:`bfp`.

    Examples:
        >>> dynamic_fixed_point().element.frac_bits, dynamic_fixed_point().block_size
        (14, None)
    """
    b = check_int("dynamic_fixed_point.bits", bits, 2, 24, InvalidFormatError)
    return BlockFormat(FixedFormat(1, b - 2), None, E8M0, symmetric=True, name=f"dfp{b}")
