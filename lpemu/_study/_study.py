"""``lpemu.study``: evaluate a model under emulation policies and measure what changes.

A study runs one reference evaluation (float32, unemulated) and one evaluation per
configuration, and compares them: accuracy and loss on labelled inputs, and for every layer the
signal-to-noise ratio and the largest error relative to the layer's largest magnitude.
Configurations are :class:`~lpemu.jax.Policy` presets run through :func:`lpemu.emulate`, or
evaluators that compute the model another way (integer-only, this CPU's low-precision units).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["StudyRow", "StudyResult", "run_study", "layer_errors"]


@dataclass(frozen=True)
class StudyRow:
    """The measurements of one configuration."""

    config: str  #: configuration name
    description: str  #: what it emulates
    accuracy: float | None  #: top-1 accuracy on the labelled inputs (None without labels)
    loss: float | None  #: mean cross-entropy of the logits (float64), None without labels
    snr_db: dict[str, float]  #: per layer: 10 log10(sum ref^2 / sum (x - ref)^2); inf when equal
    max_rel_error: dict[str, float]  #: per layer: max |x - ref| / max |ref|
    seconds: float  #: evaluation time, compilation included
    note: str = ""  #: why a configuration was skipped, or what else it measured


@dataclass
class StudyResult:
    """A study's rows (the float32 reference first) and its settings."""

    model: str
    layers: tuple[str, ...]
    rows: list[StudyRow] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def row(self, config: str) -> StudyRow:
        """The row of configuration ``config``."""
        for r in self.rows:
            if r.config == config:
                return r
        raise InvalidArgumentError(f"StudyResult.row: no configuration {config!r}; have {[r.config for r in self.rows]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready; infinities as the string "inf")."""
        def clean(v):
            if isinstance(v, float) and math.isinf(v):
                return "inf" if v > 0 else "-inf"
            if isinstance(v, float) and math.isnan(v):
                return "nan"
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            return v

        return {"model": self.model, "layers": list(self.layers), "settings": clean(self.settings),
                "rows": [{k: clean(getattr(r, k)) for k in r.__dataclass_fields__} for r in self.rows]}


def layer_errors(x: Any, ref: Any) -> tuple[float, float]:
    """(SNR in dB, max |x - ref| / max |ref|) of one layer's output against the reference.

    Non-finite outputs give an SNR of -inf and an error of inf.

    Examples:
        >>> import numpy as np
        >>> layer_errors(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
        (inf, 0.0)
        >>> snr, err = layer_errors(np.array([1.0, 2.1]), np.array([1.0, 2.0]))
        >>> round(snr, 1), round(err, 3)
        (27.0, 0.05)
    """
    x = np.asarray(x, np.float64)
    ref = np.asarray(ref, np.float64)
    if not np.all(np.isfinite(x)):
        return -math.inf, math.inf
    noise = float(np.sum((x - ref) ** 2))
    signal = float(np.sum(ref ** 2))
    snr = math.inf if noise == 0 else (10 * math.log10(signal / noise) if signal > 0 else -math.inf)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    err = float(np.max(np.abs(x - ref))) if x.size else 0.0
    return snr, (err / scale if scale > 0 else (0.0 if err == 0 else math.inf))


def _classification(logits: Any, labels: np.ndarray | None) -> tuple[float | None, float | None]:
    if labels is None:
        return None, None
    z = np.asarray(logits, np.float64)
    if not np.all(np.isfinite(z)):
        return float(np.mean(np.argmax(np.nan_to_num(z, nan=-np.inf), axis=1) == labels)), math.inf
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return float(np.mean(np.argmax(z, axis=1) == labels)), float(-np.mean(logp[np.arange(len(labels)), labels]))


Evaluator = Callable[[Any, Any], tuple[Any, dict[str, Any]]]


def run_study(apply: Evaluator, params: Any, inputs: Any, labels: np.ndarray | None,
              configs: Sequence[tuple[str, str, Evaluator | None, str]], layers: Sequence[str],
              model: str, progress: bool = True) -> StudyResult:
    """Evaluate ``apply`` (float32 reference) and every configuration; see :func:`lpemu.study`.

    ``configs`` are (name, description, evaluator or None, note) with ``evaluator(params, inputs)
    -> (logits, activations)``; None marks a configuration skipped for the reason in ``note``.
    """
    from rich.progress import Progress

    result = StudyResult(model=model, layers=tuple(layers))
    jobs = [("fp32-reference", "float32, unemulated (the reference)", jax.jit(apply), "")] + list(configs)
    ref_acts: dict[str, Any] = {}
    with Progress(transient=True, disable=not progress) as bar:
        task = bar.add_task(f"study of {model}", total=len(jobs))
        for name, description, evaluate, note in jobs:
            bar.update(task, description=f"{model}: {name}")
            if evaluate is None:
                result.rows.append(StudyRow(name, description, None, None, {}, {}, 0.0, note))
                bar.advance(task)
                continue
            t0 = time.perf_counter()
            out = evaluate(params, inputs)
            logits, acts = out[0], out[1]
            note = out[2] if len(out) > 2 else note  # an evaluator's own finding (hardware agreement)
            logits = np.asarray(logits)
            acts = {k: np.asarray(v) for k, v in acts.items()}
            seconds = time.perf_counter() - t0
            if not ref_acts:
                ref_acts = acts
            snr, rel = {}, {}
            for layer in layers:
                if layer in acts:
                    snr[layer], rel[layer] = layer_errors(acts[layer], ref_acts[layer])
            acc, loss = _classification(logits, labels)
            result.rows.append(StudyRow(name, description, acc, loss, snr, rel, seconds, note))
            bar.advance(task)
    return result
