"""Dot products and matrix products with modelled inputs, products and accumulators.

:func:`matmul` rounds its operands into their formats, forms every product (exact, rounded into
a format, or L-Mul) and sums them as the accumulator model says (see ``lpemu._accumulators``).
numpy operands run the Numba kernels (kernels/numba/dot.py), JAX arrays the JAX kernels; both
give the same bits, and ``lpemu.reference.dot`` is the exact scalar oracle.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._accumulators import Blocked, Exact, Sequential, accumulator_of
from ._arith import MAX_EXPONENT, check_exact
from ._container import float_params, seed_words
from ._formats import FloatFormat
from ._modes import Overflow, RoundingMode, rounding_mode
from ._quantize import _is_jax, _jax_seed, quantize
from ._tensor_cores import TensorCore, matmul_shape, tc_matmul
from .errors import InvalidArgumentError, InvalidFormatError
from .formats import FP32, lookup

__all__ = ["matmul", "dot"]

ArrayLike = Any
_PRODUCTS = ("exact", "fused")
_LMUL = {"lmul": "bits", "lmul_formula": "formula"}


#: What matmul knows of dequantized block-format values (element times scales): float32-range
#: numbers of at most 24 significant bits, whose products float64 holds exactly.
BLOCK_VALUES = FloatFormat(9, 23, name="block-format values")


def _block_format(f):
    """The block format ``f`` is or names (``"mxfp8_e4m3"``, ``"nvfp4"``...), or None."""
    from .block import BLOCK_PRESETS, BlockFormat

    if isinstance(f, BlockFormat):
        return f
    if isinstance(f, str) and f.strip().lower() in BLOCK_PRESETS:
        return BLOCK_PRESETS[f.strip().lower()]
    return None


def _as_format(name: str, f) -> FloatFormat | None:
    if f is None:
        return None
    f = lookup(f)
    if not isinstance(f, FloatFormat):
        raise InvalidFormatError(f"matmul: {name} must be a float format, got {f.name}")
    return f


def _check_inputs(a_fmt: FloatFormat, b_fmt: FloatFormat) -> None:
    for name, f in (("in_fmt", a_fmt), ("b_fmt", b_fmt)):
        lo = f.emin - f.man_bits
        if f.emax >= MAX_EXPONENT or lo <= -MAX_EXPONENT:
            raise InvalidFormatError(f"matmul: {name} {f.name} has exponents [{lo}, {f.emax}]; exact float64 products "
                                     f"need them within +-{MAX_EXPONENT}")
    if a_fmt.precision + b_fmt.precision > 53:
        raise InvalidFormatError(f"matmul: products of {a_fmt.name} and {b_fmt.name} have "
                                 f"{a_fmt.precision + b_fmt.precision} significant bits; exact float64 products need "
                                 "at most 53 (use formats of at most 26 bits)")


def _product(product, product_rounding, in_fmt: FloatFormat):
    """(kind, product format or None, L-Mul parameters) of the product model."""
    from .kernels.numba.dot import PRODUCT_EXACT, PRODUCT_LMUL, PRODUCT_ROUNDED
    from .lmul import kernel_params

    lp = kernel_params(in_fmt, _LMUL.get(product, "bits"), product_rounding)
    if isinstance(product, str) and product in _PRODUCTS:
        return PRODUCT_EXACT, None, lp
    if isinstance(product, str) and product in _LMUL:
        return PRODUCT_LMUL, None, lp
    try:
        f = _as_format("product", product)
    except Exception:
        raise InvalidArgumentError("matmul: product must be 'exact', 'fused', 'lmul', 'lmul_formula' or a float "
                                   f"format, got {product!r}") from None
    if rounding_mode(product_rounding).is_stochastic:
        raise InvalidArgumentError("matmul: product_rounding must be a deterministic mode, got "
                                   f"{product_rounding!r}")
    check_exact("mul", f, FP32, product_rounding)
    return PRODUCT_ROUNDED, f, lp


def matmul(a: ArrayLike, b: ArrayLike, c: ArrayLike | None = None, *, in_fmt=None, b_fmt=None,
           inputs: str = "quantize", product: str | FloatFormat = "exact", product_rounding: str = "nearest_even",
           accumulator: Any = "fp32", block_dot: str = "dequantize", sr_bits: int = 30,
           seed: int | None = None) -> Any:
    """``a @ b + c`` computed as a modelled low-precision unit computes it, bit for bit.

    Args:
        a: (M, K) or (K,) array (numpy, or JAX: works under jit and vmap).
        b: (K, N) or (K,) array.
        c: the addend, broadcastable to the result (the accumulator's initial value, rounded into
            the accumulator format); None for zero.
        in_fmt: the format of ``a`` (and of ``b`` unless ``b_fmt`` is given). None: the operands'
            own float32 values (fp32; float64 operands need a format). A TensorCore model
            supplies its input format. A block format (:mod:`lpemu.block`, e.g. ``"mxfp8_e4m3"``,
            ``"nvfp4"``) quantizes along K (a's rows, b's columns) and multiplies the dequantized
            values (element times scales, exact products).
        b_fmt: the format of ``b`` when it differs from ``a``'s.
        inputs: ``"quantize"`` rounds a and b into their formats (nearest-even) first;
            ``"assume"`` takes them as they are (they must already be values of the formats).
        product: ``"exact"`` (or its alias ``"fused"``): each product enters the sum exactly, so a
            sequential sum does one fused multiply-add per step; a float format: each product
            is first rounded into it with ``product_rounding`` (a deterministic mode); or
            ``"lmul"`` / ``"lmul_formula"``: the L-Mul approximation in the input format
            (:func:`lpemu.lmul.multiply`, rounded with ``product_rounding``).
        accumulator: :class:`~lpemu.Exact`, :class:`~lpemu.Sequential`, :class:`~lpemu.Pairwise`,
            :class:`~lpemu.Blocked`, a :class:`~lpemu.TensorCore` (:func:`lpemu.tensor_core`), or a
            format name for ``Sequential(name)``.
        block_dot: with block-format operands, ``"dequantize"`` multiplies the dequantized values
            (element times scales) and sums them with ``accumulator``; ``"scaled"`` (power-of-two
            scales: MX, BFP) computes OCP MX's scale-factored dot product: per block of K, the
            element products are summed by the inner model, the block sum is multiplied exactly by
            the two scales and added into the outer model (``accumulator`` a
            :class:`~lpemu.Blocked` with the format's block size: its inner and outer models; a
            :class:`~lpemu.Sequential`: both; any other model: the inner one, with an fp32 outer).
        sr_bits, seed: random bits and seed for stochastic accumulation.

    Returns:
        The result, of shape (M, N) without the dimensions of 1-D operands, holding values of the
        accumulator's format in the operands' container (float32 if both are float32, else
        float64).

    Raises:
        InvalidFormatError: formats whose products or sums float64 cannot hold exactly.
        InvalidArgumentError: bad shapes, models or arguments.

    Examples:
        >>> import numpy as np
        >>> from lpemu import Exact, Pairwise, Sequential
        >>> x = np.full(4096, 0.1, np.float32)
        >>> float(matmul(x, x, in_fmt="bf16", accumulator=Sequential("bf16")))
        4.0
        >>> float(matmul(x, x, in_fmt="bf16", accumulator=Pairwise("bf16")))
        41.0
        >>> float(matmul(x, x, in_fmt="bf16", accumulator=Exact("fp32")))
        41.0400390625
    """
    acc = accumulator_of(accumulator)
    if inputs not in ("quantize", "assume"):
        raise InvalidArgumentError(f"matmul: inputs must be 'quantize' or 'assume', got {inputs!r}")
    use_jax = any(_is_jax(x) for x in (a, b, c))
    xp = _namespace(use_jax)
    a, b = xp.asarray(a), xp.asarray(b)
    for name, x in (("a", a), ("b", b)):
        if x.dtype not in (np.float32, np.float64):
            raise InvalidArgumentError(f"matmul: {name} must be a float32 or float64 array, got {x.dtype}")
    m, k, n, shape = matmul_shape(a.shape, b.shape, op="matmul")
    dtype = np.result_type(a.dtype, b.dtype)
    a_block = _block_format(in_fmt)
    b_block = _block_format(b_fmt) if b_fmt is not None else a_block
    if block_dot not in ("dequantize", "scaled"):
        raise InvalidArgumentError(f"matmul: block_dot must be 'dequantize' or 'scaled', got {block_dot!r}")
    if block_dot == "scaled":
        if not (a_block and b_block):
            raise InvalidArgumentError("matmul: block_dot='scaled' needs block formats for a and b (in_fmt, b_fmt)")
        from ._block_dot import scaled_block_matmul

        c2 = None if c is None else xp.broadcast_to(xp.asarray(c, dtype), shape).reshape(m, n)
        res = scaled_block_matmul(a.reshape(m, k), b.reshape(k, n), c2, a_block, b_block, acc, product,
                                  product_rounding, sr_bits, seed, dtype, use_jax)
        return res.reshape(shape)
    if (a_block or b_block) and isinstance(acc, TensorCore):
        raise InvalidArgumentError("matmul: block formats are not inputs of a TensorCore model (give its element "
                                   "format, or another accumulator)")
    a_fmt = BLOCK_VALUES if a_block else _as_format("in_fmt", in_fmt)
    if a_fmt is None and isinstance(acc, TensorCore):
        a_fmt = acc.in_fmt
    if a_fmt is None:
        if dtype != np.float32:
            raise InvalidArgumentError("matmul: float64 operands need in_fmt (a format of at most 26 bits)")
        a_fmt = FP32
    b_fmt = BLOCK_VALUES if b_block else (_as_format("b_fmt", b_fmt) or a_fmt)
    _check_inputs(a_fmt, b_fmt)
    if inputs == "quantize":
        from . import block

        # blocks run along K: a's last axis, b's first
        a = block.quantize(a, a_block, axis=-1) if a_block else quantize(a, a_fmt)
        b = block.quantize(b, b_block, axis=0) if b_block else quantize(b, b_fmt)
    a2, b2 = a.reshape(m, k), b.reshape(k, n)
    c2 = None if c is None else xp.broadcast_to(xp.asarray(c, dtype), shape).reshape(m, n)
    if product in _LMUL and a_fmt != b_fmt:
        raise InvalidArgumentError(f"matmul: L-Mul products need one format for a and b, got {a_fmt.name} and {b_fmt.name}")
    res = _matmul2(a2, b2, c2, acc, (product, product_rounding, a_fmt, b_fmt), sr_bits, seed, dtype, use_jax)
    return res.reshape(shape)


def dot(x: ArrayLike, y: ArrayLike, c: ArrayLike | None = None, **kwargs: Any) -> Any:
    """The dot product of two vectors (1-D arrays), with the models of :func:`matmul`.

    Examples:
        >>> import numpy as np
        >>> from lpemu import Exact, tensor_core
        >>> x = np.array([1.0, 2.0**-12, 2.0**-12, 2.0**-12], np.float32)
        >>> float(dot(x, x, accumulator=tensor_core("V100", "fp16")))
        1.0
        >>> float(dot(x, x, in_fmt="fp16", accumulator=Exact("fp32")))
        1.000000238418579
    """
    if np.ndim(x) != 1 or np.ndim(y) != 1:
        raise InvalidArgumentError(f"dot: x and y must be 1-D, got {np.ndim(x)}-D and {np.ndim(y)}-D (use matmul)")
    return matmul(x, y, c, **kwargs)


def _matmul2(a, b, c, acc, prod, sr_bits, seed, dtype, use_jax):
    """The 2-D product with c of shape (M, N) or None; ``prod`` = (product, product_rounding, a's
    format, b's format)."""
    product, product_rounding, in_fmt, b_fmt = prod
    m, k = a.shape
    n = b.shape[1]
    if isinstance(acc, TensorCore):
        if not (isinstance(product, str) and product in _PRODUCTS):
            raise InvalidArgumentError("matmul: a TensorCore forms exact products; product must be 'exact'")
        f32 = (lambda x: x.astype(np.float32)) if dtype != np.float32 else (lambda x: x)
        res = tc_matmul(f32(a), f32(b), None if c is None else f32(c), model=acc)
        return res.astype(dtype)
    if isinstance(acc, Blocked):
        return _blocked(a, b, c, acc, prod, sr_bits, seed, dtype, use_jax)
    kind, p_fmt, lp = _product(product, product_rounding, in_fmt)
    mode = acc.rounding
    check_exact("add", acc.fmt, acc.fmt, mode, sr_bits)
    from ._container import check_fits

    check_fits(acc.fmt, dtype)
    pacc = float_params(acc.fmt, np.dtype(np.float64), mode, acc.overflow, sr_bits)
    pp = pacc if p_fmt is None else float_params(p_fmt, np.dtype(np.float64), product_rounding, None, 30)
    if c is not None:
        c = quantize(c, acc.fmt)
    name = {Exact: "exact", Sequential: "sequential"}.get(type(acc), "pairwise")
    extra = _limbs(in_fmt, b_fmt, p_fmt, kind, acc.fmt, k) if name == "exact" else ()
    if use_jax:
        import jax.numpy as jnp

        lo, hi = _jax_seed(seed, mode)
        c = jnp.zeros((m, n), dtype) if c is None else c.astype(dtype)
        return _jax_matmul()(name, a, b, c, kind, pp, lp, pacc, lo, hi, extra)
    from .kernels.numba import dot as nbk
    from .kernels.params import flags_of

    if name == "sequential" and _hardware_fp32(a, b, acc, kind):
        c32 = np.zeros((m, n), np.float32) if c is None else np.ascontiguousarray(c, np.float32)
        out = np.empty((m, n), np.float32)
        nbk.sequential_matmul_fp32(np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32), c32, out)
        return out.astype(dtype)
    lo, hi = seed_words(seed, mode)

    c64 = np.zeros((m, n)) if c is None else np.ascontiguousarray(c, np.float64)
    out = np.empty((m, n))
    if name == "exact":
        fn = nbk.exact_matmul
    else:
        spec = (kind, tuple(flags_of(pp)), tuple(flags_of(pacc))) if m * n * k >= SPECIALIZE_MIN_WORK else None
        sequential, pairwise = nbk.kernels(spec)
        fn = sequential if name == "sequential" else pairwise
    a64 = np.ascontiguousarray(a, np.float64)
    b64 = np.ascontiguousarray((b.T if name == "exact" else b), np.float64)
    _in_threads(lambda r: fn(a64[r], b64, c64[r], out[r], kind, pp, flags_of(pp), lp, pacc, flags_of(pacc), lo, hi,
                             r.start, *extra), m, m * n * k)
    return out.astype(dtype)


#: Problems with at least this many multiply-adds run kernels compiled for their rounding modes
#: and formats (about 12 s of compilation once per process, then about 5x faster).
SPECIALIZE_MIN_WORK = 1 << 22
#: Problems with fewer multiply-adds run on the calling thread.
_THREADS_MIN_WORK = 1 << 16


def _in_threads(run_rows, m: int, work: int) -> None:
    """Call ``run_rows(slice)`` on row blocks in threads (the kernels release the GIL). Threads
    rather than ``parallel=True``: a parallel build of these kernels takes ~30 s to compile."""
    workers = min(os.cpu_count() or 1, m)
    if work < _THREADS_MIN_WORK or workers < 2:
        run_rows(slice(0, m))
        return
    bounds = np.linspace(0, m, workers + 1).astype(int)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(run_rows, [slice(int(s), int(e)) for s, e in zip(bounds[:-1], bounds[1:])]))


def _hardware_fp32(a, b, acc, kind) -> bool:
    """Whether float32 hardware arithmetic is exactly this model: an fp32 nearest-even accumulator
    with IEEE overflow, and exact products of at most 24 bits (see kernels/numba/dot.py: sequential_matmul_fp32)."""
    from .kernels.numba.dot import PRODUCT_EXACT

    if not (acc.fmt == FP32 and acc.rounding is RoundingMode.NEAREST_EVEN and kind == PRODUCT_EXACT
            and acc.overflow in (None, Overflow.INFINITY)):
        return False
    return _significant_bits(a) + _significant_bits(b) <= 24


def _significant_bits(x: np.ndarray) -> int:
    """The largest number of significant bits of any finite element of a float32/float64 array."""
    x = np.ascontiguousarray(x, np.float64)
    m = x.view(np.uint64) & np.uint64((1 << 52) - 1)
    m = m[np.isfinite(x) & (x != 0)]
    if m.size == 0:
        return 1
    tz = int(np.bitwise_or.reduce(m))
    if tz == 0:
        return 1
    low = (tz & -tz).bit_length() - 1  # lowest set fraction bit over all elements
    return 53 - low


def _blocked(a, b, c, acc: Blocked, prod, sr_bits, seed, dtype, use_jax):
    """Blocks of ``acc.block`` products summed by the inner model, added into the outer one.

    Stochastic roundings of block q use seed + q + 1 (inner) and the outer additions of block q
    use seed + n_blocks + q + 1, so that no two roundings share random bits."""
    from ._arith import add

    k = a.shape[1]
    n_blocks = -(-k // acc.block)
    outer = acc.outer
    xp = _namespace(use_jax)
    total = xp.zeros((a.shape[0], b.shape[1]), dtype) if c is None else quantize(c, outer.fmt)
    for q in range(n_blocks):
        s = slice(q * acc.block, (q + 1) * acc.block)
        part = _matmul2(a[:, s], b[s], None, acc.inner, prod, sr_bits,
                        _derived_seed(seed, q + 1), dtype, use_jax)
        total = add(total, part, outer.fmt, outer.rounding, outer.overflow, sr_bits=sr_bits,
                    seed=_derived_seed(seed, n_blocks + q + 1))
    return total.astype(dtype)


def _limbs(in_fmt: FloatFormat, b_fmt: FloatFormat, p_fmt: FloatFormat | None, kind: int, acc_fmt: FloatFormat,
           k: int):
    """(lsb, limb count) of an exact sum of K products and an addend: every term is a multiple
    of 2^lsb and the sum stays below 2^emax."""
    from .kernels.numba.dot import PRODUCT_EXACT, PRODUCT_LMUL
    from .kernels.numba.exact_sum import limb_count

    def quantum(f: FloatFormat) -> int:
        return f.emin - f.man_bits

    if kind == PRODUCT_EXACT:
        lsb, top = quantum(in_fmt) + quantum(b_fmt), in_fmt.emax + b_fmt.emax + 2
    else:
        f = in_fmt if kind == PRODUCT_LMUL else p_fmt
        lsb, top = quantum(f), f.emax + 1
    lsb = max(min(lsb, quantum(acc_fmt)), -1074)
    emax = max(top, acc_fmt.emax + 1) + k.bit_length() + 1
    return lsb, limb_count(lsb, emax)


def _derived_seed(seed: int | None, offset: int) -> int | None:
    return None if seed is None else (seed + offset) % (1 << 64)


def _namespace(use_jax: bool):
    if use_jax:
        import jax.numpy as jnp

        return jnp
    return np


@functools.cache
def _jax_matmul():
    import jax

    def run(name, a, b, c, kind, pp, lp, pacc, lo, hi, extra):
        import jax.numpy as jnp

        from .kernels.jax import dot as jxk
        from .kernels.jax.arith import _from_float64, _to_float64
        from .kernels.jax.random import sr_keys

        dtype = c.dtype
        with jax.enable_x64(True):
            f64 = [jax.lax.bitcast_convert_type(_to_float64(x), jnp.float64) for x in (a, b, c)]
            key0, key1 = sr_keys(lo, hi)
            fn = {"exact": jxk.exact_matmul, "sequential": jxk.sequential_matmul, "pairwise": jxk.pairwise_matmul}[name]
            res = fn(*f64, kind, pp, lp, pacc, key0, key1, *extra)
            return _from_float64(jax.lax.bitcast_convert_type(res, jnp.int64), dtype)

    return jax.jit(run, static_argnums=(0, 4, 5, 6, 7, 10))
