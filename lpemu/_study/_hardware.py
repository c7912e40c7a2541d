"""The study's MLP with its dense layers on this CPU's fp16 and bf16 units (lpemu.hardware)."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["hardware_mlp"]

_UNITS = {"hw_fp16": "avx512fp16", "hw_bf16": "avx512bf16"}


def _dense_fp16(x: np.ndarray, w: np.ndarray, b: np.ndarray, impl: str) -> np.ndarray:
    """x @ w + b as a chain of fp16 fused multiply-adds from the bias (vfmadd213ph, nearest even)."""
    from .. import hardware

    x16, w16 = hardware.cvtps2ph(x, unit="avx512fp16", impl=impl), hardware.cvtps2ph(w, unit="avx512fp16", impl=impl)
    acc = np.broadcast_to(hardware.cvtps2ph(b, unit="avx512fp16", impl=impl), (x.shape[0], w.shape[1])).copy()
    for k in range(x.shape[1]):
        xs = np.broadcast_to(x16[:, k:k + 1], acc.shape)
        ws = np.broadcast_to(w16[k:k + 1, :], acc.shape)
        acc = hardware.fp16_fma(np.ascontiguousarray(xs), np.ascontiguousarray(ws), acc, impl=impl)
    return acc.astype(np.float32)


def _dense_bf16(x: np.ndarray, w: np.ndarray, b: np.ndarray, impl: str) -> np.ndarray:
    """x @ w + b with bf16 operands (vcvtneps2bf16) and vdpbf16ps pairs into float32, from the bias."""
    from .. import hardware

    xb, wb = hardware.cvtneps2bf16(x, impl=impl), hardware.cvtneps2bf16(w, impl=impl)
    m, k = x.shape
    n = w.shape[1]
    acc = np.broadcast_to(b.astype(np.float32), (m, n)).copy()
    for j in range(0, k - k % 2, 2):
        a_pair = np.ascontiguousarray(np.broadcast_to(xb[:, None, j:j + 2], (m, n, 2)))
        b_pair = np.ascontiguousarray(np.broadcast_to(wb[j:j + 2, :].T[None], (m, n, 2)))
        acc = hardware.dpbf16ps(acc[..., None], a_pair, b_pair, impl=impl)[..., 0]
    if k % 2:  # an odd K: the last product paired with a zero
        z = np.zeros((m, n, 1), xb.dtype)
        a_pair = np.concatenate([np.broadcast_to(xb[:, None, k - 1:k], (m, n, 1)), z], axis=-1)
        b_pair = np.concatenate([np.broadcast_to(wb[k - 1:k, :].T[None], (m, n, 1)), z], axis=-1)
        acc = hardware.dpbf16ps(acc[..., None], a_pair, b_pair, impl=impl)[..., 0]
    return acc


def _mlp(params: Any, x: Any, dense, impl: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    h = np.asarray(x, np.float32)
    acts = {}
    for name in ("dense1", "dense2", "logits"):
        p = params[name]
        h = dense(h, np.asarray(p["w"], np.float32), np.asarray(p["b"], np.float32), impl)
        if name != "logits":
            h = np.maximum(h, np.float32(0))
        acts[name] = h
    return h, acts


def hardware_mlp(name: str):
    """(evaluator, note) of ``hw_fp16`` / ``hw_bf16``; (None, reason) where the unit is missing.

    The evaluator runs the layers on the unit and again with lpemu's reproduction of it
    (``impl="lpemu"``), and returns the agreement as its note."""
    from .. import hardware

    unit = _UNITS[name]
    if not hardware.available().get(unit, False):
        return None, f"this CPU has no {unit} unit"
    dense = _dense_fp16 if name == "hw_fp16" else _dense_bf16

    def evaluate(params: Any, x: Any):
        logits, acts = _mlp(params, x, dense, "hardware")
        _, emulated = _mlp(params, x, dense, "lpemu")
        same = sum(int(np.sum(acts[k].view(np.uint32) == emulated[k].view(np.uint32))) for k in acts)
        total = sum(acts[k].size for k in acts)
        return logits, acts, f"lpemu's model of {unit} agrees bit for bit on {same}/{total} layer outputs"

    return evaluate, ""
