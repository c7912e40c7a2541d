"""Matrix products with modelled accumulators: every product and every addition rounded as the
model says, and nothing else.

Operands arrive as float64 values of their input formats (the public layer rounds them), ``a``
as (M, K), ``b`` as (K, N), and the initial accumulator ``c`` as (M, N) values of the accumulator
format. Products are exact in float64 (inputs of at most 26 significant bits) or rounded into
a product format (:func:`product`). Each addition is exact in float64 (:func:`~.arith.two_sum`),
rounded to odd and then rounded once into the accumulator format, like :mod:`.arith`.

* ``sequential`` (:func:`kernels`): recursive summation ``acc = round(acc + p_k)`` for k = 0..K-1; with
  exact products every step is a fused multiply-add.
* :func:`exact_matmul`: c plus every product summed exactly (kernels/numba/exact_sum.py), then
  rounded once.
* ``pairwise`` (:func:`kernels`): a binary tree; level by level, neighbours (0, 1), (2, 3)... are added
  and rounded, and an odd last element moves up unchanged.

Stochastic roundings of output element (i, j) draw their random bits from the index
``(i * N + j) * K + t``: t = k for step k of the sequential sum, and t numbers the tree's
additions level by level for the pairwise sum; product roundings use deterministic modes.
Kernels take a block of rows (the first one is row ``row0`` of the whole product) and release
the GIL, so the caller runs row blocks in threads; the columns are the innermost loop.
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np

from .arith import exact_add, round_result, two_prod
from .exact_sum import BANKS, exact_sum_odd
from .lmul import lmul_value
from .random import sr_keys
from .rounding import float_element
from ..params import DOWN, Flags

#: Product models: exact, rounded into a format, L-Mul (kernels/numba/lmul.py).
PRODUCT_EXACT, PRODUCT_ROUNDED, PRODUCT_LMUL = 0, 1, 2


def _product(x: float, y: float, kind: int, pp, fp, lp) -> float:
    """x * y: exact, rounded once into the product format (``pp``, ``fp``; deterministic modes)
    or the L-Mul approximation (``lp``)."""
    if kind == PRODUCT_ROUNDED:
        hi, lo = two_prod(x, y)
        return round_result(hi, lo, 0, pp, fp, 0, 0)
    if kind == PRODUCT_LMUL:
        return lmul_value(x, y, lp)
    return x * y


def _accumulate(acc: float, p: float, i: int, pacc, facc, key0, key1) -> float:
    """acc + p rounded once into the accumulator format (random bits of index ``i``)."""
    s, e = exact_add(acc, p, 0.0, facc.mode)
    return round_result(s, e, i, pacc, facc, key0, key1)


# Called (not inlined) by the generic kernels: each is compiled once, which keeps the first
# call of a generic kernel to seconds; the specialised kernels inline them.
product = nb.njit(nogil=True, error_model="numpy", cache=True)(_product)
accumulate = nb.njit(nogil=True, error_model="numpy", cache=True)(_accumulate)
_product_inline = nb.njit(inline="always")(_product)
_accumulate_inline = nb.njit(inline="always")(_accumulate)


def _constant(value):
    """An inline function returning its argument (value None) or the constant ``value``."""
    if value is None:
        return nb.njit(inline="always")(lambda arg: arg)
    return nb.njit(inline="always")(lambda arg: value)


@functools.cache
def kernels(spec: tuple | None = None):
    """The (sequential, pairwise) matmul kernels.

    ``spec`` None gives the generic build, which reads the product kind and the flags ``fp`` and
    ``facc`` at run time and calls :func:`product` and :func:`accumulate`. ``spec = (kind, fp,
    facc)`` (Flags as tuples) gives a build with those as constants and both helpers inlined:
    every branch on a mode or format family disappears and LLVM vectorises the column loop
    (measured 5x faster at 256^3) for about 12 s of compilation each. Both builds run the same
    code and give the same bits.
    """
    if spec is None:
        get_kind, get_fp, get_facc = _constant(None), _constant(None), _constant(None)
        prod, acc_fn = product, accumulate
    else:
        get_kind, get_fp, get_facc = _constant(spec[0]), _constant(Flags(*spec[1])), _constant(Flags(*spec[2]))
        prod, acc_fn = _product_inline, _accumulate_inline

    @nb.njit(nogil=True, error_model="numpy")
    def sequential(a, b, c, out, kind, pp, fp, lp, pacc, facc, seed_lo, seed_hi, row0):
        """out = c + a @ b with recursive summation over k, each step rounded."""
        kind, fp, facc = get_kind(kind), get_fp(fp), get_facc(facc)
        key0, key1 = sr_keys(seed_lo, seed_hi)
        m, k_dim = a.shape
        n = b.shape[1]
        for i in range(m):
            acc = c[i].copy()
            base = (row0 + i) * n * k_dim
            for k in range(k_dim):
                x = a[i, k]
                for j in range(n):
                    p = prod(x, b[k, j], kind, pp, fp, lp)
                    acc[j] = acc_fn(acc[j], p, base + j * k_dim + k, pacc, facc, key0, key1)
            out[i] = acc

    @nb.njit(nogil=True, error_model="numpy")
    def pairwise(a, b, c, out, kind, pp, fp, lp, pacc, facc, seed_lo, seed_hi, row0):
        """out = c + (a @ b summed as a binary tree), each addition rounded; c is added last."""
        kind, fp, facc = get_kind(kind), get_fp(fp), get_facc(facc)
        key0, key1 = sr_keys(seed_lo, seed_hi)
        m, k_dim = a.shape
        n = b.shape[1]
        t = np.empty((k_dim, n))
        for i in range(m):
            for k in range(k_dim):
                x = a[i, k]
                for j in range(n):
                    t[k, j] = prod(x, b[k, j], kind, pp, fp, lp)
            base = (row0 + i) * n * k_dim
            node = 0
            size = k_dim
            while size > 1:
                half = size // 2
                for s in range(half):
                    for j in range(n):
                        t[s, j] = acc_fn(t[2 * s, j], t[2 * s + 1, j], base + j * k_dim + node + s, pacc, facc,
                                         key0, key1)
                if size % 2 == 1:
                    t[half] = t[size - 1]
                node += half
                size -= half
            for j in range(n):
                out[i, j] = acc_fn(c[i, j], t[0, j], base + j * k_dim + node, pacc, facc, key0, key1)

    return sequential, pairwise


@nb.njit(nogil=True, error_model="numpy", cache=True)
def exact_matmul(a, bt, c, out, kind, pp, fp, lp, pacc, facc, seed_lo, seed_hi, row0, lsb, nlimbs):
    """out = round(c + a @ b) with the sum exact; ``bt`` is b transposed (N, K); every product
    and c are multiples of 2^lsb, and ``nlimbs`` limbs hold their sum."""
    key0, key1 = sr_keys(seed_lo, seed_hi)
    m, k_dim = a.shape
    n = bt.shape[0]
    terms = np.empty(k_dim)
    limbs = np.empty((BANKS, nlimbs), np.int64)
    round_down = facc.mode == DOWN
    for i in range(m):
        for j in range(n):
            for k in range(k_dim):
                terms[k] = product(a[i, k], bt[j, k], kind, pp, fp, lp)
            b = exact_sum_odd(terms, c[i, j], limbs, lsb, round_down)
            out[i, j] = np.int64(float_element(b, (row0 + i) * n + j, pacc, facc, key0, key1)).view(np.float64)


@nb.njit(parallel=True, cache=True)
def sequential_matmul_fp32(a, b, c, out):
    """out = c + a @ b summed sequentially in float32 with the hardware's nearest-even additions.

    Bit-identical to the ``sequential`` kernel with an fp32 round-to-nearest-even accumulator
    whenever every product a[i, k] * b[k, j] is exact in float32 (inputs of at most 24
    significant bits together, e.g. fp16, bf16 or fp8 operands): IEEE 754 float32 addition then
    is that accumulator (fp32 round-to-nearest-even, Inf on overflow, subnormals kept), and a
    fused multiply-add the compiler may form gives the same result. About 100x faster.
    """
    m, k_dim = a.shape
    n = b.shape[1]
    for i in nb.prange(m):
        acc = c[i].copy()
        for k in range(k_dim):
            x = a[i, k]
            for j in range(n):
                acc[j] += x * b[k, j]
        out[i] = acc
