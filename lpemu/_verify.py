"""Exhaustive check of ``lpemu.encode`` over float32 inputs against a table-based reference.

:func:`verify` feeds float32 numbers (by bit pattern, all 2^32 of them by default) through
``lpemu.encode`` twice, as numpy arrays (the Numba kernels) and as JAX arrays (the JAX kernels,
jitted once per chunk shape), and compares every code with :class:`TableReference`. The
reference shares no code with the kernels or with :mod:`lpemu.reference`: it lists the
format's values (``fmt.values()``), sorts them, and locates each input among them with
``np.searchsorted``; the rounding mode then picks one of the two neighbours (docs/semantics.md).

Evaluating the reference on 2^32 elements would dominate the run time, so :func:`verify`
exploits that, within one sign, float32 bit patterns are ordered like their magnitudes and
the reference is constant between consecutive *critical magnitudes* (the format's values, the
midpoints between neighbours, the first value past the largest). It evaluates the reference
once per constant segment and expands the segment codes with ``np.repeat``;
``_expected_codes(..., compressed=False)`` evaluates every element and the tests check that
both agree. Integer/fixed formats under ``overflow="wrap"`` have a different code for almost
every large input and always take the element-wise path.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ._formats import FixedFormat, Specials
from ._modes import Overflow, RoundingMode, rounding_mode
from ._quantize import encode
from ._container import resolve_overflow
from .errors import InvalidArgumentError, InvalidFormatError, check_int
from .formats import lookup

__all__ = ["verify", "VerifyResult", "BackendResult", "Counterexample", "TableReference"]

#: Backends :func:`verify` knows: numpy arrays (Numba kernels) and JAX arrays (JAX kernels).
BACKENDS = ("numba", "jax")
#: Widest format whose value table :class:`TableReference` builds (2^16 codes).
MAX_TABLE_BITS = 16
#: Number of float32 bit patterns.
ALL_INPUTS = 1 << 32


@dataclass
class BackendResult:
    """How one backend fared."""

    #: ``"numba"`` or ``"jax"``.
    backend: str
    #: Number of inputs compared.
    checked: int = 0
    #: Number of inputs whose code differs from the reference.
    mismatches: int = 0


@dataclass
class Counterexample:
    """One input on which a backend and the reference disagree."""

    #: Backend that produced ``got``.
    backend: str
    #: The float32 input's bit pattern.
    input_bits: int
    #: The input as a Python float (exact).
    input: float
    #: The reference's code.
    expected: int
    #: The backend's code.
    got: int


@dataclass
class VerifyResult:
    """Outcome of :func:`verify`: counts per backend and the first counterexamples."""

    #: Format name.
    format: str
    #: Rounding mode name.
    rounding: str
    #: Overflow policy name (resolved default included).
    overflow: str
    #: First input bit pattern checked.
    start: int
    #: One past the last input bit pattern checked.
    stop: int
    #: One entry per backend, in the order requested.
    backends: dict[str, BackendResult] = field(default_factory=dict)
    #: Up to ``max_counterexamples`` per backend, in input order.
    counterexamples: list[Counterexample] = field(default_factory=list)
    #: Wall-clock time of the sweep in seconds (compilation included).
    seconds: float = 0.0

    @property
    def mismatches(self) -> int:
        """Total mismatches over all backends."""
        return sum(b.mismatches for b in self.backends.values())

    @property
    def ok(self) -> bool:
        """True when no backend disagrees with the reference."""
        return self.mismatches == 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (used by ``lpemu verify --json``)."""
        d = asdict(self)
        d["backends"] = [asdict(b) for b in self.backends.values()]
        for c in d["counterexamples"]:
            v = c["input"]
            c["input"] = v if math.isfinite(v) else str(v)
        d["mismatches"] = self.mismatches
        d["ok"] = self.ok
        return d


# ---- the table-based reference ---------------------------------------------------------------
@dataclass(frozen=True)
class _Side:
    """The magnitudes reachable for one sign, sorted, with their codes.

    ``mags[-1]`` is the *virtual* value one step past the largest magnitude (the unbounded grid
    continues past the largest code, docs/semantics.md clause 5); landing on it is overflow.
    """

    mags: np.ndarray  # float64, strictly increasing, last entry virtual
    codes: np.ndarray  # int64, codes[-1] = -1 (virtual)
    negative: bool

    @property
    def top(self) -> int:
        """Index of the largest real magnitude."""
        return len(self.mags) - 2


class TableReference:
    """Reference encoder built from the sorted value table of a format of at most 16 bits.

    Args:
        fmt: a FloatFormat, FixedFormat or IntFormat (or a name), at most 16 bits wide.
        rounding: a deterministic rounding mode.
        overflow: overflow policy; ``None`` for the format's default.

    Raises:
        InvalidFormatError: the format is wider than 16 bits.
        InvalidArgumentError: a stochastic rounding mode, or an overflow policy the format
            does not accept.

    Examples:
        >>> import numpy as np
        >>> ref = TableReference("e4m3", "nearest_even")
        >>> ref.codes(np.array([1.0, 464.0, 465.0, -0.0, np.nan], np.float32)).tolist()
        [56, 126, 127, 128, 127]
    """

    def __init__(self, fmt, rounding="nearest_even", overflow=None) -> None:
        fmt = lookup(fmt)
        if fmt.bits > MAX_TABLE_BITS:
            raise InvalidFormatError(
                f"verify builds a table of every value and supports formats of at most "
                f"{MAX_TABLE_BITS} bits; {fmt.name} has {fmt.bits}")
        mode = rounding_mode(rounding)
        if mode.is_stochastic:
            raise InvalidArgumentError(
                f"verify needs a deterministic rounding mode (nearest_even, nearest_away, toward_zero, "
                f"up, down, odd); got {mode.value!r}")
        self.fmt = fmt
        self.mode = mode
        self.overflow = resolve_overflow(fmt, overflow)
        self.is_fixed = isinstance(fmt, FixedFormat)
        vals = fmt.values()
        codes = np.arange(fmt.num_codes, dtype=np.int64)
        finite = np.isfinite(vals)
        negative = np.signbit(vals)
        self.pos = self._side(vals, codes, finite & ~negative, negative=False)
        if self.is_fixed or fmt.signed:
            neg_codes = finite & negative
            if not (neg_codes & (vals == 0)).any():
                neg_codes |= finite & (vals == 0)  # no -0 code: a zero result is +0 (clause 7)
            self.neg: _Side | None = self._side(vals, codes, neg_codes, negative=True)
        else:
            self.neg = None  # unsigned float: negative inputs give NaN (clause 3)
        #: Narrowest unsigned dtype holding a code (what ``lpemu.encode`` returns).
        self.code_dtype = np.dtype(np.uint8 if fmt.bits <= 8 else np.uint16)
        self.pos_inf = self._code_where(vals == np.inf)
        self.neg_inf = self._code_where(vals == -np.inf)

    # -- construction helpers --
    @staticmethod
    def _code_where(mask: np.ndarray) -> int | None:
        idx = np.flatnonzero(mask)
        return int(idx[0]) if idx.size else None

    def _side(self, vals, codes, mask, negative: bool) -> _Side:
        mags, cs = np.abs(vals[mask]), codes[mask]
        # Sort by magnitude, then by code, and keep the lowest code of equal values (formats
        # without subnormals list zero once per mantissa; the canonical zero is the lowest).
        order = np.lexsort((cs, mags))
        mags, cs = mags[order], cs[order]
        keep = np.ones(mags.size, bool)
        keep[1:] = mags[1:] != mags[:-1]
        mags, cs = mags[keep], cs[keep]
        top = mags[-1]
        if self.is_fixed:
            step = self.fmt.quantum
        else:
            # One unit in the last place of the top binade: 2^(floor(log2 max) - man_bits).
            step = math.ldexp(1.0, math.frexp(top)[1] - 1 - self.fmt.man_bits)
        return _Side(np.append(mags, top + step), np.append(cs, -1), negative)

    # -- special codes --
    def _nan_code(self, negative: np.ndarray | bool) -> np.ndarray | int:
        """Clause 1: the NaN of the sign of x for IEEE/fn formats, the NaN code's own otherwise."""
        f = self.fmt
        if f.specials in (Specials.IEEE, Specials.FN):
            return np.where(negative, f.nan_code | f.sign_mask, f.nan_code)
        return f.nan_code

    def _no_value(self) -> int:
        """Where the contract asks for NaN and the format has none (not reached by presets)."""
        return self.fmt.nan_code if self.fmt.has_nan else 0

    def _overflow_codes(self, side: _Side, idx: np.ndarray) -> np.ndarray:
        """Codes for results beyond the largest value, per the overflow policy (clause 6)."""
        top_code = side.codes[side.top]
        ov = self.overflow
        if self.is_fixed or ov in (Overflow.SATURATE, Overflow.PROPAGATE):
            return np.full(idx.shape, top_code, np.int64)
        m = self.mode
        toward_zero = (m is RoundingMode.TOWARD_ZERO or (m is RoundingMode.DOWN and not side.negative)
                       or (m is RoundingMode.UP and side.negative))
        if toward_zero:
            return np.full(idx.shape, top_code, np.int64)
        inf = self.neg_inf if side.negative else self.pos_inf
        if inf is not None:
            return np.full(idx.shape, inf, np.int64)
        return np.full(idx.shape, self._nan_code(side.negative), np.int64)

    # -- rounding --
    def _away(self, side: _Side, exact, vs_mid, k_odd) -> np.ndarray:
        """Whether the mode picks the upper neighbour over the lower one (docs/semantics.md,
        "Rounding modes"). ``exact``: x is the lower neighbour; ``vs_mid``: sign of x minus the
        midpoint; ``k_odd``: parity of k, the lower neighbour in units of the local quantum."""
        m = self.mode
        if m is RoundingMode.TOWARD_ZERO:
            return np.zeros(exact.shape, bool)
        if m is RoundingMode.UP:
            return ~exact & (not side.negative)
        if m is RoundingMode.DOWN:
            return ~exact & side.negative
        if m is RoundingMode.NEAREST_EVEN:
            return (vs_mid > 0) | ((vs_mid == 0) & k_odd)
        if m is RoundingMode.NEAREST_AWAY:
            return vs_mid >= 0
        if m is RoundingMode.ODD:
            return ~exact & ~k_odd
        raise AssertionError(m)  # pragma: no cover

    def _round_side(self, side: _Side, mag: np.ndarray) -> np.ndarray:
        """Codes for finite non-zero magnitudes ``mag`` of one sign."""
        i = np.searchsorted(side.mags, mag, side="right") - 1  # side.mags[i] <= mag
        below = i < 0  # only formats without zero: below the smallest value
        over = i > side.top  # at or past the virtual value: both neighbours overflow
        ic = np.clip(i, 0, side.top)
        lo, hi = side.mags[ic], side.mags[ic + 1]
        exact = mag == lo
        # Exact in float64: lo and hi are neighbours on a grid of float32-representable values.
        vs_mid = np.sign(mag - (lo + hi) * 0.5)
        # k of docs/semantics.md is lo in units of the local quantum hi - lo. For man_bits = 0
        # formats k is 1 in the normal range (odd) and 0 at zero: not the code's parity.
        k_odd = np.fmod(lo / (hi - lo), 2.0) == 1.0
        j = ic + self._away(side, exact, vs_mid, k_odd)
        over |= j > side.top
        out = side.codes[np.minimum(j, side.top)]
        out = np.where(below, side.codes[0], out)
        if over.any():
            if self.overflow is Overflow.WRAP:
                out[over] = self._wrap(side, mag[over])
            else:
                out[over] = self._overflow_codes(side, mag[over])
        return out

    def _wrap(self, side: _Side, mag: np.ndarray) -> np.ndarray:
        """Fixed point beyond the range under ``wrap``: round on the (unbounded) uniform grid,
        then reduce the signed integer modulo 2^bits (docs/semantics.md, integers)."""
        y = np.ldexp(mag, self.fmt.frac_bits)  # exact: a power-of-two scaling of float64
        k = np.floor(y)
        frac = y - k
        away = self._away(side, frac == 0, np.sign(frac - 0.5), np.fmod(k, 2.0) == 1.0)
        k = k + away
        w = float(1 << self.fmt.bits)
        return np.mod(-k if side.negative else k, w).astype(np.int64)

    def codes(self, x: np.ndarray) -> np.ndarray:
        """Reference codes (int64) of the float32 or float64 array ``x``, element by element."""
        with np.errstate(invalid="ignore"):  # signalling NaN payloads quieten; the sign is kept
            a = np.asarray(x).astype(np.float64)
        neg = np.signbit(a)
        mag = np.abs(a)
        out = np.zeros(a.shape, np.int64)
        f = self.fmt
        isnan, isinf, iszero = np.isnan(a), np.isinf(a), mag == 0
        # Clause 1: NaN. Integers/fixed and formats without NaN: zero; float formats with -0
        # give the zero of the opposite sign (ml_dtypes).
        if self.is_fixed:
            out[isnan] = 0
        elif f.has_nan:
            out[isnan] = np.broadcast_to(self._nan_code(neg), a.shape)[isnan]
        elif f.zero:
            out[isnan] = np.where(neg[isnan] | (not f.has_negative_zero), 0, f.sign_mask)
        else:
            out[isnan] = self._no_value()
        # Clause 2: +-0.
        if self.is_fixed or f.zero:
            zpos, zneg = self.pos.codes[0], (self.neg.codes[0] if self.neg is not None else 0)
            out[iszero] = np.where(neg[iszero], zneg, zpos)
        else:
            out[iszero] = self._no_value()
        # Clause 3: unsigned float formats: negative non-zero x (and -Inf) is NaN.
        if self.neg is None:
            out[neg & ~iszero & ~isnan] = self._no_value()
        # Clause 4: +-Inf (integers/fixed saturate, also under wrap).
        for side, sel in ((self.pos, isinf & ~neg), (self.neg, isinf & neg)):
            if side is None or not sel.any():
                continue
            if self.is_fixed or self.overflow is Overflow.SATURATE:
                out[sel] = side.codes[side.top]
            else:
                inf = self.neg_inf if side.negative else self.pos_inf
                if inf is not None:
                    out[sel] = inf
                elif f.has_nan:
                    out[sel] = self._nan_code(side.negative)
                else:
                    out[sel] = side.codes[side.top]
        # Clauses 5 to 7: finite non-zero values, located among the sorted table.
        regular = ~isnan & ~isinf & ~iszero
        for side, sel in ((self.pos, regular & ~neg), (self.neg, regular & neg)):
            if side is not None and sel.any():
                out[sel] = self._round_side(side, mag[sel])
        return out

    # -- segments of constant result over float32 bit patterns --
    @functools.cached_property
    def breakpoints(self) -> np.ndarray:
        """Sorted float32 bit patterns (int64) at which the reference result may change.

        Between consecutive breakpoints the reference gives one code: within a sign, bit
        patterns are ordered like magnitudes, and the result depends only on where the
        magnitude lies relative to the table's values and midpoints. Around each critical
        magnitude a few neighbouring patterns are added, so inexact float32 conversion of a
        midpoint cannot hide a change.
        """
        points = [np.array([0, 1, 0x7F800000, 0x7F800001], np.int64)]
        for side in (self.pos, self.neg):
            if side is None:
                continue
            mids = (side.mags[:-1] + side.mags[1:]) * 0.5
            crit = np.concatenate([side.mags, mids])
            crit = crit[crit < 2.0**128]
            with np.errstate(over="ignore", under="ignore"):
                u = crit.astype(np.float32).view(np.int32).astype(np.int64)
            near = (u[:, None] + np.arange(-1, 3)[None, :]).ravel()
            points.append(near)
        half = np.unique(np.clip(np.concatenate(points), 0, 0x7FFFFFFF))
        return np.concatenate([half, half + (1 << 31)])


def _expected_codes(ref: TableReference, lo: int, hi: int, compressed: bool = True) -> np.ndarray:
    """Reference codes for the float32 bit patterns ``lo .. hi - 1``."""
    if not compressed or ref.overflow is Overflow.WRAP:
        return ref.codes(np.arange(lo, hi, dtype=np.uint32).view(np.float32)).astype(ref.code_dtype)
    bp = ref.breakpoints
    inner = bp[np.searchsorted(bp, lo, side="right"): np.searchsorted(bp, hi, side="left")]
    starts = np.concatenate([np.array([lo], np.int64), inner])
    seg_codes = ref.codes(starts.astype(np.uint32).view(np.float32)).astype(ref.code_dtype)
    lengths = np.diff(np.append(starts, hi))
    return np.repeat(seg_codes, lengths)


# ---- the sweep ---------------------------------------------------------------------------------
def _numba_runner(fmt, mode, overflow, chunk: int):
    base = np.arange(chunk, dtype=np.uint32)
    buf = np.empty(chunk, np.uint32)

    def run(lo: int, n: int) -> np.ndarray:
        bits = np.add(base[:n], np.uint32(lo), out=buf[:n])
        return encode(bits.view(np.float32), fmt, mode, overflow)

    return run


def _jax_runner(fmt, mode, overflow, chunk: int):
    import jax
    import jax.numpy as jnp

    @functools.partial(jax.jit, static_argnums=1)
    def codes(lo, n):
        bits = jnp.arange(n, dtype=jnp.uint32) + lo
        return encode(jax.lax.bitcast_convert_type(bits, jnp.float32), fmt, mode, overflow)

    def run(lo: int, n: int) -> np.ndarray:
        return np.asarray(codes(np.uint32(lo), n))

    return run


_RUNNERS = {"numba": _numba_runner, "jax": _jax_runner}


def verify(
    fmt,
    rounding: str | RoundingMode = "nearest_even",
    overflow: str | Overflow | None = None,
    *,
    backends: tuple[str, ...] | list[str] = BACKENDS,
    chunk: int = 1 << 24,
    start: int = 0,
    stop: int = ALL_INPUTS,
    progress: bool = True,
    max_counterexamples: int = 20,
) -> VerifyResult:
    """Compare ``lpemu.encode`` on float32 inputs with a table-based reference, bit for bit.

    Every float32 bit pattern in ``[start, stop)`` (all 2^32 by default: every finite value,
    both zeros and infinities, and every NaN payload) is encoded by each backend and compared
    with :class:`TableReference`, which follows docs/semantics.md independently of the kernels.

    Args:
        fmt: a format object or name of at most 16 bits (``"e4m3"``, ``"binary8p3se"``, ``"int8"``).
        rounding: a deterministic rounding mode name (stochastic modes are refused).
        overflow: overflow policy, or ``None`` for the format's default.
        backends: any of ``"numba"`` (numpy arrays) and ``"jax"`` (JAX arrays, jitted once per
            chunk shape).
        chunk: inputs per batch, 1..2^28; 2^24 needs about 450 MB with both backends.
        start: first float32 bit pattern, in [0, 2^32).
        stop: one past the last bit pattern, in (start, 2^32].
        progress: show a ``rich.progress`` bar over the chunks (on stderr).
        max_counterexamples: counterexamples kept per backend (the first ones in input order).

    Returns:
        A :class:`VerifyResult`; ``result.ok`` is True when nothing disagrees.

    Raises:
        InvalidFormatError: unknown format, or one wider than 16 bits.
        InvalidArgumentError: stochastic rounding, a bad overflow policy, backend, range or chunk.
        UnsupportedContainerError: the format's values are not all float32 numbers.

    Examples:
        >>> r = verify("e4m3", start=0x3F800000, stop=0x3F800000 + 4096, progress=False)
        >>> r.ok, r.backends["numba"].checked
        (True, 4096)
    """
    ref = TableReference(fmt, rounding, overflow)
    fmt, mode, ov = ref.fmt, ref.mode, ref.overflow
    start = check_int("verify start", start, 0, ALL_INPUTS - 1)
    stop = check_int("verify stop", stop, start + 1, ALL_INPUTS)
    chunk = check_int("verify chunk", chunk, 1, 1 << 28)
    if isinstance(backends, str):
        backends = (backends,)
    backends = tuple(backends)
    bad = [b for b in backends if b not in BACKENDS]
    if bad or not backends:
        raise InvalidArgumentError(f"verify backends must be a non-empty subset of {BACKENDS}; got {backends!r}")
    # Surface argument errors (container, overflow policy) before any work is done.
    encode(np.zeros(1, np.float32), fmt, mode, ov)

    chunk = min(chunk, stop - start)
    runners = {b: _RUNNERS[b](fmt, mode, ov, chunk) for b in backends}
    result = VerifyResult(fmt.name, mode.value, ov.value, start, stop,
                          {b: BackendResult(b) for b in backends})
    kept = dict.fromkeys(backends, 0)
    n_chunks = -(-(stop - start) // chunk)
    t0 = time.perf_counter()

    bar = None
    if progress:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("chunks"), TimeElapsedColumn(), TimeRemainingColumn(),
                       console=Console(stderr=True), transient=False)
        task = bar.add_task(f"verify {fmt.name} {mode.value}", total=n_chunks)
        bar.start()
    try:
        for lo in range(start, stop, chunk):
            n = min(chunk, stop - lo)
            expected = _expected_codes(ref, lo, lo + n)
            for b, run in runners.items():
                got = run(lo, n)
                bad_mask = got != expected
                count = int(np.count_nonzero(bad_mask))
                res = result.backends[b]
                res.checked += n
                res.mismatches += count
                if count and kept[b] < max_counterexamples:
                    for i in np.flatnonzero(bad_mask)[: max_counterexamples - kept[b]]:
                        bits = lo + int(i)
                        x = float(np.array(bits, np.uint32).view(np.float32))
                        result.counterexamples.append(
                            Counterexample(b, bits, x, int(expected[i]), int(got[i])))
                        kept[b] += 1
            if bar is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    result.counterexamples.sort(key=lambda c: (backends.index(c.backend), c.input_bits))
    result.seconds = time.perf_counter() - t0
    return result
