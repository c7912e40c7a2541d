"""Tests of the ``lpemu`` command line, run in-process through ``lpemu.cli.main(argv)``."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import lpemu
from lpemu.cli import build_parser, main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys, *argv: str):
    rc, out, err = run(capsys, *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


# ---- formats -------------------------------------------------------------------------------
def test_formats_table_lists_every_preset(capsys):
    rc, out, err = run(capsys, "formats")
    assert rc == 0 and err == ""
    for name in lpemu.formats.PRESETS:
        assert name in out
    assert "448" in out and "57344" in out


def test_formats_json(capsys):
    data = run_json(capsys, "formats")
    by_name = {d["name"]: d for d in data}
    assert list(by_name) == list(lpemu.formats.PRESETS)
    assert by_name["float8_e4m3fn"]["max"] == 448.0
    assert by_name["float8_e4m3fn"]["min_subnormal"] == 2.0**-9
    assert by_name["float8_e5m2"]["max"] == 57344.0 and by_name["float8_e5m2"]["infinities"] is True
    assert by_name["float4_e2m1fn"]["nan"] is False
    assert by_name["int8"]["min"] == -128.0


# ---- info ----------------------------------------------------------------------------------
def test_info_json_lists_every_code(capsys):
    data = run_json(capsys, "info", "e4m3")
    assert data["summary"]["name"] == "float8_e4m3fn" and data["summary"]["max"] == 448.0
    codes = data["codes"]
    assert len(codes) == 256 and [c["code"] for c in codes] == list(range(256))
    assert codes[0x38] == {"code": 0x38, "hex": "0x38", "binary": "0 0111 000", "value": 1.0}
    assert codes[0x7E]["value"] == 448.0 and codes[0xFE]["value"] == -448.0
    assert codes[0x7F]["value"] == "nan" and codes[0x80]["value"] == -0.0
    assert codes[0x01]["value"] == 2.0**-9


def test_info_json_infinities_and_integers(capsys):
    codes = run_json(capsys, "info", "e5m2")["codes"]
    assert codes[0x7C]["value"] == "inf" and codes[0xFC]["value"] == "-inf"
    codes = run_json(capsys, "info", "int4")["codes"]
    assert [c["value"] for c in codes] == [float(v) for v in [*range(8), *range(-8, 0)]]
    assert codes[0xF]["binary"] == "1111"


def test_info_table(capsys):
    rc, out, err = run(capsys, "info", "e2m1")
    assert rc == 0 and err == ""
    assert "float4_e2m1fn" in out and "0 11 1" in out and "6.0" in out and "-0.0" in out


def test_info_wide_format_is_a_summary(capsys):
    data = run_json(capsys, "info", "bf16")
    assert "codes" not in data and data["summary"]["bits"] == 16
    rc, out, _ = run(capsys, "info", "float16")
    assert rc == 0 and "65504" in out and "65536 codes" in out


# ---- quantize ------------------------------------------------------------------------------
@pytest.fixture
def data(tmp_path):
    x = np.random.default_rng(3).normal(scale=100.0, size=(7, 9)).astype(np.float32)
    x[0, :4] = [np.nan, np.inf, -0.0, 1000.0]
    path = tmp_path / "x.npy"
    np.save(path, x)
    return x, path


def test_quantize_values(capsys, tmp_path, data):
    x, path = data
    out = tmp_path / "y.npy"
    rc, stdout, err = run(capsys, "quantize", str(path), str(out), "--format", "e4m3", "--rounding", "toward_zero")
    assert rc == 0 and err == "" and "y.npy" in stdout
    y = np.load(out)
    assert y.dtype == np.float32 and y.shape == x.shape
    want = lpemu.quantize(x, "e4m3", "toward_zero")
    np.testing.assert_array_equal(y.view(np.uint32), want.view(np.uint32))


def test_quantize_codes_and_options(capsys, tmp_path, data):
    x, path = data
    out = tmp_path / "c.npy"
    rc, _, err = run(capsys, "quantize", str(path), str(out), "-f", "e5m2", "--overflow", "saturate", "--codes")
    assert rc == 0, err
    c = np.load(out)
    assert c.dtype == np.uint8
    np.testing.assert_array_equal(c, lpemu.encode(x, "e5m2", overflow="saturate"))
    rc, _, err = run(capsys, "quantize", str(path), str(out), "-f", "e2m1", "-r", "stochastic",
                     "--seed", "0x2a", "--sr-bits", "8")
    assert rc == 0, err
    want = lpemu.quantize(x, "e2m1", "stochastic", seed=42, sr_bits=8)
    np.testing.assert_array_equal(np.load(out), want)


def test_quantize_float64_and_integer_inputs(capsys, tmp_path):
    path, out = tmp_path / "i.npy", tmp_path / "o.npy"
    np.save(path, np.array([1, 2, 3, 250], np.int32))
    assert run(capsys, "quantize", str(path), str(out), "--format", "int8")[0] == 0
    y = np.load(out)
    assert y.dtype == np.float64 and y.tolist() == [1.0, 2.0, 3.0, 127.0]


# ---- verify --------------------------------------------------------------------------------
def test_verify_json(capsys):
    lo = 0x3F800000
    data = run_json(capsys, "verify", "e4m3", "--start", hex(lo), "--stop", str(lo + 5000))
    assert data["ok"] is True and data["mismatches"] == 0 and data["counterexamples"] == []
    assert [(b["backend"], b["checked"]) for b in data["backends"]] == [("numba", 5000), ("jax", 5000)]
    assert data["format"] == "float8_e4m3fn" and data["overflow"] == "infinity"


def test_verify_table_one_backend(capsys):
    rc, out, err = run(capsys, "verify", "e2m1", "-r", "up", "--start", "0x40000000", "--stop", "0x40001000",
                       "--backend", "numba")
    assert rc == 0 and err == ""
    assert "numba" in out and "jax" not in out and "ok" in out and "overflow=saturate" in out


def test_verify_mismatch_exits_1(capsys, monkeypatch):
    import lpemu._verify as V

    monkeypatch.setattr(V, "encode", lambda x, *a, **k: np.zeros(x.shape, np.uint8))
    rc, out, _ = run(capsys, "verify", "e4m3", "--start", "0x3f800000", "--stop", "0x3f800010", "-b", "numba")
    assert rc == 1 and "MISMATCH" in out and "0x3f800000" in out and "counterexamples" in out
    rc, out, _ = run(capsys, "verify", "e4m3", "--start", "0x3f800000", "--stop", "0x3f800010", "-b", "numba",
                     "--json")
    data = json.loads(out)
    assert rc == 1 and data["mismatches"] == 16 and data["counterexamples"][0]["expected"] == 0x38


# ---- errors and help ----------------------------------------------------------------------
ERRORS = [
    (["info", "e9m9"], "unknown format"),
    (["quantize", "{tmp}/missing.npy", "{tmp}/o.npy", "-f", "e4m3"], "No such file"),
    (["quantize", "{tmp}/x.npy", "{tmp}/o.npy", "-f", "e4m3", "-r", "sideways"], "rounding must be one of"),
    (["quantize", "{tmp}/x.npy", "{tmp}/o.npy", "-f", "e2m1", "-o", "infinity"], "overflow"),
    (["quantize", "{tmp}/x.npy", "{tmp}/o.npy", "-f", "e4m3", "-r", "stochastic"], "seed"),
    (["quantize", "{tmp}/x.npy", "{tmp}/o.npy", "-f", "e4m3", "--sr-bits", "99", "-r", "sr", "--seed", "1"], "sr_bits"),
    (["quantize", "{tmp}/x.npy", "{tmp}/o.npy", "-f", "fp64"], "float32"),
    (["quantize", "{tmp}/bad.npy", "{tmp}/o.npy", "-f", "e4m3"], ""),
    (["quantize", "{tmp}/x.npy", "{tmp}/o.npy"], "--format"),
    (["verify", "e4m3", "-r", "stochastic"], "deterministic"),
    (["verify", "bf16x"], "unknown format"),
    (["verify", "fp32"], "at most 16 bits"),
    (["verify", "e4m3", "--start", "zz"], "--start"),
    (["verify", "e4m3", "--backend", "gpu"], "invalid choice"),
    (["frobnicate"], "invalid choice"),
    ([], "a command is required"),
]


@pytest.mark.parametrize("argv, message", ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_errors_are_one_line(capsys, tmp_path, argv, message):
    np.save(tmp_path / "x.npy", np.ones(3, np.float32))
    (tmp_path / "bad.npy").write_bytes(b"not an npy file")
    argv = [a.format(tmp=tmp_path) for a in argv]
    rc, out, err = run(capsys, *argv)
    assert rc == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and "error" in err and message in err


def test_help_and_version(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0 and "formats" in out and "verify" in out
    rc, out, _ = run(capsys, "verify", "--help")
    assert rc == 0 and "--backend" in out
    rc, out, _ = run(capsys, "--version")
    assert rc == 0 and lpemu.__version__ in out


def test_every_option_has_an_example():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) == {"formats", "info", "quantize", "verify", "study"}
    for name, sub in subparsers.choices.items():
        assert "example" in (sub.epilog or ""), name
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert "e.g." in (action.help or ""), (name, action.dest)
