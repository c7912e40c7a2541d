"""The study's MLP as an integer-only pipeline (lpemu.integer, lpemu.dyadic).

Post-training quantization, symmetric: int8 activations with one scale per tensor and int8
weights with one scale per output channel (max |.| / 127), int32 biases at scale S_x S_w, int32
accumulation, and dyadic requantization (TFLite double rounding) to the next layer's int8 scale;
ReLU is ``max(y, 0)`` on the integers. The activation scales are calibrated on the evaluated
inputs with the float32 model (their max |.|).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["int8_mlp"]

_LAYERS = ("dense1", "dense2", "logits")


def _scale(v: np.ndarray, axis=None) -> np.ndarray:
    s = np.max(np.abs(v), axis=axis) / 127.0
    return np.where(s > 0, s, 1.0)


def _q8(v: np.ndarray, s) -> np.ndarray:
    return np.clip(np.rint(v / s), -127, 127).astype(np.int8)


def int8_mlp(params: Any):
    """The evaluator ``(params, x) -> (logits, activations)`` of the integer-only MLP."""
    from ..dyadic import quantize_multiplier
    from ..integer import int_dense
    from ._models import MODELS

    def evaluate(p: Any, x: Any):
        x = np.asarray(x, np.float32)
        _, ref = MODELS["mlp"].apply(p, x)
        s_x = float(_scale(x))
        h = _q8(x, s_x)
        acts = {}
        for name in _LAYERS:
            w = np.asarray(p[name]["w"], np.float64)
            b = np.asarray(p[name]["b"], np.float64)
            s_w = _scale(w, axis=0)
            s_y = float(_scale(np.asarray(ref[name], np.float64)))
            bias = np.rint(b / (s_x * s_w)).astype(np.int32)
            m, sh = quantize_multiplier(s_x * s_w / s_y)
            y = int_dense(h, _q8(w, s_w), bias, m, sh)
            if name != "logits":
                y = np.maximum(y, 0).astype(np.int8)
            acts[name] = (y.astype(np.float64) * s_y).astype(np.float32)
            h, s_x = y, s_y
        return acts["logits"], acts

    return evaluate
