"""Integer-only pipelines (lpemu.integer, lpemu.dyadic): speed of the Numba and JAX kernels against
a plain numpy int64 implementation of the same integer arithmetic.

Prints the CPU, core count and library versions, then one table per workload with the best of
``--repeat`` timed calls (after a call that compiles) and each implementation's speed-up over
numpy (numpy time / its time). Every implementation's output is checked bit for bit against
lpemu's first.

1. **int8 GEMM + requantization**: ``--n`` x ``--n`` x ``--n`` int8 x int8 with an int32 bias,
   then per-channel double-rounding requantization (TFLite's FullyConnected):
   ``lpemu.integer.int_dense``. numpy: ``a.astype(int64) @ b.astype(int64)``, then
   SaturatingRoundingDoublingHighMul and RoundingDivideByPOT as int64 array expressions.
2. **Shiftmax**: I-ViT's integer softmax over the rows of an ``--rows`` x ``--cols`` int8 matrix
   (``lpemu.integer.shiftmax``); numpy: the same steps as int64 array expressions.

Examples:
    python benchmarks/bench_integer.py                    # defaults: 512^3 GEMM, 4096 x 4096 Shiftmax
    python benchmarks/bench_integer.py --n 256 --rows 1024 --cols 1024 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import platform

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.table import Table

from common import best_time, cpu_model, version
from lpemu import dyadic, integer

SEED = 20260106
INT32_MAX = 2**31 - 1


# ---- numpy int64 baselines -------------------------------------------------------------------------
def numpy_srdhm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = a * b
    v = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = np.where(v >= 0, v >> 31, -((-v) >> 31))
    return np.where((a == -(2**31)) & (b == -(2**31)), INT32_MAX, q)


def numpy_rdbpot(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    mask = (np.int64(1) << e) - 1
    return (x >> e) + ((x & mask) > (mask >> 1) + (x < 0))


def numpy_dense(x, w, bias, m, s) -> np.ndarray:
    acc = x.astype(np.int64) @ w.astype(np.int64) + bias
    acc = (acc + 2**31) % 2**32 - 2**31  # the int32 accumulator wraps
    left, right = np.maximum(s, 0).astype(np.int64), np.maximum(-s, 0).astype(np.int64)
    shifted = ((acc << left) + 2**31) % 2**32 - 2**31
    y = numpy_rdbpot(numpy_srdhm(shifted, m.astype(np.int64)), right)
    return np.clip(y, -128, 127).astype(np.int8)


def numpy_shiftmax(x: np.ndarray, scale: float, n: int = 15) -> np.ndarray:
    x0 = int(np.floor(-1.0 / scale))
    v = x.astype(np.int64)
    v = v - v.max(axis=-1, keepdims=True)
    v = v + (v >> 1) - (v >> 4)
    v = np.maximum(v, n * x0)
    q = v // x0
    e = (v - x0 * q - 2 * x0) << np.maximum(n - q - 1, 0)
    e = np.where(q == n, (-2 * x0) >> 1, e)
    f = INT32_MAX // np.minimum(e.sum(axis=-1, keepdims=True), INT32_MAX)
    return ((e * f) >> 24).astype(np.int8)


# ---- tables ---------------------------------------------------------------------------------------
def table(title: str, rows: list[tuple[str, float]], base: float) -> Table:
    t = Table(title=title)
    for col in ("implementation", "ms", "speed-up over numpy int64"):
        t.add_column(col, justify="left" if col == "implementation" else "right")
    for name, sec in rows:
        t.add_row(name, f"{sec * 1e3:.2f}", f"{base / sec:.1f}x")
    return t


def gemm_table(args) -> Table:
    rng = np.random.default_rng(SEED)
    n = args.n
    x = rng.integers(-128, 128, (n, n)).astype(np.int8)
    w = rng.integers(-128, 128, (n, n)).astype(np.int8)
    bias = rng.integers(-(2**20), 2**20, n).astype(np.int32)
    m, s = dyadic.quantize_multiplier(rng.uniform(1e-5, 1e-4, n))
    expected = integer.int_dense(x, w, bias, m, s)
    assert np.array_equal(numpy_dense(x, w, bias, m, s), expected)
    jitted = jax.jit(integer.int_dense)
    xj, wj, bj, mj, sj = (jnp.asarray(v) for v in (x, w, bias, m, s))
    assert np.array_equal(np.asarray(jitted(xj, wj, bj, mj, sj)), expected)
    base = best_time(lambda: numpy_dense(x, w, bias, m, s), args.repeat)
    rows = [("numpy int64 (matmul + SRDHM/RDBPOT expressions)", base),
            ("lpemu Numba: integer.int_dense", best_time(lambda: integer.int_dense(x, w, bias, m, s), args.repeat)),
            ("lpemu JAX (jit): integer.int_dense", best_time(lambda: jitted(xj, wj, bj, mj, sj), args.repeat))]
    return table(f"int8 GEMM {n}x{n}x{n} + int32 bias + per-channel requantization to int8 "
                 f"(best of {args.repeat}; all bit-identical)", rows, base)


def shiftmax_table(args) -> Table:
    rng = np.random.default_rng(SEED)
    x = rng.integers(-128, 128, (args.rows, args.cols)).astype(np.int8)
    scale = 0.05
    expected = integer.shiftmax(x, scale)[0]
    assert np.array_equal(numpy_shiftmax(x, scale), expected)
    jitted = jax.jit(lambda v: integer.shiftmax(v, scale)[0])
    xj = jnp.asarray(x)
    assert np.array_equal(np.asarray(jitted(xj)), expected)
    base = best_time(lambda: numpy_shiftmax(x, scale), args.repeat)
    rows = [("numpy int64 (array expressions)", base),
            ("lpemu Numba: integer.shiftmax", best_time(lambda: integer.shiftmax(x, scale), args.repeat)),
            ("lpemu JAX (jit): integer.shiftmax", best_time(lambda: jitted(xj), args.repeat))]
    return table(f"Shiftmax over the rows of a {args.rows}x{args.cols} int8 matrix (best of {args.repeat}; "
                 f"all bit-identical)", rows, base)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=512, help="GEMM size n (n x n x n; default 512, e.g. --n 256)")
    ap.add_argument("--rows", type=int, default=4096, help="Shiftmax rows (default 4096, e.g. --rows 1024)")
    ap.add_argument("--cols", type=int, default=4096, help="Shiftmax columns (default 4096, e.g. --cols 1024)")
    ap.add_argument("--repeat", type=int, default=5, help="timed calls, best kept (default 5, e.g. --repeat 3)")
    args = ap.parse_args(argv)

    import numba

    console = Console(width=120)
    console.print(f"CPU: {cpu_model()}; {os.cpu_count()} logical cores; numba threads: {numba.get_num_threads()}; "
                  f"jax devices: {', '.join(str(d) for d in jax.devices())}")
    console.print("Python " + platform.python_version() + "; "
                  + "; ".join(f"{n} {version(n)}" for n in ("numpy", "numba", "jax", "jaxlib", "lpemu")))
    console.print(gemm_table(args))
    console.print("* Numba: int32 row accumulators (wrapping) in row blocks on threads, then a requantization "
                  "loop; JAX: XLA's int8 dot with an int32 accumulator, then the requantization as int64 array "
                  "code; numpy has no integer BLAS, so its int64 matmul is a plain loop.")
    console.print(shiftmax_table(args))
    console.print("* Numba: one pass per row (max, exponentials, sum, division) in row blocks on threads; "
                  "JAX and numpy: int64 array expressions.")


if __name__ == "__main__":
    main()
