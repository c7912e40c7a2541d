"""Rich tables of format properties (``FloatFormat.__rich__``, ``lpemu formats``, ``lpemu info``).

Display only: every number shown comes from the descriptor's own properties
(:meth:`FloatFormat.summary` and friends); nothing here rounds or encodes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from rich.table import Table

from ._formats import FixedFormat, FloatFormat, IntFormat

__all__ = ["format_table", "format_number"]

#: Column headers of :func:`format_table`, in order.
COLUMNS = ("name", "bits", "E/M", "bias", "specials", "Inf", "NaN", "subnormals", "max",
           "min normal", "min subnormal", "eps", "finite values")


def format_number(v: float) -> str:
    """A compact, exact-where-short rendering of a format property.

    Integers below 10^7 print as integers; powers of two far from 1 as ``2^e`` (exact, and how
    format ranges are usually read); other values with 6 significant digits.

    Examples:
        >>> format_number(448.0), format_number(0.001953125), format_number(0.3), format_number(65504.0)
        ('448', '2^-9', '0.3', '65504')
    """
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v == 0:
        return "0"
    if v == int(v) and abs(v) < 1e7:
        return str(int(v))
    mant, exp = math.frexp(abs(v))
    if mant == 0.5 and not -4 <= exp - 1 <= 16:
        return f"{'-' if v < 0 else ''}2^{exp - 1}"
    return f"{v:.6g}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _float_row(f: FloatFormat) -> list[str]:
    # E8M0-like formats have no zero: their smallest value is 2^emin, shown as "min normal".
    return [
        f.name, str(f.bits), f"E{f.exp_bits}M{f.man_bits}", str(f.bias),
        f.specials.value + ("" if f.signed else ", unsigned") + ("" if f.zero else ", no zero"),
        _yes(f.infinities), _yes(f.has_nan), _yes(f.subnormals and f.man_bits > 0),
        format_number(f.max), format_number(f.min_normal),
        format_number(f.min_subnormal) if f.subnormals and f.man_bits > 0 else "",
        format_number(f.eps), str(f.num_finite),
    ]


def _fixed_row(f: FixedFormat) -> list[str]:
    # Fixed point has no exponent: E/M shows the Qm.n shape, eps the grid spacing (quantum).
    kind = "int" if isinstance(f, IntFormat) else "fixed"
    kind += ", two's compl." if f.signed else ", unsigned"
    q = f"{'' if f.signed else 'U'}Q{f.int_bits}.{f.frac_bits}"
    return [f.name, str(f.bits), q, "", kind, "no", "no", "", format_number(f.max), "", "",
            format_number(f.quantum), str(f.num_finite)]


def format_table(formats: Iterable[FloatFormat | FixedFormat], title: str | None = None) -> Table:
    """A :class:`rich.table.Table` with one row per format and the columns of :data:`COLUMNS`.

    Float formats fill every column; integer and fixed-point rows show their Qm.n shape under
    E/M, their quantum under eps, and leave the float-only columns blank.

    Args:
        formats: format descriptors (``lpemu.formats.PRESETS.values()``, or a single one in a list).
        title: optional table title.

    Returns:
        A rich Table; print it with ``rich.print`` or a ``Console``.

    Examples:
        >>> from lpemu.formats import E4M3
        >>> t = format_table([E4M3])
        >>> t.row_count, [c.header for c in t.columns][:3]
        (1, ['name', 'bits', 'E/M'])
    """
    rows = []
    for f in formats:
        if isinstance(f, FloatFormat):
            rows.append(_float_row(f))
        elif isinstance(f, FixedFormat):
            rows.append(_fixed_row(f))
        else:
            raise TypeError(f"format_table expects FloatFormat/FixedFormat objects, got {f!r}")
    table = Table(title=title, caption="eps: spacing above 1.0 (floats) or the quantum (fixed point)")
    for i, col in enumerate(COLUMNS):
        numeric = col in ("bits", "bias", "max", "min normal", "min subnormal", "eps", "finite values")
        # In a narrow console rich shrinks columns; a number cut to "4…" would mislead, so cells
        # keep their width (headers and the specials text may wrap at spaces instead).
        cells = [w for r in rows for w in r[i].split()] if col == "specials" else [r[i] for r in rows]
        widest = max(len(w) for w in col.split() + cells)
        table.add_column(col, justify="right" if numeric else "left", min_width=widest)
    for r in rows:
        table.add_row(*r)
    return table
