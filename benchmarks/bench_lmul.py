"""L-Mul (lpemu.lmul): its error against shared/specs/lmul.md's figures, in attention, and its speed.

Prints the CPU, core count and library versions, then three rich tables:

1. **Mean relative error** of one product x * y with x = 1 + u, y = 1 + v and uniformly random
   mantissas u, v, for m = 2..7 mantissa bits (formats ``FloatFormat(8, m)``), both L-Mul forms,
   and ordinary FP8 E4M3 / E5M2 multiplication (round-to-nearest-even operands and result),
   side by side with the spec's figures. Three protocols, each with ``--samples`` pairs:

   * *RNE operands*: u, v real in [0, 1); the operands are rounded into the format (as
     ``lpemu.lmul.multiply`` does) and the error is against the exact product of the unrounded
     x, y. This is the protocol that reproduces the spec's FP8 figures (3.52 %, 7.04 %).
   * *grid operands*: u, v uniform on the format's mantissa grid (exact format values); the
     error is against their exact product.
   * *real mantissas*: the L-Mul formula applied to the unrounded u, v (numpy, no format):
     the limit m -> infinity for a given l(m).

2. **Attention**: softmax(Q K^T / sqrt(d)) V for seeded N(0, 1) Q, K, V (``--seq`` x ``--d``)
   with every product of both matmuls replaced by the format's product model (elementwise
   ``multiply`` on broadcast operands; sums, scaling and softmax in float64), against the exact
   float64 result: the relative Frobenius error of the output.

3. **Speed**: ``lpemu.lmul.multiply`` on ``--n`` float32 N(0, 1) pairs (Numba, jitted JAX) and an
   emulated ordinary multiplication in the format (``quantize(quantize(x) * quantize(y))``),
   as the ratio of their time to ``np.multiply`` into a preallocated array (best of
   ``--repeat`` calls after a warm-up call that compiles).

Examples:
    python benchmarks/bench_lmul.py                      # defaults: 2^20 samples, 2^22 elements
    python benchmarks/bench_lmul.py --samples 65536 --n 1048576 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import jax
import numpy as np
from rich.console import Console
from rich.table import Table

import lpemu
from common import best_time, cpu_model, version
from lpemu import lmul
from lpemu.formats import BF16, E4M3, E5M2, FP16, FP32
from lpemu.lmul import mean_relative_error, offset_exponent

SEED = 20241011
#: The spec's figures (shared/specs/lmul.md, "Error analysis to reproduce"), in %.
SPEC = {("bits", 3): 4.96, ("bits", 4): 5.06, ("bits", 5): 2.65, ("bits", 6): 2.65, ("bits", 7): 2.65,
        ("formula", 3): 7.0, ("formula", 4): 7.1, ("float", "float8_e4m3fn"): 3.52, ("float", "float8_e5m2"): 7.04}


def real_mantissa_error(m: int, form: str, samples: int, seed: int) -> float:
    """Mean relative error of the L-Mul formula on real (unrounded) mantissas."""
    rng = np.random.default_rng(seed)
    u, v = rng.random(samples), rng.random(samples)
    s = u + v + 2.0 ** -offset_exponent(m)
    approx = np.where(s < 1, 1 + s, 2 * s) if form == "bits" else 1 + s
    exact = (1 + u) * (1 + v)
    return float(np.mean(np.abs(approx - exact) / exact))


def error_table(args) -> Table:
    table = Table(title=f"Mean relative error of one product on [1, 2) x [1, 2) ({args.samples:,} pairs, %)")
    for col in ("product", "m", "l(m)", "spec", "RNE operands", "grid operands", "real mantissas"):
        table.add_column(col, justify="left" if col == "product" else "right")
    for form in lmul.FORMS:
        for m in range(2, 8):
            fmt = lpemu.FloatFormat(8, m)
            rne = 100 * mean_relative_error(fmt, form, samples=args.samples, seed=SEED)
            grid = 100 * mean_relative_error(fmt, form, samples=args.samples, seed=SEED, grid=True)
            real = 100 * real_mantissa_error(m, form, args.samples, SEED)
            spec = SPEC.get((form, m))
            table.add_row(f"L-Mul {form}", str(m), str(offset_exponent(m)), "-" if spec is None else f"{spec:.2f}",
                          f"{rne:.2f}", f"{grid:.2f}", f"{real:.2f}")
    for fmt in (E4M3, E5M2):
        rne = 100 * mean_relative_error(fmt, "float", samples=args.samples, seed=SEED)
        grid = 100 * mean_relative_error(fmt, "float", samples=args.samples, seed=SEED, grid=True)
        table.add_row(f"{fmt.name} multiply (RNE)", str(fmt.man_bits), "-", f"{SPEC[('float', fmt.name)]:.2f}",
                      f"{rne:.2f}", f"{grid:.2f}", "-")
    return table


# ---- attention ---------------------------------------------------------------------------------
def fp_product(fmt):
    """Ordinary multiplication in ``fmt``: RNE operands, exact product, RNE result."""
    def prod(a, b):
        return lpemu.quantize(lpemu.quantize(a, fmt) * lpemu.quantize(b, fmt), fmt)
    return prod


def lmul_product(fmt, form):
    def prod(a, b):
        return lmul.multiply(a, b, fmt, form)
    return prod


def attention(q, k, v, prod=None) -> np.ndarray:
    """softmax(q k^T / sqrt(d)) v; every product through ``prod`` (exact when None), sums in float64."""
    prod = prod or np.multiply
    d = q.shape[-1]
    s = prod(q[:, None, :], k[None, :, :]).sum(-1) / np.sqrt(d)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return prod(p[:, :, None], v[None, :, :]).sum(1)


def attention_table(args) -> Table:
    rng = np.random.default_rng(SEED)
    q, k, v = (rng.standard_normal((args.seq, args.d)) for _ in range(3))
    exact = attention(q, k, v)
    norm = np.linalg.norm(exact)
    table = Table(title=f"Attention softmax(QK^T/sqrt(d))V, seq {args.seq}, d {args.d}: "
                        "relative Frobenius error of the output (%)")
    for col in ("format", "ordinary multiply (RNE)", "L-Mul bits", "L-Mul formula"):
        table.add_column(col, justify="left" if col == "format" else "right")
    for fmt in (FP32, BF16, FP16, E4M3, E5M2):
        errs = [np.linalg.norm(attention(q, k, v, prod) - exact) / norm * 100
                for prod in (fp_product(fmt), lmul_product(fmt, "bits"), lmul_product(fmt, "formula"))]
        table.add_row(fmt.name, *(f"{e:.3f}" for e in errs))
    return table


# ---- speed ---------------------------------------------------------------------------------------
def speed_table(args) -> Table:
    rng = np.random.default_rng(SEED)
    x, y = (rng.standard_normal(args.n).astype(np.float32) for _ in range(2))
    xj, yj = jax.device_put(x), jax.device_put(y)
    out = np.empty_like(x)
    base = best_time(lambda: np.multiply(x, y, out=out), args.repeat)
    table = Table(title=f"Time for {args.n:,} float32 products (best of {args.repeat}); "
                        f"np.multiply = {base * 1e3:.2f} ms")
    for col in ("method", "format", "ms", "M elem/s", "x np.multiply time"):
        table.add_column(col, justify="left" if col in ("method", "format") else "right")
    table.add_row("np.multiply", "-", f"{base * 1e3:.2f}", f"{args.n / base / 1e6:,.0f}", "1.0")
    for fmt in (BF16, E4M3):
        for form in lmul.FORMS:
            rows = [(f"lpemu.lmul numba {form}", lambda: lmul.multiply(x, y, fmt, form))]
            jitted = jax.jit(lambda a, b: lmul.multiply(a, b, fmt, form))
            rows.append((f"lpemu.lmul jax {form}", lambda: jitted(xj, yj).block_until_ready()))
            for name, fn in rows:
                t = best_time(fn, args.repeat)
                table.add_row(name, fmt.name, f"{t * 1e3:.2f}", f"{args.n / t / 1e6:,.0f}", f"{t / base:.1f}")
        t = best_time(lambda: fp_product(fmt)(x, y), args.repeat)
        table.add_row("ordinary multiply emulated (numba quantize x3)", fmt.name, f"{t * 1e3:.2f}",
                      f"{args.n / t / 1e6:,.0f}", f"{t / base:.1f}")
    return table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=1 << 20,
                    help="random pairs per error figure (default 2^20, e.g. --samples 65536)")
    ap.add_argument("--seq", type=int, default=64, help="attention sequence length (default 64, e.g. --seq 128)")
    ap.add_argument("--d", type=int, default=32, help="attention head dimension (default 32, e.g. --d 64)")
    ap.add_argument("--n", type=int, default=1 << 22, help="elements timed (default 2^22, e.g. --n 1048576)")
    ap.add_argument("--repeat", type=int, default=5, help="timed calls, best kept (default 5, e.g. --repeat 3)")
    args = ap.parse_args(argv)

    import numba

    console = Console(width=140)
    console.print(f"CPU: {cpu_model()}; {os.cpu_count()} logical cores; numba threads: {numba.get_num_threads()}; "
                  f"jax devices: {', '.join(str(d) for d in jax.devices())}")
    console.print("Python " + platform.python_version() + "; "
                  + "; ".join(f"{n} {version(n)}" for n in ("numpy", "numba", "jax", "jaxlib", "lpemu")))
    t0 = time.perf_counter()
    console.print(error_table(args))
    for note in (
        "spec = shared/specs/lmul.md. The FP8 figures (3.52 %, 7.04 %) and the bits figure for m >= 5 (2.65 %) "
        "are reproduced; the latter is the real-mantissa limit of l = 4, which m = 5..7 approach.",
        "m = 3 and m = 4 share l = 3, so their real-mantissa errors are equal (5.09 % bits, 7.08 % formula): "
        "the spec's different figures for them (4.96 %, 5.06 %; 7.0 %, 7.1 %) can only come from the operands' "
        "grid. No protocol here gives 4.96 % or 5.06 %; 7.1 % (formula, m = 4) is matched, 7.0 % (m = 3) "
        "only by the unrounded grid value 6.89 % (lpemu rounds formula results into the format).",
        "The formula form's results in [2, 3) need one more mantissa bit than the format has and are rounded "
        "(nearest even) into it; the bits form is exact there.",
    ):
        console.print(f"* {note}")
    console.print(attention_table(args))
    console.print("* Products of both matmuls go through the product model; sums, 1/sqrt(d) and softmax are "
                  "float64. 'ordinary' rounds the operands and each product into the format (RNE). In the wide "
                  "formats the L-Mul error is L-Mul's own (about 2.7 % per product, with a bias), not the format's.")
    console.print(speed_table(args))
    console.print(f"* Numba: operands rounded by lpemu.quantize (a pass each), then the L-Mul loop; the first call "
                  f"compiles. Total run time {time.perf_counter() - t0:.0f} s.")


if __name__ == "__main__":
    main()
