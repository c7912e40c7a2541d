"""quantize / encode / decode: the public entry points for rounding arrays into a format.

numpy inputs run the Numba kernels (parallel over cores); JAX arrays (also tracers under
jit/vmap) run the JAX kernels. Both implement docs/semantics.md and give identical bits.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import numpy as np

from ._container import code_dtype, container_of, fixed_params, float_params, seed_words
from ._formats import FixedFormat, FloatFormat
from ._modes import Overflow, RoundingMode, rounding_mode
from .errors import InvalidArgumentError
from .formats import lookup
from .kernels.params import flags_of

__all__ = ["quantize", "encode", "decode"]

ArrayLike = Any
FormatLike = FloatFormat | FixedFormat | str


def _is_jax(x: object) -> bool:
    if "jax" not in sys.modules:
        return False
    import jax

    return isinstance(x, jax.Array)


def _as_container(x: ArrayLike) -> np.ndarray:
    """numpy array in a float container: float32/float64 kept, integers and bools to float64."""
    a = np.asarray(x)
    if a.dtype.kind in "iub":
        a = a.astype(np.float64)
    container_of(a.dtype)
    return a


def _check_nan(x: np.ndarray, fmt: FloatFormat | FixedFormat, nan: str) -> None:
    if nan not in ("zero", "raise"):
        raise InvalidArgumentError(f"nan must be 'zero' or 'raise', got {nan!r}")
    if nan == "raise" and not fmt.has_nan and np.isnan(x).any():
        raise InvalidArgumentError(f"input contains NaN and {fmt.name} has no NaN (pass nan='zero' to map it to 0)")


@functools.cache
def _jax_kernel(name: str):
    """A jitted JAX kernel; the parameter record (and code width) are static arguments."""
    import jax

    from .kernels.jax import codec, rounding

    fn = {"quantize_float": rounding.quantize_float, "quantize_fixed": rounding.quantize_fixed,
          "encode_float": codec.encode_float, "encode_fixed": codec.encode_fixed,
          "decode_float": codec.decode_float, "decode_fixed": codec.decode_fixed}[name]
    static = (1, 2) if name.startswith("encode") else (1,)
    return jax.jit(fn, static_argnums=static)


def _jax_input(x, fmt, nan):
    import jax
    import jax.numpy as jnp

    if jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_:
        x = x.astype(jnp.result_type(float))
    container_of(x.dtype)
    if nan not in ("zero", "raise"):
        raise InvalidArgumentError(f"nan must be 'zero' or 'raise', got {nan!r}")
    if nan == "raise" and not fmt.has_nan:
        if isinstance(x, jax.core.Tracer):
            raise InvalidArgumentError("nan='raise' needs a concrete input; under jit/vmap pass nan='zero'")
        if bool(jnp.isnan(x).any()):
            raise InvalidArgumentError(f"input contains NaN and {fmt.name} has no NaN (pass nan='zero' to map it to 0)")
    return x


def _jax_seed(seed, mode: RoundingMode):
    """Seed words for the JAX kernels: Python ints are split exactly; traced integers are used as is."""
    if not mode.is_stochastic:
        return 0, 0
    if isinstance(seed, int) or seed is None:
        return seed_words(seed, mode)
    import jax.numpy as jnp

    s = jnp.asarray(seed)
    if not jnp.issubdtype(s.dtype, jnp.integer) or s.ndim != 0:
        raise InvalidArgumentError(f"seed must be an integer scalar, got {s.dtype}{list(s.shape)}")
    if jnp.iinfo(s.dtype).bits == 64:
        u = s.astype(jnp.uint64)
        return (u & 0xFFFFFFFF).astype(jnp.uint32), (u >> 32).astype(jnp.uint32)
    return s.astype(jnp.uint32), 0


def _prepare_numpy(x, fmt, rounding, overflow, sr_bits, seed, nan):
    """Checked container array, its flat bits, kernel parameters and seed words."""
    a = _as_container(x)
    _check_nan(a, fmt, nan)
    p = _params(fmt, a.dtype, rounding, overflow, sr_bits)
    lo, hi = seed_words(seed, rounding_mode(rounding))
    itype = np.int32 if a.dtype == np.float32 else np.int64
    return a, np.ascontiguousarray(a).reshape(-1).view(itype), p, lo, hi


def _call_jax(kind: str, x, fmt, rounding, overflow, sr_bits, seed, nan):
    """Run the jitted JAX kernel ``kind`` ("quantize" or "encode") on a JAX array."""
    x = _jax_input(x, fmt, nan)
    p = _params(fmt, x.dtype, rounding, overflow, sr_bits)
    lo, hi = _jax_seed(seed, rounding_mode(rounding))
    name = f"{kind}_{'fixed' if isinstance(fmt, FixedFormat) else 'float'}"
    if kind == "encode":
        return _jax_kernel(name)(x, p, code_dtype(fmt).itemsize * 8, lo, hi)
    return _jax_kernel(name)(x, p, lo, hi)


def _params(fmt, dtype, rounding, overflow, sr_bits):
    if isinstance(fmt, FixedFormat):
        return fixed_params(fmt, dtype, rounding, overflow, sr_bits)
    return float_params(fmt, dtype, rounding, overflow, sr_bits)


def quantize(
    x: ArrayLike,
    fmt: FormatLike,
    rounding: str | RoundingMode = "nearest_even",
    overflow: str | Overflow | None = None,
    *,
    sr_bits: int = 30,
    seed: int | None = None,
    nan: str = "zero",
    out: np.ndarray | None = None,
    ste: bool = False,
) -> Any:
    """Round every element of ``x`` into ``fmt`` once; return the values in ``x``'s dtype.

    The result is the exact value of the format's number chosen by ``rounding`` (see
    docs/semantics.md), held in the input's float32/float64 container.

    Args:
        x: numpy array, JAX array (works under jit/vmap), or scalar. Integer inputs become float64.
        fmt: a format object or name (``"e4m3"``, ``"bf16"``, ``"int8"``, ``"binary8p3se"``...).
        rounding: ``nearest_even`` (default), ``nearest_away``, ``toward_zero``, ``up``, ``down``,
            ``odd``, ``stochastic`` / ``stochastic_b`` / ``stochastic_c`` (aliases rne, rna, rtz,
            ru, rd, rto, sr).
        overflow: ``infinity`` (non-saturating; the default where the format has Inf or NaN),
            ``saturate`` (default for formats with neither and for integers), ``propagate``,
            or ``wrap`` (integers).
        sr_bits: random bits per element for stochastic rounding, 1..30.
        seed: integer in [0, 2^64) (a JAX integer array under jit); required for stochastic modes.
            The same seed gives the same bits in both backends.
        nan: for formats without NaN: ``"zero"`` maps NaN to zero like ml_dtypes (+NaN -> -0,
            -NaN -> +0 where -0 exists), ``"raise"`` raises (concrete inputs only).
        out: numpy only: a preallocated array of the input's shape and dtype to write into.
        ste: JAX only: straight-through gradients (the derivative of the identity, for
            quantization-aware training; :func:`lpemu.ste`). numpy inputs have no gradients.

    Returns:
        An array of the input's shape and dtype (a numpy scalar for scalar input).

    Raises:
        UnsupportedContainerError: the dtype cannot hold every value of ``fmt`` exactly.
        InvalidArgumentError: bad rounding, overflow, sr_bits, seed or nan argument.

    Examples:
        >>> import numpy as np
        >>> quantize(np.array([0.3, 464.0, 500.0], np.float32), "e4m3").tolist()
        [0.3125, 448.0, nan]
        >>> quantize(np.array([500.0], np.float32), "e4m3", overflow="saturate")
        array([448.], dtype=float32)
        >>> quantize(2.5, "int8", rounding="nearest_away")
        np.float64(3.0)
    """
    fmt = lookup(fmt)
    if ste and _is_jax(x):
        from .jax._ste import ste as straight_through

        return straight_through(lambda v: _call_jax("quantize", v, fmt, rounding, overflow, sr_bits, seed, nan))(x)
    if _is_jax(x):
        return _call_jax("quantize", x, fmt, rounding, overflow, sr_bits, seed, nan)
    a, bits, p, lo, hi = _prepare_numpy(x, fmt, rounding, overflow, sr_bits, seed, nan)
    if out is None:
        res = np.empty(a.shape, a.dtype)
    else:
        if not isinstance(out, np.ndarray) or out.shape != a.shape or out.dtype != a.dtype or not out.flags.c_contiguous:
            raise InvalidArgumentError(f"out must be a C-contiguous {a.dtype} array of shape {a.shape}")
        res = out
    from .kernels.numba.specialize import run

    if isinstance(fmt, FixedFormat):
        run("quantize_fixed", bits, res.reshape(-1), p, flags_of(p), lo, hi)
    else:
        run("quantize_float", bits, res.reshape(-1).view(bits.dtype), p, flags_of(p), lo, hi)
    return res[()] if res.ndim == 0 and out is None else res


def encode(
    x: ArrayLike,
    fmt: FormatLike,
    rounding: str | RoundingMode = "nearest_even",
    overflow: str | Overflow | None = None,
    *,
    sr_bits: int = 30,
    seed: int | None = None,
    nan: str = "zero",
) -> Any:
    """Round ``x`` into ``fmt`` and return the bit codes (uint8/16/32/64, the narrowest that fits).

    Same arguments and rounding as :func:`quantize`; ``decode(encode(x, f), f)`` equals
    ``quantize(x, f)`` bit for bit (NaNs become the container's canonical quiet NaN). Integer
    and fixed-point codes are two's-complement bit patterns.

    Examples:
        >>> import numpy as np
        >>> encode(np.array([1.0, -2.0, 448.0, np.nan], np.float32), "e4m3")
        array([ 56, 192, 126, 127], dtype=uint8)
        >>> encode(np.array([-1.0, 3.7]), "int4")
        array([15,  4], dtype=uint8)
    """
    fmt = lookup(fmt)
    if _is_jax(x):
        return _call_jax("encode", x, fmt, rounding, overflow, sr_bits, seed, nan)
    a, bits, p, lo, hi = _prepare_numpy(x, fmt, rounding, overflow, sr_bits, seed, nan)
    codes = np.empty(a.shape, code_dtype(fmt))
    from .kernels.numba.specialize import run

    name = "encode_fixed" if isinstance(fmt, FixedFormat) else "encode_float"
    run(name, bits, codes.reshape(-1), p, flags_of(p), lo, hi)
    return codes[()] if codes.ndim == 0 else codes


def decode(codes: ArrayLike, fmt: FormatLike, dtype: Any = np.float32) -> Any:
    """Turn bit codes of ``fmt`` back into values in a float32 (default) or float64 container.

    NaN codes give the container's canonical quiet NaN (sign: the code's sign bit for IEEE
    and ``fn`` formats; negative for the fnuz/P3109 NaN 0x80, as ml_dtypes decodes it).

    Examples:
        >>> import numpy as np
        >>> decode(np.array([0x38, 0x7E, 0xFF], np.uint8), "e4m3")
        array([  1., 448.,  nan], dtype=float32)
    """
    fmt = lookup(fmt)
    dtype = np.dtype(dtype)
    if _is_jax(codes):
        import jax.numpy as jnp

        if not jnp.issubdtype(codes.dtype, jnp.integer):
            raise InvalidArgumentError(f"codes must be an integer array, got {codes.dtype}")
        p = _params(fmt, dtype, "nearest_even", None, 30)
        kind = "fixed" if isinstance(fmt, FixedFormat) else "float"
        return _jax_kernel(f"decode_{kind}")(codes, p)
    c = np.asarray(codes)
    if c.dtype.kind not in "iu":
        raise InvalidArgumentError(f"codes must be an integer array, got {c.dtype}")
    if c.size and (c.min() < 0 or int(c.max()) >= fmt.num_codes):
        raise InvalidArgumentError(f"codes of {fmt.name} must be in [0, {fmt.num_codes - 1}]")
    p = _params(fmt, dtype, "nearest_even", None, 30)
    flat = np.ascontiguousarray(c).reshape(-1)
    res = np.empty(c.shape, dtype)
    from .kernels.numba import codec
    from .kernels.numba.specialize import run

    if isinstance(fmt, FixedFormat):
        codec.decode_fixed(flat, res.reshape(-1), p)
    else:
        itype = np.int32 if dtype == np.float32 else np.int64
        run("decode_float", flat, res.reshape(-1).view(itype), p, flags_of(p))
    return res[()] if res.ndim == 0 else res
