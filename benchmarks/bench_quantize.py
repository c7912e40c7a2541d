"""Throughput of rounding float32 arrays into E4M3, E5M2, E2M1 and BF16: lpemu against its peers.

Prints the CPU, core count and library versions, then one rich table: for each method and format
the throughput in M elements/s (best of ``--repeat`` timed calls after a warm-up call that
compiles), its ratio to a plain ``np.copyto`` into a preallocated array (the memory limit), and,
for lpemu's rows, its ratio to the ml_dtypes round trip (float32 -> format -> float32, the usual
way to emulate a format with ml_dtypes) and to jitted ``jax.lax.reduce_precision``. The last
column counts the elements whose result differs from lpemu's Numba nearest-even result (values
compared bit for bit, any NaN equal to any NaN); see the notes under the table for why a peer
differs.

Inputs are float32 N(0, 1) samples. numpy methods write into a preallocated output where the
library allows it (``np.copyto``, ``lpemu.quantize(..., out=)``); JAX methods return a new
device array (timed until ready). Slow peers (gfloat, pychop) run on a slice of at most
``--slow-n`` elements and are scaled to M elements/s.

lpemu's Numba path compiles a loop specialised for the format's flags for arrays of at least
2^22 elements (about 2 s per format and mode, done in the warm-up call); ``--quick`` uses
2^20 elements and so measures the generic loop.

Examples:
    python benchmarks/bench_quantize.py                 # 2^24 elements, best of 5
    python benchmarks/bench_quantize.py --quick         # 2^20 elements, best of 3
    python benchmarks/bench_quantize.py --n 4194304 --repeat 10
"""

from __future__ import annotations

import argparse
import os
import platform
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from rich.console import Console
from rich.table import Table

import lpemu
from common import best_time, cpu_model, version
from lpemu.formats import BF16, E2M1, E4M3, E5M2

SEED = 1234

#: format -> (ml_dtypes/jnp dtype, reduce_precision (exponent_bits, mantissa_bits), gfloat
#: FormatInfo name, pychop (exp_bits, sig_bits)).
FORMATS = {
    E4M3: (ml_dtypes.float8_e4m3fn, (4, 3), "format_info_ocp_e4m3", (4, 3)),
    E5M2: (ml_dtypes.float8_e5m2, (5, 2), "format_info_ocp_e5m2", (5, 2)),
    E2M1: (ml_dtypes.float4_e2m1fn, (2, 1), "format_info_ocp_e2m1", (2, 1)),
    BF16: (ml_dtypes.bfloat16, (8, 7), "format_info_bfloat16", (8, 7)),
}


@dataclass
class Row:
    method: str
    fmt: str
    rate: float | None  # M elements/s
    result: np.ndarray | None = None  # float values for the agreement column
    n_checked: int = 0
    note: str = ""
    is_lpemu: bool = False


def rate(n: int, seconds: float) -> float:
    return n / seconds / 1e6


def print_environment(console: Console, args: argparse.Namespace) -> None:
    import numba

    console.print(f"CPU: {cpu_model()}; {os.cpu_count()} logical cores; numba threads: {numba.get_num_threads()}; "
                  f"jax devices: {', '.join(str(d) for d in jax.devices())}")
    libs = ["numpy", "numba", "jax", "jaxlib", "ml_dtypes", "gfloat", "pychop", "qtorch", "torch", "lpemu"]
    console.print("Python " + platform.python_version() + "; "
                  + "; ".join(f"{name} {version(name)}" for name in libs))
    console.print(f"n = {args.n:,} float32 N(0,1) values (slow peers: {min(args.n, args.slow_n):,}); "
                  f"best of {args.repeat} after a warm-up call")


def same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))


def bench_format(fmt, x: np.ndarray, xj: jax.Array, args, notes: set[str]) -> list[Row]:
    dt, (rp_e, rp_m), gf_name, (pc_e, pc_m) = FORMATS[fmt]
    n, repeat = x.size, args.repeat
    name = fmt.name
    rows: list[Row] = []
    out = np.empty_like(x)

    # ---- ml_dtypes casts into preallocated arrays --------------------------------------
    low = np.empty(x.shape, dt)
    t = best_time(lambda: np.copyto(low, x, casting="unsafe"), repeat)
    rows.append(Row("ml_dtypes cast", name, rate(n, t), low.astype(np.float32), n))
    out_ml = np.empty_like(x)

    def round_trip():
        np.copyto(low, x, casting="unsafe")
        np.copyto(out_ml, low, casting="unsafe")

    t = best_time(round_trip, repeat)
    rows.append(Row("ml_dtypes round trip", name, rate(n, t), out_ml.copy(), n))

    # ---- JAX / XLA ------------------------------------------------------------------------
    jdt = jnp.dtype(dt)
    cast = jax.jit(lambda v: v.astype(jdt))
    t = best_time(lambda: cast(xj).block_until_ready(), repeat)
    rows.append(Row("jax astype", name, rate(n, t), np.asarray(cast(xj)).astype(np.float32), n))
    trip = jax.jit(lambda v: v.astype(jdt).astype(jnp.float32))
    t = best_time(lambda: trip(xj).block_until_ready(), repeat)
    rows.append(Row("jax astype round trip", name, rate(n, t), np.asarray(trip(xj)), n))
    rp = jax.jit(lambda v: jax.lax.reduce_precision(v, exponent_bits=rp_e, mantissa_bits=rp_m))
    t = best_time(lambda: rp(xj).block_until_ready(), repeat)
    rows.append(Row(f"jax reduce_precision({rp_e},{rp_m})", name, rate(n, t), np.asarray(rp(xj)), n,
                    note="rp"))

    # ---- slow peers on a slice ------------------------------------------------------------
    m = min(n, args.slow_n)
    xs = x[:m]
    try:
        import gfloat
        import gfloat.formats

        fi = getattr(gfloat.formats, gf_name)
        t = best_time(lambda: gfloat.round_ndarray(fi, xs), repeat)
        rows.append(Row("gfloat round_ndarray", name, rate(m, t), gfloat.round_ndarray(fi, xs), m, note="gf"))
    except ImportError:
        rows.append(Row("gfloat round_ndarray", name, None, note="not installed"))
    try:
        from pychop import Chop

        # chunk_size above the array size: plain numpy, not Dask chunks of 800 elements (20x slower).
        chop = Chop(pc_e, pc_m, rmode=1, chunk_size=m + 1)
        with np.errstate(all="ignore"):  # its bf16 path overflows in an intermediate product
            t = best_time(lambda: chop(xs), repeat)
            res = np.asarray(chop(xs), np.float32)
        rows.append(Row(f"pychop Chop({pc_e},{pc_m})", name, rate(m, t), res, m, note="pc"))
    except ImportError:
        rows.append(Row("pychop Chop", name, None, note="not installed"))
    except Exception as e:  # noqa: BLE001 - a peer failing on a format is a result to report
        rows.append(Row(f"pychop Chop({pc_e},{pc_m})", name, None, note=f"failed: {type(e).__name__}: {e}"))
    try:
        import torch
        from qtorch.quant import float_quantize

        xt = torch.from_numpy(xs)
        t = best_time(lambda: float_quantize(xt, rp_e, rp_m, rounding="nearest"), repeat)
        rows.append(Row(f"qtorch float_quantize({rp_e},{rp_m})", name, rate(m, t),
                        float_quantize(xt, rp_e, rp_m, rounding="nearest").numpy(), m, note="qt"))
    except ImportError:
        notes.add("qtorch is not importable here (no torch/qtorch installed): its rows are skipped.")

    # ---- lpemu ------------------------------------------------------------------------------
    t = best_time(lambda: lpemu.quantize(x, fmt, out=out), repeat)
    rows.append(Row("lpemu numba nearest_even", name, rate(n, t), out.copy(), n, is_lpemu=True))
    t = best_time(lambda: lpemu.quantize(x, fmt, "stochastic", seed=SEED, out=out), repeat)
    rows.append(Row("lpemu numba stochastic", name, rate(n, t), None, is_lpemu=True))
    ljit = jax.jit(lambda v: lpemu.quantize(v, fmt))
    t = best_time(lambda: ljit(xj).block_until_ready(), repeat)
    rows.append(Row("lpemu jax nearest_even", name, rate(n, t), np.asarray(ljit(xj)), n, is_lpemu=True))
    sjit = jax.jit(lambda v: lpemu.quantize(v, fmt, "stochastic", seed=SEED))
    t = best_time(lambda: sjit(xj).block_until_ready(), repeat)
    sr_jax = np.asarray(sjit(xj))
    lpemu.quantize(x, fmt, "stochastic", seed=SEED, out=out)
    rows.append(Row("lpemu jax stochastic", name, rate(n, t), None, is_lpemu=True,
                    note="" if same(sr_jax, out).all() else "differs from the numba stochastic result"))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1 << 24, help="elements per call (default 2^24, e.g. --n 4194304)")
    ap.add_argument("--repeat", type=int, default=5, help="timed calls per method, best kept (default 5)")
    ap.add_argument("--slow-n", type=int, default=1 << 21,
                    help="elements for the slow peers gfloat and pychop (default 2^21)")
    ap.add_argument("--quick", action="store_true", help="2^20 elements, best of 3 (generic Numba loop)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.repeat = 1 << 20, 3

    console = Console(width=160)
    print_environment(console, args)
    x = np.random.default_rng(SEED).standard_normal(args.n).astype(np.float32)
    xj = jax.device_put(x)
    out = np.empty_like(x)
    copy_rate = rate(args.n, best_time(lambda: np.copyto(out, x), args.repeat))

    notes: set[str] = set()
    rows = [Row("np.copyto (memory limit)", "-", copy_rate)]
    for fmt in FORMATS:
        rows += bench_format(fmt, x, xj, args, notes)

    table = Table(title=f"Rounding {args.n:,} float32 values (M elements/s, best of {args.repeat})")
    for col, just in [("method", "left"), ("format", "left"), ("M elem/s", "right"), ("x copy", "right"),
                      ("lpemu / ml_dtypes rt", "right"), ("lpemu / reduce_prec", "right"),
                      ("differ from lpemu", "right")]:
        table.add_column(col, justify=just)
    by_fmt: dict[str, dict[str, Row]] = {}
    for r in rows:
        by_fmt.setdefault(r.fmt, {})[r.method.split("(")[0]] = r
    for r in rows:
        if r.rate is None:
            table.add_row(r.method, r.fmt, "-", "-", "-", "-", r.note)
            continue
        peers = by_fmt[r.fmt]
        vs_ml = vs_rp = ""
        if r.is_lpemu:
            vs_ml = f"{r.rate / peers['ml_dtypes round trip'].rate:.2f}"
            vs_rp = f"{r.rate / peers['jax reduce_precision'].rate:.2f}"
        diff = ""
        ref = peers.get("lpemu numba nearest_even")
        if r.result is not None and ref is not None and ref.result is not None and r is not ref:
            k = r.n_checked
            bad = int((~same(np.asarray(r.result, np.float64), ref.result[:k].astype(np.float64))).sum())
            diff = f"{bad:,} / {k:,}"
        elif r.note and r.is_lpemu:
            diff = r.note
        table.add_row(r.method, r.fmt, f"{r.rate:,.0f}", f"{r.rate / copy_rate:.2f}", vs_ml, vs_rp, diff)
    console.print(table)

    notes |= {
        "reduce_precision(e, m) rounds to an IEEE-like format (with Inf) and flushes results in the subnormal "
        "range to zero (shared/specs/peers.md); its differences here are those flushes (and, for e2m1 and "
        "e4m3, the IEEE-like top binade).",
        "pychop Chop(e, m) emulates IEEE-like formats only (no fn/none encodings); see shared/specs/peers.md.",
        "gfloat returns float64 for float32 input; its time includes that.",
    }
    if args.n < 1 << 22:
        notes.add("n < 2^22: lpemu's Numba path ran its generic loop (no flag-specialised build).")
    else:
        notes.add("lpemu's Numba path compiled a flag-specialised loop for each format and mode in the warm-up "
                  "call (n >= 2^22, about 2 s each).")
    for note in sorted(notes):
        console.print(f"* {note}")


if __name__ == "__main__":
    main()
