"""lpemu.study and `lpemu study`: a tiny study end to end, its report, and its numbers."""

from __future__ import annotations

import json
import math

import jax.numpy as jnp
import numpy as np
import pytest

import lpemu
from lpemu._study import layer_errors
from lpemu._study._models import MODELS, load_digits


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 20-step MLP studied on 48 inputs under three configurations, with a report."""
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("LPEMU_CACHE", str(cache))
    out = tmp_path_factory.mktemp("report")
    result = lpemu.study(configs=["bf16", "fp8_e4m3", "hw_bf16"], steps=20, samples=48, out_dir=out, progress=False)
    yield result, out
    mp.undo()


def test_rows_and_reference(tiny):
    result, _ = tiny
    assert [r.config for r in result.rows] == ["fp32-reference", "bf16", "fp8_e4m3", "hw_bf16"]
    ref = result.rows[0]
    assert all(math.isinf(ref.snr_db[layer]) for layer in result.layers)
    assert all(ref.max_rel_error[layer] == 0 for layer in result.layers)
    assert result.layers == MODELS["mlp"].layers
    bf16, fp8 = result.row("bf16"), result.row("fp8_e4m3")
    # bf16 rounds every result, fp8 only the matmul operands (but to 4 bits): both lose accuracy
    # against the reference, fp8 far more
    for layer in result.layers:
        assert 25 < bf16.snr_db[layer] < 80
        assert fp8.snr_db[layer] < bf16.snr_db[layer]


def test_numbers_match_an_emulated_run(tiny):
    """The bf16 row is what lpemu.emulate gives for the same model, parameters and inputs."""
    result, _ = tiny
    spec = MODELS["mlp"]
    from lpemu._study._models import train

    x_train, y_train, x_test, y_test = load_digits(0)
    params = train(spec, x_train, y_train, steps=20, seed=0)
    x = x_test[:48]
    ref_logits, ref_acts = spec.apply(params, x)
    logits, acts = lpemu.emulate(spec.apply, "bf16")(params, x)
    acc = float(np.mean(np.argmax(np.asarray(logits), 1) == y_test[:48]))
    row = result.row("bf16")
    assert row.accuracy == acc
    for layer in result.layers:
        assert (row.snr_db[layer], row.max_rel_error[layer]) == layer_errors(acts[layer], ref_acts[layer])


def test_report_files_hold_the_api_numbers(tiny):
    result, out = tiny
    data = json.loads((out / "results.json").read_text())
    assert data == json.loads(json.dumps(result.to_dict()))
    assert [r["config"] for r in data["rows"]] == [r.config for r in result.rows]
    report = (out / "report.md").read_text()
    row = result.row("fp8_e4m3")
    line = next(l for l in report.splitlines() if l.startswith("| fp8_e4m3 |"))
    assert f"{row.accuracy:.3f}" in line and f"{row.snr_db['dense1']:.1f}" in line
    for png in ("accuracy.png", "layer_snr.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_hardware_row(tiny):
    result, _ = tiny
    row = result.row("hw_bf16")
    if not lpemu.hardware.available()["avx512bf16"]:
        assert row.accuracy is None and "avx512bf16" in row.note
        return
    total = 48 * (64 + 32 + 10)
    assert row.note == f"lpemu's model of avx512bf16 agrees bit for bit on {total}/{total} layer outputs"
    assert row.snr_db["logits"] > 30


def test_user_function_and_policy_objects():
    """A user's function returning only logits; a Policy object as a configuration."""
    w = jnp.asarray(np.random.default_rng(0).normal(size=(16, 4)), jnp.float32)

    def f(params, x):
        return jnp.tanh(x @ params)

    x = jnp.asarray(np.random.default_rng(1).normal(size=(8, 16)), jnp.float32)
    result = lpemu.study(f, w, x, configs=["fp32", lpemu.Policy(format="fp16")], progress=False)
    assert result.layers == ("output",)
    assert result.rows[1].snr_db["output"] == math.inf  # the fp32 preset emulates nothing
    assert 50 < result.rows[2].snr_db["output"] < 90


@pytest.mark.parametrize("kwargs, match", [
    ({"model": "cnn"}, "model must be one of"),
    ({"configs": ["fp7"]}, "unknown configuration 'fp7'"),
    ({"steps": 0}, "steps must be"),
    ({"samples": 0, "configs": []}, "samples must be"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(lpemu.InvalidArgumentError, match=match):
        lpemu.study(progress=False, **kwargs)


def test_cli_study_json_equals_the_report(tmp_path, monkeypatch, capsys):
    from lpemu.cli import main

    monkeypatch.setenv("LPEMU_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "report"
    assert main(["study", "--configs", "bf16", "--steps", "5", "--samples", "16", "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "results.json").read_text())
    assert [r["config"] for r in printed["rows"]] == ["fp32-reference", "bf16"]
    assert main(["study", "--configs", "fp7", "--out", str(out)]) == 2
    assert "unknown configuration 'fp7'" in capsys.readouterr().err


def test_integer_only_mlp_hands_integers_on(tmp_path, monkeypatch):
    """int8_dyadic on the MLP: calibrated scales, so each layer's activations are integers times
    the next layer's input scale; accuracy stays close to float32."""
    monkeypatch.setenv("LPEMU_CACHE", str(tmp_path))
    result = lpemu.study(configs=["int8_dyadic"], steps=20, samples=48, out_dir=tmp_path / "r", progress=False)
    row = result.row("int8_dyadic")
    assert abs(row.accuracy - result.rows[0].accuracy) <= 2 / 48
    assert all(30 < row.snr_db[layer] < 60 for layer in result.layers)
    from lpemu._study._integer import LAYERS, int8_mlp
    from lpemu._study._models import train

    x_train, y_train, x_test, _ = load_digits(0)
    params = train(MODELS["mlp"], x_train, y_train, steps=20, seed=0)
    _, acts = int8_mlp(params)(params, x_test[:48])
    _, ref = MODELS["mlp"].apply(params, x_test[:48])
    for name in LAYERS[:-1]:
        scale = np.float32(np.abs(np.asarray(ref[name])).max()) / np.float32(127)
        q = np.asarray(acts[name]) / scale  # float32 q * scale / scale: q within rounding
        assert np.abs(q - np.rint(q)).max() < 1e-4
        assert 0 <= q.min() and q.max() <= 127 and len(np.unique(np.rint(q))) > 20
