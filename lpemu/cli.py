"""The ``lpemu`` command line: list formats, show one, quantize .npy files, verify the kernels, run a study.

A thin layer over the public API (``lpemu.formats``, ``lpemu.format``, ``lpemu.quantize``,
``lpemu.encode``) and the exhaustive checker :func:`lpemu._verify.verify`. It writes rich
tables to stdout by default and JSON with ``--json``; ``quantize`` writes the output .npy file.
User errors print one line to stderr and exit with status 2; ``verify`` exits with 1 when a
backend disagrees with the reference. ``verify --against hw:UNIT`` compares an x86 unit's
instructions with lpemu's reproduction of them instead (:func:`lpemu.hardware.verify`).

Examples::

    lpemu formats
    lpemu info e4m3 --json
    lpemu quantize x.npy y.npy --format e4m3 --rounding toward_zero
    lpemu verify e4m3 --rounding nearest_even --backend both
    lpemu verify --against hw:f16c
    lpemu study --configs bf16,fp8_e4m3,mxfp4 --out report
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

import lpemu
from lpemu.errors import LpemuError

__all__ = ["main", "build_parser"]

#: The hardware targets of ``lpemu verify --against``.
HW_TARGETS = tuple(f"hw:{u}" for u in lpemu.hardware.UNITS)

ROUNDING_HELP = ("rounding mode: nearest_even (default), nearest_away, toward_zero, up, down, odd, "
                 "stochastic, stochastic_b, stochastic_c (aliases rne, rna, rtz, ru, rd, rto, sr); "
                 "e.g. --rounding toward_zero")
OVERFLOW_HELP = ("overflow policy: infinity, saturate, propagate, wrap (integers); default: the "
                 "format's own (infinity where it has Inf or NaN, else saturate); e.g. --overflow saturate")


class _UsageError(Exception):
    """An argparse error, reported like every other user error (one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: error: {message}")


def _int(text: str) -> int:
    """Decimal or 0x-prefixed integer (float32 bit patterns are easier to read in hex)."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer such as 1065353216 or 0x3f800000, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lpemu`` command (exposed for documentation and tests)."""
    p = _Parser(prog="lpemu", description="Bit-accurate emulation of low-precision number formats.",
                epilog="Run 'lpemu COMMAND --help' for a command's options and examples.")
    p.add_argument("--version", action="version", version=f"lpemu {lpemu.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    fm = sub.add_parser("formats", help="list the preset formats and their properties",
                        description="List every preset format (lpemu.formats.PRESETS) with its properties.",
                        epilog="example: lpemu formats --json")
    fm.add_argument("--json", action="store_true", help="print a JSON list of summaries instead of a table; "
                    "e.g. lpemu formats --json")

    info = sub.add_parser("info", help="show one format (and every code for formats up to 8 bits)",
                          description="Show a format's properties; formats of at most 8 bits also list "
                                      "every code with its hex, binary and value.",
                          epilog="examples: lpemu info e4m3; lpemu info binary8p3se --json; lpemu info int4")
    info.add_argument("format", metavar="FORMAT", help="format name as in the Python API, e.g. e4m3, "
                      "float8_e5m2, bf16, binary8p3se, int8")
    info.add_argument("--json", action="store_true", help="print JSON (summary and codes); "
                      "e.g. lpemu info e2m1 --json")

    q = sub.add_parser("quantize", help="round the values of a .npy file into a format",
                       description="Round every element of IN.npy (float32/float64; integers become float64) "
                                   "into a format and write the values (same dtype) or the codes to OUT.npy.",
                       epilog="example: lpemu quantize x.npy y.npy --format e4m3 --rounding stochastic --seed 1")
    q.add_argument("input", metavar="IN.npy", help="input array file, e.g. activations.npy")
    q.add_argument("output", metavar="OUT.npy", help="output file (overwritten), e.g. activations_e4m3.npy")
    q.add_argument("--format", "-f", required=True, help="target format, e.g. --format e4m3")
    q.add_argument("--rounding", "-r", default="nearest_even", help=ROUNDING_HELP)
    q.add_argument("--overflow", "-o", default=None, help=OVERFLOW_HELP)
    q.add_argument("--seed", type=_int, default=None, help="seed of stochastic rounding, an integer in "
                   "[0, 2^64) (required by the stochastic modes); e.g. --seed 42")
    q.add_argument("--sr-bits", type=_int, default=30, help="random bits per element for stochastic "
                   "rounding, 1..30 (default 30); e.g. --sr-bits 8")
    q.add_argument("--codes", action="store_true", help="write the bit codes (uint8/16/32/64) instead of "
                   "the values; e.g. lpemu quantize x.npy c.npy --format e2m1 --codes")

    v = sub.add_parser("verify", help="check the Numba and JAX kernels against a table-based reference "
                                      "(or an x86 unit against lpemu: --against hw:UNIT)",
                       description="Encode float32 inputs by bit pattern (all 2^32 by default) with the "
                                   "Numba and JAX backends and compare every code with an independent "
                                   "table-based reference. Formats of at most 16 bits; deterministic "
                                   "rounding modes only. With --against hw:UNIT, run an x86 unit's "
                                   "instructions and lpemu's reproduction of them on the same inputs instead "
                                   "(--start/--stop then select float32 bit patterns, or x << 16 | y for "
                                   "float16 operand pairs). Exit status 1 on any mismatch.",
                       epilog="examples: lpemu verify e4m3; lpemu verify e5m2 --rounding up --overflow saturate; "
                              "lpemu verify bf16 --start 0x3f800000 --stop 0x40000000 --backend numba; "
                              "lpemu verify --against hw:f16c; "
                              "lpemu verify --against hw:avx512fp16 --op fp16_add --rounding up --exhaustive")
    v.add_argument("format", metavar="FORMAT", nargs="?", default=None,
                   help="format name, at most 16 bits, e.g. e4m3, e2m1, bf16, int8 (not with --against hw:UNIT)")
    v.add_argument("--against", default="table", choices=("table", *HW_TARGETS), metavar="TARGET",
                   help="what to compare with: 'table' (default: the kernels against the table-based reference) "
                        "or an x86 unit, hw:" + ", hw:".join(lpemu.hardware.UNITS) + " (its instructions against "
                        "lpemu's reproduction: conversions over all 2^32 float32 inputs); e.g. --against hw:f16c")
    v.add_argument("--rounding", "-r", default=None, help=ROUNDING_HELP.replace(
        ", stochastic, stochastic_b, stochastic_c (aliases rne, rna, rtz, ru, rd, rto, sr)",
        " (aliases rne, rna, rtz, ru, rd, rto); with hw: one of the four x86 controls (default all four)"))
    v.add_argument("--overflow", "-o", default=None, help=OVERFLOW_HELP)
    v.add_argument("--start", type=_int, default=0, help="first float32 bit pattern, decimal or hex "
                   "(default 0); e.g. --start 0x3f800000 (1.0)")
    v.add_argument("--stop", type=_int, default=1 << 32, help="one past the last bit pattern (default "
                   "2^32 = 0x100000000); e.g. --stop 0x40000000 (2.0)")
    v.add_argument("--backend", "-b", choices=("numba", "jax", "both"), default="both",
                   help="which kernels to check (default both); e.g. --backend numba")
    v.add_argument("--chunk", type=_int, default=1 << 24, help="inputs per batch (default 2^24, about "
                   "450 MB); e.g. --chunk 0x400000")
    v.add_argument("--op", action="append", default=None, metavar="OP",
                   help="hw: only: an operation of the unit, repeatable (default all); "
                        "e.g. --op fp16_add --op fp16_mul")
    v.add_argument("--exhaustive", action="store_true", help="hw: only: all 2^32 operand pairs of binary float16 "
                   "operations instead of --samples random pairs (about 6 minutes per operation and rounding); "
                   "e.g. --against hw:avx512fp16 --op fp16_mul --exhaustive")
    v.add_argument("--samples", type=_int, default=1 << 24, help="hw: only: random inputs per sampled operation "
                   "and rounding (default 2^24); e.g. --samples 0x100000")
    v.add_argument("--seed", type=_int, default=0, help="hw: only: seed of the random inputs (default 0); "
                   "e.g. --seed 7")
    v.add_argument("--json", action="store_true", help="print the result as JSON (no progress bar); "
                   "e.g. lpemu verify e2m1 --json")
    v.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown only when stderr "
                   "is a terminal); e.g. lpemu verify e4m3 --no-progress")
    st = sub.add_parser("study", help="run a fidelity study: a model under emulation configurations (the main job)",
                        description="Train (or load the cached) small model on scikit-learn's digits, evaluate it "
                                    "under each configuration (lpemu.jax.POLICIES presets, the integer-only "
                                    "pipeline, this CPU's fp16/bf16 units) and compare with float32: accuracy, "
                                    "loss, per-layer SNR and max relative error. Prints a table and writes a "
                                    "report directory (report.md, results.json, accuracy.png, layer_snr.png).",
                        epilog="examples: lpemu study; lpemu study --model transformer --configs bf16,fp8_e4m3; "
                               "lpemu study --out my-report --json")
    st.add_argument("--model", default="mlp", help="built-in model: mlp (default, about a minute) or transformer "
                    "(several minutes: every emulated primitive is compiled); e.g. --model transformer")
    st.add_argument("--configs", default=None, help="comma-separated configurations (default: "
                    "bf16,fp16,fp8_e4m3,fp8_e5m2,h100_fp8,mxfp8,mxfp4,nvfp4,int8_dyadic,lmul,hw_fp16,hw_bf16; also "
                    "fp32, int8); e.g. --configs bf16,mxfp4")
    st.add_argument("--out", default="lpemu-study", help="report directory (default ./lpemu-study); e.g. --out /tmp/r")
    st.add_argument("--steps", type=_int, default=300, help="training steps of the model (default 300); e.g. --steps 100")
    st.add_argument("--samples", type=_int, default=None, help="evaluate on the first N test images only "
                    "(default: all 449); e.g. --samples 100")
    st.add_argument("--seed", type=_int, default=0, help="seed of the data split and training (default 0); e.g. --seed 1")
    st.add_argument("--json", action="store_true", help="print the results as JSON instead of a table; e.g. --json")
    return p


# ---- output helpers -----------------------------------------------------------------------------
def _console():
    from rich.console import Console

    # Piped output is not wrapped at 80 columns: the formats table is wide.
    return Console(width=None if sys.stdout.isatty() else 200)


def _jsonable(v: Any) -> Any:
    """JSON has no NaN/Inf: non-finite floats become the strings "nan", "inf", "-inf"."""
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _print_json(obj: Any) -> None:
    print(json.dumps(_jsonable(obj), indent=2, allow_nan=False))


def _binary(fmt, code: int) -> str:
    """The code's bits, fields separated by spaces (sign exponent mantissa) for floats."""
    bits = format(code, f"0{fmt.bits}b")
    if isinstance(fmt, lpemu.FloatFormat):
        s = int(fmt.signed)
        fields = [bits[:s], bits[s:s + fmt.exp_bits], bits[s + fmt.exp_bits:]]
        return " ".join(f for f in fields if f)
    return bits


def _code_rows(fmt) -> list[dict[str, Any]]:
    width = -(-fmt.bits // 4)
    return [{"code": c, "hex": f"0x{c:0{width}x}", "binary": _binary(fmt, c), "value": fmt.code_value(c)}
            for c in range(fmt.num_codes)]


def _value_text(v: float) -> str:
    return repr(v) if math.isfinite(v) else str(v)


# ---- commands -------------------------------------------------------------------------------------
def _cmd_formats(args) -> int:
    formats = list(lpemu.formats.PRESETS.values())
    if args.json:
        _print_json([f.summary() for f in formats])
        return 0
    from ._display import format_table

    _console().print(format_table(formats, title="lpemu preset formats"))
    return 0


def _cmd_info(args) -> int:
    fmt = lpemu.format(args.format)
    codes = _code_rows(fmt) if fmt.bits <= 8 else None
    if args.json:
        out: dict[str, Any] = {"summary": fmt.summary()}
        if codes is not None:
            out["codes"] = codes
        _print_json(out)
        return 0
    from rich.table import Table

    from ._display import format_number, format_table

    console = _console()
    console.print(format_table([fmt], title=f"{fmt.name}: {fmt!r}"))
    if codes is None:
        console.print(f"{fmt.num_codes} codes (listed for formats of at most 8 bits only)")
        return 0
    table = Table(title=f"every code of {fmt.name}")
    for col in ("code", "hex", "binary", "value", "exact"):
        table.add_column(col, justify="right" if col in ("code", "value") else "left")
    for row in codes:
        v = row["value"]
        table.add_row(str(row["code"]), row["hex"], row["binary"], _value_text(v),
                      format_number(v) if math.isfinite(v) and v != 0 else "")
    console.print(table)
    return 0


def _cmd_quantize(args) -> int:
    x = np.load(args.input, allow_pickle=False)
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{args.input} holds several arrays (.npz); pass a single-array .npy file")
    kw = dict(rounding=args.rounding, overflow=args.overflow, seed=args.seed, sr_bits=args.sr_bits)
    fn = lpemu.encode if args.codes else lpemu.quantize
    y = np.asarray(fn(x, args.format, **kw))
    np.save(args.output, y, allow_pickle=False)
    what = "codes" if args.codes else "values"
    _console().print(f"wrote {args.output}: {y.size} {y.dtype} {what} of {lpemu.format(args.format).name} "
                     f"({args.rounding}), shape {tuple(y.shape)}", markup=False, highlight=False)
    return 0


def _cmd_verify(args) -> int:
    from ._verify import BACKENDS, verify

    if args.against != "table":
        return _cmd_verify_hw(args)
    if args.format is None:
        raise _UsageError("lpemu verify: error: a FORMAT is required (or --against hw:UNIT)")
    args.rounding = args.rounding or "nearest_even"
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    r = verify(args.format, args.rounding, args.overflow, backends=backends, chunk=args.chunk,
               start=args.start, stop=args.stop,
               progress=not (args.json or args.no_progress) and sys.stderr.isatty())
    if args.json:
        _print_json(r.to_dict())
        return 0 if r.ok else 1
    from rich.table import Table

    fmt = lpemu.format(args.format)
    console = _console()
    n = r.stop - r.start
    console.print(f"verify {r.format}, rounding={r.rounding}, overflow={r.overflow}: float32 bit patterns "
                  f"0x{r.start:08x}..0x{r.stop - 1:08x} ({n} inputs) in {r.seconds:.1f} s",
                  markup=False, highlight=False)
    table = Table()
    for col in ("backend", "checked", "mismatches", "result"):
        table.add_column(col, justify="right" if col in ("checked", "mismatches") else "left")
    for b in r.backends.values():
        status = "[green]ok[/green]" if b.mismatches == 0 else "[red]MISMATCH[/red]"
        table.add_row(b.backend, str(b.checked), str(b.mismatches), status)
    console.print(table)
    if r.counterexamples:
        width = -(-fmt.bits // 4)
        ce = Table(title="counterexamples (first per backend)")
        for col in ("backend", "input bits", "input", "expected", "got"):
            ce.add_column(col)
        for c in r.counterexamples:
            ce.add_row(c.backend, f"0x{c.input_bits:08x}", _value_text(c.input),
                       f"0x{c.expected:0{width}x} ({_value_text(fmt.code_value(c.expected))})",
                       f"0x{c.got:0{width}x} ({_value_text(fmt.code_value(c.got))})")
        console.print(ce)
    return 0 if r.ok else 1


def _cmd_verify_hw(args) -> int:
    if args.format is not None:
        raise _UsageError(f"lpemu verify: error: --against {args.against} takes no FORMAT (got {args.format!r}); "
                          "use --op to choose operations")
    unit = args.against[len("hw:"):]
    r = lpemu.hardware.verify(unit, args.op, None if args.rounding is None else [args.rounding],
                              exhaustive=args.exhaustive, samples=args.samples, seed=args.seed, start=args.start,
                              stop=args.stop, progress=not (args.json or args.no_progress) and sys.stderr.isatty())
    if args.json:
        _print_json(r.to_dict())
        return 0 if r.ok else 1
    from rich.table import Table

    console = _console()
    console.print(f"verify hw:{unit} ({lpemu.hardware.UNITS[unit].instructions}) against lpemu, bit for bit, "
                  f"in {r.seconds:.1f} s", markup=False, highlight=False)
    table = Table()
    for col in ("op", "rounding", "inputs", "checked", "mismatches", "seconds", "result"):
        table.add_column(col, justify="right" if col in ("checked", "mismatches", "seconds") else "left")
    for c in r.checks:
        status = "[green]ok[/green]" if c.mismatches == 0 else "[red]MISMATCH[/red]"
        table.add_row(c.op, c.rounding or "-", c.inputs, str(c.checked), str(c.mismatches), f"{c.seconds:.1f}", status)
    console.print(table)
    if r.counterexamples:
        ce = Table(title="counterexamples (operand bits; pairs and quads joined by |)")
        for col in ("op", "rounding", "inputs", "lpemu", "hardware"):
            ce.add_column(col)
        for m in r.counterexamples:
            ce.add_row(m.op, m.rounding or "-", " ".join(m.inputs), m.expected, m.got)
        console.print(ce)
    return 0 if r.ok else 1


def _cmd_study(args) -> int:
    from lpemu._study import DEFAULT_CONFIGS, study, table

    configs = DEFAULT_CONFIGS if args.configs is None else [c.strip() for c in args.configs.split(",") if c.strip()]
    result = study(model=args.model, configs=configs, out_dir=args.out, steps=args.steps, seed=args.seed,
                   samples=args.samples, progress=not args.json and sys.stderr.isatty())
    if args.json:
        _print_json(result.to_dict())
    else:
        console = _console()
        console.print(table(result))
        for row in result.rows:
            if row.note:
                console.print(f"{row.config}: {row.note}")
        console.print(f"report: {os.path.join(args.out, 'report.md')}")
    return 0


_COMMANDS = {"formats": _cmd_formats, "info": _cmd_info, "quantize": _cmd_quantize, "verify": _cmd_verify,
             "study": _cmd_study}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lpemu`` command with ``argv`` (``sys.argv[1:]`` when None); return the exit status.

    Returns 0 on success, 1 when ``verify`` finds a mismatch, 2 on a user error (bad arguments,
    unknown format, unreadable file), 130 on Ctrl-C. Errors are one line on stderr.

    Examples:
        >>> main(["info", "e2m1", "--json"])  # doctest: +ELLIPSIS
        {...
        0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        if args.command is None:
            raise _UsageError("lpemu: error: a command is required: formats, info, quantize, verify or study "
                              "(see lpemu --help)")
        return _COMMANDS[args.command](args)
    except SystemExit as e:  # --help and --version
        return e.code if isinstance(e.code, int) else 0
    except _UsageError as e:
        print(" ".join(str(e).split()), file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `lpemu formats --json | head`: stop quietly
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except (LpemuError, ValueError, OSError) as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"lpemu: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lpemu: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
