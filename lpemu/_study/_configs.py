"""The configurations a study can evaluate, by name.

* Every :data:`lpemu.jax.POLICIES` preset (fp32, bf16, fp16, fp8_e4m3, fp8_e5m2, h100_fp8,
  mxfp8, mxfp4, nvfp4, int8, lmul, int8_dyadic): the model run through :func:`lpemu.emulate`.
  ``int8_dyadic`` on the MLP uses scales calibrated on the evaluated inputs, so its layers pass
  integers on (``lpemu._study._integer``); on other models the preset's dynamic scales.
* ``hw_fp16``: the MLP's dense layers on this CPU's AVX512-FP16 unit (fp16 operands, a chain of
  fp16 fused multiply-adds from the bias); ``hw_bf16``: on its AVX512-BF16 unit (``vcvtneps2bf16``
  operands, ``vdpbf16ps`` into float32). Each also runs lpemu's reproduction of the unit and
  reports how many values agree bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

__all__ = ["CONFIGS", "DEFAULT_CONFIGS", "build"]

Evaluator = Callable[[Any, Any], tuple[Any, dict[str, Any]]]

#: What ``lpemu study`` evaluates when no configurations are named.
DEFAULT_CONFIGS = ("bf16", "fp16", "fp8_e4m3", "fp8_e5m2", "h100_fp8", "mxfp8", "mxfp4", "nvfp4", "int8_dyadic",
                   "lmul", "hw_fp16", "hw_bf16")


def _policy_descriptions() -> dict[str, str]:
    return {
        "fp32": "nothing emulated (float32 as XLA computes it)",
        "bf16": "every result and matmul operand in bf16",
        "fp16": "every result and matmul operand in fp16",
        "fp8_e4m3": "matmul operands E4M3 (unscaled, saturating), fp32 sequential sums, bf16 elsewhere",
        "fp8_e5m2": "matmul operands E5M2 (unscaled, saturating), fp32 sequential sums, bf16 elsewhere",
        "h100_fp8": "E4M3 operands, H100 tensor-core accumulation model, bf16 elsewhere",
        "mxfp8": "matmul operands MXFP8 E4M3 (block 32), bf16 elsewhere",
        "mxfp4": "matmul operands MXFP4 (block 32), bf16 elsewhere",
        "nvfp4": "matmul operands NVFP4 (block 16, E4M3 scales), bf16 elsewhere",
        "int8": "matmul operands int8 with a power-of-two scale per tensor, bf16 elsewhere",
        "lmul": "bf16 operands multiplied by L-Mul, fp32 sequential sums, bf16 elsewhere",
        "int8_dyadic": "integer-only dense layers: int8 weights/activations, int32 sums and bias, dyadic "
                       "requantization (MLP: calibrated scales, integers between layers; others: dynamic scales)",
    }


def _descriptions() -> dict[str, str]:
    d = _policy_descriptions()
    d.update({
        "hw_fp16": "dense layers on this CPU's AVX512-FP16 unit (fp16 FMA chain)",
        "hw_bf16": "dense layers on this CPU's AVX512-BF16 unit (vdpbf16ps into fp32)",
    })
    return d


#: Every configuration name with a one-line description.
CONFIGS: dict[str, str] = _descriptions()


def build(name: str, model: str | None, apply: Evaluator, params: Any) -> tuple[Evaluator | None, str]:
    """The evaluator of configuration ``name`` for ``apply`` (of built-in model ``model``, or a
    user function when None), or (None, why it does not apply)."""
    from ..jax import POLICIES, Policy, emulate

    if isinstance(name, Policy):
        return jax.jit(emulate(apply, name)), ""
    if name == "int8_dyadic" and model == "mlp":  # calibrated static scales: integers from layer to layer
        from ._integer import int8_mlp

        return int8_mlp(params), ""
    if name in POLICIES:
        return jax.jit(emulate(apply, POLICIES[name])), ""
    if name in ("hw_fp16", "hw_bf16"):
        if model != "mlp":
            return None, "hardware units run the MLP's dense layers only"
        from ._hardware import hardware_mlp

        return hardware_mlp(name)
    raise AssertionError(name)  # names are checked by lpemu.study
