"""The study's MLP as an integer-only pipeline: :func:`lpemu.emulate` with an integer-only
policy (:class:`lpemu.jax.IntegerMatmul`) whose scales are calibrated.

Post-training quantization, symmetric: int8 activations with one scale per tensor and int8
weights with one scale per output channel (max |.| / 127), int32 biases at scale S_x S_w, int32
accumulation, and dyadic requantization (TFLite double rounding) to the next layer's int8 scale;
ReLU then acts on the integers. The activation scales are calibrated on the evaluated inputs
with the float32 model (their max |.|); each layer's output scale is the next layer's input
scale, so the layers hand integers on (the first layer's input quantization is the only
floating-point step).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

__all__ = ["int8_mlp", "LAYERS"]

#: The MLP's dense layers (their ``jax.named_scope`` names), in order.
LAYERS = ("dense1", "dense2", "logits")


def _scale(v: Any) -> float:
    s = np.float32(np.max(np.abs(np.asarray(v, np.float32)))) / np.float32(127)
    return float(s) if s > 0 else 1.0


def int8_mlp(params: Any):
    """The evaluator ``(params, x) -> (logits, activations)`` of the integer-only MLP."""
    from ..jax import IntegerMatmul, Policy, emulate
    from ._models import MODELS

    apply = MODELS["mlp"].apply

    def evaluate(p: Any, x: Any):
        _, ref = apply(p, x)
        scales = [_scale(x)] + [_scale(ref[name]) for name in LAYERS]
        rules = {name: Policy(integer=IntegerMatmul(x_scale=scales[i], out_scale=scales[i + 1]))
                 for i, name in enumerate(LAYERS)}
        return jax.jit(emulate(apply, Policy(integer=IntegerMatmul(), rules=rules)))(p, x)

    return evaluate
