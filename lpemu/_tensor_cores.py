"""NVIDIA tensor cores: the block-FMA model, GPU presets and ``tc_matmul``.

The model (shared/specs/tensor-cores.md, after Khattak & Mikaitis, "Accurate Models of NVIDIA
Tensor Cores") computes ``d = a . b + c`` one block of ``n`` products at a time, feeding each
block's result back as the next block's ``c``:

1. Products are exact; a product's exponent is ``ea + eb`` (its significand is in [1, 4));
   a subnormal input's exponent is its format's ``emin``. Zero products are dropped. c takes
   part (when non-zero) with its 24-bit significand and exponent (-126 for a subnormal c).
2. ``E`` = the largest term exponent, but at least ``min_exp_limit``.
3. Every term is truncated toward zero to ``23 + neab`` fraction bits below ``2^E`` (global
   alignment, no sticky bit); the truncated terms are added exactly.
4. The sum is normalised once and rounded: fp32 output toward zero to ``23 + min(neab, 0)``
   fraction bits; fp16 output to nearest even (c is first rounded to fp16, nearest even).
5. K is cut into blocks of ``n`` (the last one zero-padded); K = 0 is one block of zeros.
6. A NaN or Inf in the exact products or in c gives NaN, or +-Inf when only one sign of Inf
   occurs.

Validated bit for bit against every case of shared/data/tensor-core-validation (real V100,
A100 and H100 outputs) by tests/test_tensor_cores.py. Where the spec is silent or the data do
not decide, the choices below follow the published MATLAB model (north-numerical-computing/
MATLAB-tensor-core) and, where marked, measurements on an H100 (wmma/mma.sync kernels,
1800 cases, every one reproduced; see the tests for the edge cases):

* Overflow of a block's result gives +-Inf, also for the fp32 round-toward-zero output where
  IEEE 754 would give the largest finite number (measured), and stays +-Inf through later
  blocks. ``(1.5 * 2^127) * 2 - (1.5 * 2^127) * 2`` is +0: products never overflow (measured).
* A zero result is +0, also when a negative sum rounds to zero (measured).
* A NaN result is NVIDIA's NaN: 0x7FFFFFFF, or 0x7FFF for fp16 output (measured), held in
  float32 as 0x7FFFE000.
* The fp32 output's grid continues into the subnormal range with the quantum of its smallest
  binade, ``2^(-126 - 23 - min(neab, 0))`` (measured for neab >= 0).
* H100/H200 FP8 inputs depend on the instruction. The fp32 preset is ``wgmma`` (what cuBLAS FP8
  GEMMs run, and the validation data): one block of 32 products, ``neab = -10``. The fp16
  preset is ``mma.sync`` (validation data and measured): each block's 32 products form two
  interleaved halves (products ``4t, 4t+1`` and ``4t+2, 4t+3``), each a 16-product block FMA
  with ``neab = 2`` rounded to the output, the second taking the first's result as addend; c is
  then added with one rounding to nearest even (``interleave=True``). ``mma.sync`` with fp32
  output works the same way (measured); build it as ``TensorCore("H100", E4M3, 32, 2, -133,
  interleave=True)``. The spec's single-block model reproduces only about two thirds of the
  fp16-output data.
* H100/H200 tf32 blocks have 4 products, not the spec table's 8: measured (K = 8 and 16,
  wmma), and what the published model uses; the validation data (K = 4) cannot tell them apart.
* A2 is an A100, H200 an H100 and L40S an Ada GPU. bf16 and tf32 inputs accumulate into fp32
  only (as in PTX ``mma``), fp16 and FP8 inputs into fp32 or fp16.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._container import check_fits
from ._formats import FloatFormat
from .errors import InvalidArgumentError, LpemuError, check_int
from .formats import BF16, E4M3, E5M2, FP16, TF32, lookup

__all__ = ["TensorCore", "TENSOR_CORES", "tensor_core", "tc_matmul"]

#: Output formats of the accumulator.
OUTPUTS = ("fp32", "fp16")


@dataclass(frozen=True)
class TensorCore:
    """The arithmetic of one tensor-core configuration (GPU, input format, output format).

    Usually obtained from :func:`tensor_core`; constructing one directly gives a custom model
    (any signed format whose values are float32s, any block length and alignment).

    Raises:
        InvalidArgumentError: a field is out of range (listed with each field).

    Examples:
        >>> from lpemu.formats import E4M3, FP16
        >>> TensorCore("custom", FP16, n=4, neab=3, min_exp_limit=-140).out_frac_bits
        23
        >>> mma_sync = TensorCore("H100 mma.sync", E4M3, 32, 2, -133, interleave=True)  # measured
        >>> import numpy as np
        >>> one = np.ones((1, 1), np.float32)
        >>> c = np.array([[1 + 2.0**-20]], np.float32)
        >>> float(tc_matmul(one, one, c, model=mma_sync)[0, 0]) == 2 + 2.0**-20  # c keeps its bits
        True
        >>> float(tc_matmul(one, one, c, model=tensor_core("H100", "e4m3"))[0, 0])  # wgmma: 13 bits
        2.0
    """

    #: GPU name, for display (the arithmetic is set by the other fields).
    gpu: str
    #: Format of the elements of a and b: a signed FloatFormat whose values are float32s.
    in_fmt: FloatFormat
    #: Products per block FMA, 1..1024 (a multiple of 4 with ``interleave``).
    n: int
    #: Extra alignment bits: aligned terms keep ``23 + neab`` fraction bits, -22..6.
    neab: int
    #: Smallest alignment exponent E, -2048..127.
    min_exp_limit: int
    #: Accumulator format: ``"fp32"`` (round toward zero) or ``"fp16"`` (round to nearest even).
    out: str = "fp32"
    #: Hopper FP8 through ``mma.sync``: each block is two interleaved half-blocks (products
    #: ``4t, 4t+1``, then ``4t+2, 4t+3``) rounded to the output, the second taking the first's
    #: result as addend; c is then added with one rounding to nearest even.
    interleave: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.gpu, str) or not self.gpu:
            raise InvalidArgumentError(f"TensorCore.gpu must be a non-empty string, got {self.gpu!r}")
        if not isinstance(self.in_fmt, FloatFormat) or not self.in_fmt.signed:
            raise InvalidArgumentError(f"TensorCore.in_fmt must be a signed FloatFormat, got {self.in_fmt!r}")
        try:
            check_fits(self.in_fmt, np.float32)
        except LpemuError as e:
            raise InvalidArgumentError(f"TensorCore.in_fmt must fit in float32: {e}") from None
        set_(self, "n", check_int("TensorCore.n", self.n, 1, 1024))
        set_(self, "neab", check_int("TensorCore.neab", self.neab, -22, 6))
        set_(self, "min_exp_limit", check_int("TensorCore.min_exp_limit", self.min_exp_limit, -2048, 127))
        out = self.out.lower() if isinstance(self.out, str) else self.out
        if out not in OUTPUTS:
            raise InvalidArgumentError(f"TensorCore.out must be one of {', '.join(OUTPUTS)}; got {self.out!r}")
        set_(self, "out", out)
        if not isinstance(self.interleave, (bool, np.bool_)):
            raise InvalidArgumentError(f"TensorCore.interleave must be a bool, got {self.interleave!r}")
        set_(self, "interleave", bool(self.interleave))
        if self.interleave and self.n % 4:
            raise InvalidArgumentError(f"TensorCore.n must be a multiple of 4 with interleave=True, got {self.n}")

    @property
    def frac_bits(self) -> int:
        """Fraction bits of an aligned term, ``23 + neab``."""
        return 23 + self.neab

    @property
    def out_frac_bits(self) -> int:
        """Fraction bits of a block's result: ``23 + min(neab, 0)`` (fp32) or 10 (fp16)."""
        return 23 + min(self.neab, 0) if self.out == "fp32" else 10

    @property
    def out_emin(self) -> int:
        """Exponent of the output's smallest normal binade (-126 or -14)."""
        return -126 if self.out == "fp32" else -14

    @property
    def out_emax(self) -> int:
        """Exponent of the output's largest binade (127 or 15)."""
        return 127 if self.out == "fp32" else 15

    @property
    def nan_bits(self) -> int:
        """float32 bits of a NaN result: NVIDIA's NaN, 0x7FFFFFFF, or for fp16 output 0x7FFF
        (held in float32 as 0x7FFFE000), whatever NaNs went in (measured on an H100)."""
        return 0x7FFFFFFF if self.out == "fp32" else 0x7FFFE000


_INPUT_NAMES = {FP16: "fp16", BF16: "bf16", TF32: "tf32", E4M3: "e4m3", E5M2: "e5m2"}
#: GPU names (lower case) -> (display name, the preset family whose arithmetic it has).
_GPUS = {"v100": ("V100", "V100"), "a100": ("A100", "A100"), "a2": ("A2", "A100"),
         "h100": ("H100", "H100"), "h200": ("H200", "H100"), "ada": ("Ada", "Ada"),
         "l40s": ("L40S", "Ada")}
# (family, input, output): (n, neab, min_exp_limit, interleave) -- shared/specs/tensor-cores.md
_TABLE = {
    ("V100", FP16, "fp32"): (4, 0, -1024, False),
    ("V100", FP16, "fp16"): (4, 0, -19, False),
    ("A100", FP16, "fp32"): (8, 1, -132, False),
    ("A100", FP16, "fp16"): (8, 1, -20, False),
    ("A100", BF16, "fp32"): (8, 1, -132, False),
    ("A100", TF32, "fp32"): (4, 1, -132, False),
    ("H100", FP16, "fp32"): (16, 2, -133, False),
    ("H100", FP16, "fp16"): (16, 2, -21, False),
    ("H100", BF16, "fp32"): (16, 2, -133, False),
    ("H100", TF32, "fp32"): (4, 2, -133, False),  # spec table: 8; measured: 4
    ("H100", E4M3, "fp32"): (32, -10, -133, False),
    ("H100", E4M3, "fp16"): (32, 2, -133, True),  # spec table: neab -10 without interleave
    ("H100", E5M2, "fp32"): (32, -10, -133, False),
    ("H100", E5M2, "fp16"): (32, 2, -133, True),
    ("Ada", FP16, "fp32"): (8, 1, -132, False),
    ("Ada", FP16, "fp16"): (8, 1, -20, False),
    ("Ada", BF16, "fp32"): (8, 1, -132, False),
    ("Ada", TF32, "fp32"): (4, 1, -132, False),
    ("Ada", E4M3, "fp32"): (16, -10, -132, False),
    ("Ada", E4M3, "fp16"): (16, -10, -132, False),
    ("Ada", E5M2, "fp32"): (16, -10, -132, False),
    ("Ada", E5M2, "fp16"): (16, -10, -132, False),
}

#: Every preset, keyed by (GPU name in lower case, input name, output): ``("h100", "e4m3", "fp32")``.
TENSOR_CORES: dict[tuple[str, str, str], TensorCore] = {
    (gpu, _INPUT_NAMES[fmt], out): TensorCore(display, fmt, n, neab, min_exp, out, inter)
    for gpu, (display, family) in _GPUS.items()
    for (fam, fmt, out), (n, neab, min_exp, inter) in _TABLE.items()
    if fam == family
}


def tensor_core(gpu: str, input: str | FloatFormat, out: str = "fp32") -> TensorCore:
    """The tensor-core model of ``gpu`` for ``input`` elements accumulated into ``out``.

    Args:
        gpu: ``"V100"``, ``"A100"``, ``"A2"``, ``"H100"``, ``"H200"``, ``"Ada"`` or ``"L40S"``
            (any case). A2 has the A100's arithmetic, H200 the H100's, L40S Ada's.
        input: the element format of a and b: ``"fp16"``, ``"bf16"``, ``"tf32"``, ``"e4m3"``,
            ``"e5m2"`` (or any lpemu name of these formats, or the FloatFormat itself).
        out: ``"fp32"`` (default) or ``"fp16"`` (fp16 and FP8 inputs only).

    Returns:
        A :class:`TensorCore`; its fields are the parameters of shared/specs/tensor-cores.md.

    Raises:
        InvalidArgumentError: an unknown GPU, an input format the GPU's tensor cores do not
            take, or an output they do not produce for it; the message lists what is allowed.

    Examples:
        >>> m = tensor_core("h100", "e4m3")
        >>> m.n, m.neab, m.min_exp_limit, m.out
        (32, -10, -133, 'fp32')
        >>> tensor_core("A2", "fp16", out="fp16")
        TensorCore(gpu='A2', in_fmt=FloatFormat(5, 10, name='float16'), n=8, neab=1, min_exp_limit=-20, out='fp16', interleave=False)
    """
    key = gpu.strip().lower() if isinstance(gpu, str) else gpu
    if key not in _GPUS:
        names = ", ".join(display for display, _ in _GPUS.values())
        raise InvalidArgumentError(f"tensor_core: gpu must be one of {names}; got {gpu!r}")
    display, family = _GPUS[key]
    inputs = [name for (fam, fmt, o), _ in _TABLE.items() if fam == family and o == "fp32"
              for name in [_INPUT_NAMES[fmt]]]
    try:
        fmt = lookup(input)
    except LpemuError:
        fmt = None
    if fmt not in _INPUT_NAMES or (family, fmt, "fp32") not in _TABLE:
        raise InvalidArgumentError(
            f"tensor_core: {display} tensor cores take input {', '.join(inputs)}; got {input!r}")
    o = out.strip().lower() if isinstance(out, str) else out
    if (family, fmt, o) not in _TABLE:
        outs = [oo for (fam, f, oo) in _TABLE if fam == family and f == fmt]
        raise InvalidArgumentError(
            f"tensor_core: {display} with {_INPUT_NAMES[fmt]} input accumulates into {', '.join(outs)}; got out={out!r}")
    return TENSOR_CORES[(key, _INPUT_NAMES[fmt], o)]


def kernel_params(model: TensorCore) -> tuple[int, ...]:
    """The kernels' parameter tuple ``(n, frac, min_exp, out_frac, out_emin, out_emax, rne,
    interleave, nan_bits)``.

    ``min_exp`` is ``min_exp_limit`` raised to just below the smallest exponent a non-zero term
    can have (``2 * in_fmt.emin`` for products, -126 for c): a lower limit binds only when every
    term is zero, and then the result is 0 whatever E is. This keeps the kernels' power-of-two
    scale factors inside float64's range.
    """
    floor = min(2 * model.in_fmt.emin, -126) - 1
    return (model.n, model.frac_bits, max(model.min_exp_limit, floor), model.out_frac_bits,
            model.out_emin, model.out_emax, int(model.out == "fp16"), int(model.interleave),
            model.nan_bits)


def block_order(k: int, model: TensorCore) -> np.ndarray:
    """Source index of each of the padded K positions the kernels see (-1: zero padding).

    K is padded to whole blocks (at least one); with ``interleave`` each block is reordered so
    that its two interleaved halves (products ``4t, 4t+1`` and ``4t+2, 4t+3``) are contiguous.
    """
    n = model.n
    kp = max(1, -(-k // n)) * n
    idx = np.arange(kp)
    if model.interleave:
        local = np.arange(n)
        order = np.concatenate([local[local % 4 < 2], local[local % 4 >= 2]])
        idx = (idx // n) * n + order[idx % n]
    return np.where(idx < k, idx, -1).astype(np.int64)


def _is_jax(x: object) -> bool:
    if "jax" not in sys.modules:
        return False
    import jax

    return isinstance(x, jax.Array)


def matmul_shape(a_shape, b_shape, c_shape=None, op: str = "tc_matmul") -> tuple[int, int, int, tuple[int, ...]]:
    """(M, K, N, result shape) of ``a @ b`` for 1-D or 2-D operands, or InvalidArgumentError naming ``op``."""
    if len(a_shape) not in (1, 2) or len(b_shape) not in (1, 2):
        raise InvalidArgumentError(f"{op}: a and b must be 1-D or 2-D, got shapes {a_shape} and {b_shape}")
    m, k = (1, a_shape[0]) if len(a_shape) == 1 else a_shape
    k2, n = (b_shape[0], 1) if len(b_shape) == 1 else b_shape
    if k != k2:
        raise InvalidArgumentError(f"{op}: a is {a_shape} and b is {b_shape}: inner dimensions {k} and {k2} differ")
    shape = tuple(s for s, keep in ((m, len(a_shape) == 2), (n, len(b_shape) == 2)) if keep)
    if c_shape is not None and c_shape != shape:
        try:
            np.broadcast_shapes(c_shape, shape)
            ok = np.broadcast_shapes(c_shape, shape) == shape
        except ValueError:
            ok = False
        if not ok:
            raise InvalidArgumentError(f"{op}: c of shape {c_shape} does not broadcast to the result shape {shape}")
    return m, k, n, shape


def _check_dtype(name: str, dtype) -> None:
    if np.dtype(dtype) != np.float32:
        raise InvalidArgumentError(f"tc_matmul: {name} must be a float32 array, got {dtype}")


def _in_format(x: np.ndarray, fmt: FloatFormat) -> np.ndarray:
    """Which float32 elements of ``x`` are values of ``fmt`` (NaN, Inf and -0 only where it has
    them). Bit tests rather than ``quantize(x) == x``: 20x faster, and it is on every call."""
    bits = x.view(np.uint32)
    mag = bits & np.uint32(0x7FFFFFFF)
    e32 = (mag >> np.uint32(23)).astype(np.int32)
    # exponent of the format's quantum at x's binade, minus that of x's last float32 bit
    lsb = np.maximum(e32, 1) - 150
    drop = np.clip(np.maximum(e32 - 127, fmt.emin) - fmt.man_bits - lsb, 0, 31).astype(np.uint32)
    sig = (mag & np.uint32(0x7FFFFF)) | np.where(e32 > 0, np.uint32(0x800000), np.uint32(0))
    fits = (sig & ((np.uint32(1) << drop) - np.uint32(1))) == 0
    finite = e32 < 255
    absx = np.abs(x)
    ok = finite & fits & (absx <= fmt.max)
    if not fmt.subnormals:
        ok &= (absx >= fmt.min_normal) | (mag == 0)
    if not fmt.has_negative_zero:
        ok &= bits != np.uint32(0x80000000)
    ok |= np.isnan(x) & fmt.has_nan
    ok |= np.isinf(x) & fmt.infinities
    return ok


def _check_values(name: str, x: np.ndarray, fmt: FloatFormat) -> None:
    """Raise unless every element of ``x`` is a value of ``fmt``."""
    ok = _in_format(x, fmt)
    if not ok.all():
        where = tuple(int(i) for i in np.argwhere(~ok)[0])
        raise InvalidArgumentError(
            f"tc_matmul: {name} must hold {fmt.name} values; {name}[{', '.join(map(str, where))}] = {x[where]!r} is not one")


def tc_matmul(a: Any, b: Any, c: Any = None, *, model: TensorCore) -> Any:
    """``a @ b + c`` computed as the tensor core ``model`` computes it, bit for bit.

    Args:
        a: (M, K) float32 array of values of ``model.in_fmt`` (1-D: one row).
        b: (K, N) float32 array of values of ``model.in_fmt`` (1-D: one column).
        c: float32 addend broadcastable to the result shape, or None for zeros. For fp16 output
            it is first rounded to fp16 (nearest even; beyond 65520 it becomes +-Inf).
        model: a :class:`TensorCore` (see :func:`tensor_core`).

    Returns:
        A float32 array of shape (M, N) (without the dimensions of 1-D operands: a scalar
        array for two vectors); fp16 outputs are held as float32 values. numpy inputs run the
        Numba kernel; if a or b is a ``jax.Array`` (also under ``jax.jit``/``jax.vmap``) the JAX
        kernel runs and a JAX array is returned. NaN results have NVIDIA's bits
        (:attr:`TensorCore.nan_bits`); overflow gives +-Inf (see the module docstring for the
        model and its choices).

    Raises:
        InvalidArgumentError: ``model`` is not a TensorCore; a, b or c is not float32 or has
            the wrong shape; (numpy only) an element of a or b is not a value of
            ``model.in_fmt``.

    Examples:
        >>> import numpy as np
        >>> v100, a100 = tensor_core("V100", "fp16"), tensor_core("A100", "fp16")
        >>> a = np.array([[1.0, 2.0**-12, 2.0**-12, 2.0**-12]], np.float32)
        >>> float(tc_matmul(a, a.T, model=v100)[0, 0]), float(tc_matmul(a, a.T, model=a100)[0, 0])
        (1.0, 1.0000001192092896)
        >>> h100 = tensor_core("H100", "e4m3")
        >>> tc_matmul(np.array([1.0, 2.0**-6], np.float32), np.array([1.0, 2.0**-7], np.float32), model=h100)
        array(1.0001221, dtype=float32)
    """
    if not isinstance(model, TensorCore):
        raise InvalidArgumentError(f"tc_matmul: model must be a TensorCore (see tensor_core()), got {model!r}")
    if _is_jax(a) or _is_jax(b) or _is_jax(c):
        return _tc_matmul_jax(a, b, c, model)
    a = np.asarray(a)
    b = np.asarray(b)
    c = None if c is None else np.asarray(c)
    for name, x in (("a", a), ("b", b)) + ((("c", c),) if c is not None else ()):
        _check_dtype(name, x.dtype)
    m, k, n, shape = matmul_shape(a.shape, b.shape, None if c is None else c.shape)
    a2 = np.ascontiguousarray(a.reshape(m, k))
    b2 = np.ascontiguousarray(b.reshape(k, n))
    _check_values("a", a2, model.in_fmt)
    _check_values("b", b2, model.in_fmt)
    c2 = np.zeros((m, n), np.float32) if c is None else np.broadcast_to(c, shape).reshape(m, n)
    if model.out == "fp16":
        with np.errstate(over="ignore"):
            c2 = c2.astype(np.float16).astype(np.float32)
    c2 = np.ascontiguousarray(c2, np.float32)
    return _run_numba(a2, b2, c2, model).reshape(shape)


#: Problems with fewer multiply-adds (M * N * K, padded) run on one thread.
_PARALLEL_MIN_WORK = 1 << 18


def _run_numba(a: np.ndarray, b: np.ndarray, c: np.ndarray, model: TensorCore) -> np.ndarray:
    from .kernels.numba import tensor_core as nbk

    m, k = a.shape
    n = b.shape[1]
    p = kernel_params(model)
    emin = model.in_fmt.emin
    perm = block_order(k, model)
    kp = perm.shape[0]
    va = np.empty((m, kp), np.float64)
    ea = np.empty((m, kp), np.int64)
    nbk.split_operand(a, perm, va, ea, emin)
    bt = np.ascontiguousarray(b.T)
    vbt = np.empty((n, kp), np.float64)
    ebt = np.empty((n, kp), np.int64)
    nbk.split_operand(bt, perm, vbt, ebt, emin)
    vb = np.ascontiguousarray(vbt.T)
    eb = np.ascontiguousarray(ebt.T)
    row_special = ~np.isfinite(a).all(axis=1)
    col_special = ~np.isfinite(b).all(axis=0)
    out = np.empty((m, n), np.float32)
    if m and n:
        run = nbk.tc_matmul if m * n * kp >= _PARALLEL_MIN_WORK else nbk.tc_matmul_serial
        run(va, ea, vb, eb, c, row_special, col_special, a, bt, out, p)
    return out


@functools.cache
def _jax_kernel():
    import jax

    from .kernels.jax import tensor_core as jxk

    return jax.jit(jxk.tc_matmul, static_argnums=(3, 4))


def _tc_matmul_jax(a, b, c, model: TensorCore):
    import jax.numpy as jnp

    a = jnp.asarray(a)
    b = jnp.asarray(b)
    c = None if c is None else jnp.asarray(c)
    for name, x in (("a", a), ("b", b)) + ((("c", c),) if c is not None else ()):
        _check_dtype(name, x.dtype)
    m, k, n, shape = matmul_shape(a.shape, b.shape, None if c is None else c.shape)
    c2 = jnp.zeros((m, n), jnp.float32) if c is None else jnp.broadcast_to(c, shape).reshape(m, n)
    if model.out == "fp16":
        c2 = c2.astype(jnp.float16).astype(jnp.float32)
    perm = tuple(int(i) for i in block_order(k, model))
    fmt = model.in_fmt
    static = kernel_params(model) + (fmt.emin,)
    return _jax_kernel()(a.reshape(m, k), b.reshape(k, n), c2, static, perm).reshape(shape)
