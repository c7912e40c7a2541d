"""The integer constants each integer-only nonlinearity derives from its input scale.

The published implementations (I-ViT's and I-BERT's PyTorch modules, I-ViT's TVM graphs)
compute these once per layer, from the layer's scaling factor, with floating-point arithmetic.
lpemu evaluates every formula below in float64 from the scale as given (a Python float), which is
what the TVM graphs do; the PyTorch modules hold the scale in a float32 tensor and so evaluate
in float32, which gives the same integer except when a quotient lies within float32 rounding
of an integer. The kernels, the public layer and :mod:`lpemu.reference` all read the constants
from here, so they share one definition.

Each function returns Python ints and floats; the public layer checks the scale's range first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: I-ViT ShiftGELU: GELU(x) ~ x * sigmoid(1.702 x).
GELU_SIGMOID_FACTOR = 1.702
#: I-BERT i-exp: exp(r) ~ a (r + b)^2 + c on (-ln 2, 0], with x0 = -0.6931 ~ -ln 2 and n = 30.
IEXP_X0, IEXP_N = -0.6931, 30
IEXP_A, IEXP_B, IEXP_C = 0.35815147, 0.96963238 / 0.35815147, 1.0 / 0.35815147
#: I-BERT i-GELU: erf(x / k) ~ sign(x) [a (min(|x|, -b) + b)^2 + 1], with k ~ sqrt(2) and n = 14.
IGELU_K, IGELU_N, IGELU_A, IGELU_B = 1.4142, 14, -0.2888, -1.769
IGELU_C = 1.0 / IGELU_A
#: Largest int32: the numerator of the I-ViT divisions.
INT32_MAX = (1 << 31) - 1


def ivit_x0(scale: float, variant: str) -> int:
    """x0 of I-ViT's shift exponential: ``floor(-1/S)`` (PyTorch) or ``int32(-1/S - 1)``, a
    truncation toward zero (TVM: ``relay.const(-1.0 / input_scale - 1, "int32")``)."""
    if variant == "tvm":
        return int(-1.0 / scale - 1.0)
    return math.floor(-1.0 / scale)


def gelu_scale(scale: float) -> float:
    """The scale ShiftGELU's exponentials use: ``1.702 * S``."""
    return scale * GELU_SIGMOID_FACTOR


@dataclass(frozen=True)
class IExpConstants:
    """I-BERT i-exp's constants for input scale ``S``."""

    #: ``floor(-0.6931 / S)``: the integer ln 2 (negative).
    x0: int
    #: ``floor(b / S)`` with ``b = 0.96963238 / 0.35815147``.
    b: int
    #: ``floor(c / S^2)`` with ``c = 1 / 0.35815147``.
    c: int
    #: The output scale ``0.35815147 * S^2 / 2^30``.
    scale: float


def iexp_constants(scale: float) -> IExpConstants:
    """i-exp's constants (``IntSoftmax.int_exp`` and ``int_polynomial`` of I-BERT)."""
    return IExpConstants(math.floor(IEXP_X0 / scale), math.floor(IEXP_B / scale),
                         math.floor(IEXP_C / scale**2), IEXP_A * scale**2 / 2**IEXP_N)


@dataclass(frozen=True)
class IGeluConstants:
    """I-BERT i-GELU's constants for input scale ``S`` (``S' = S / 1.4142``)."""

    #: ``floor(-1.769 / S')`` (negative).
    b: int
    #: ``floor((1 / -0.2888) / S'^2)`` (negative).
    c: int
    #: ``floor(1 / s)`` with the sigmoid scale ``s = S'^2 * -0.2888 * 2^14`` (negative).
    shift: int
    #: The output scale ``S * s / 2`` (negative, as in I-BERT).
    scale: float


def igelu_constants(scale: float) -> IGeluConstants:
    """i-GELU's constants (``IntGELU.int_erf`` and ``forward`` of I-BERT)."""
    s1 = scale / IGELU_K
    sig = s1**2 * IGELU_A * 2**IGELU_N
    return IGeluConstants(math.floor(IGELU_B / s1), math.floor(IGELU_C / s1**2), math.floor(1.0 / sig),
                          scale * sig / 2)


def layernorm_scale(channels: int) -> float:
    """The I-LayerNorm output scale before gamma: ``sqrt(C) / 2^30``."""
    return math.sqrt(channels) / 2**30


def softmax16_ratio(exp_max: int) -> float:
    """I-BERT softmax's 16-bit requantization of the exponentials: the ratio that maps the
    largest exponential ``exp_max`` to 32767 (QuantAct(16) with its running maximum)."""
    return 32767.0 / exp_max


def layernorm_bias(beta: float, gamma: float, channels: int) -> int:
    """I-LayerNorm's integer bias of one channel: ``floor((beta / gamma) / (sqrt(C) / 2^30))``."""
    return math.floor((beta / gamma) / layernorm_scale(channels))
