"""``lpemu.study``: the main job, a fidelity study of a model under emulation policies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError
from ._configs import CONFIGS, DEFAULT_CONFIGS, build
from ._models import MODELS, load_digits, train
from ._report import table, write_report
from ._study import StudyResult, StudyRow, layer_errors, run_study

__all__ = ["study", "StudyResult", "StudyRow", "CONFIGS", "DEFAULT_CONFIGS", "MODELS", "layer_errors", "table",
           "write_report"]


def _check_configs(configs: Sequence[Any]) -> list[Any]:
    from ..jax import Policy

    out = []
    for c in configs:
        if isinstance(c, Policy) or c in CONFIGS:
            out.append(c)
        else:
            raise InvalidArgumentError(f"study: unknown configuration {c!r}; choose from {', '.join(CONFIGS)} "
                                       "or pass lpemu.Policy objects")
    return out


def study(fn: Callable[..., Any] | None = None, params: Any = None, inputs: Any = None, labels: Any = None, *,
          model: str = "mlp", configs: Sequence[Any] = DEFAULT_CONFIGS, out_dir: str | Path | None = None,
          steps: int = 300, seed: int = 0, samples: int | None = None, progress: bool = True) -> StudyResult:
    """Run a model under emulation configurations and compare each with the float32 reference.

    With no ``fn``, the built-in ``model`` ("mlp" or "transformer") is trained on scikit-learn's
    digits (full-batch Adam, ``steps`` steps; cached) and evaluated on the held-out quarter.
    With ``fn``, ``fn(params, inputs)`` is your JAX function: it returns logits, or ``(logits,
    {layer name: activation})`` for per-layer errors; ``labels`` (integers) give accuracy and loss.

    Args:
        fn, params, inputs, labels: your model, its parameters and inputs (see above).
        model: the built-in model when ``fn`` is None.
        configs: configuration names (:data:`CONFIGS`: the :data:`lpemu.jax.POLICIES` presets,
            ``int8_dyadic``, ``hw_fp16``, ``hw_bf16``) or :class:`lpemu.Policy` objects.
            A configuration that does not apply (a missing CPU unit, a model it is not built for)
            gets a row with its reason.
        out_dir: where to write the report (report.md, results.json, PNG plots); None: none.
        steps, seed: training of the built-in model.
        samples: evaluate on the first ``samples`` test inputs only (None: all).
        progress: show a progress bar.

    Returns:
        A :class:`StudyResult`: a row per configuration (the float32 reference first) with
        accuracy, loss, per-layer SNR (dB) and max relative error, and time.

    Raises:
        InvalidArgumentError: an unknown model or configuration, or bad ``fn`` arguments.

    Examples:
        >>> import lpemu
        >>> r = lpemu.study(configs=["bf16"], steps=50, samples=64, progress=False)  # doctest: +SKIP
        >>> [row.config for row in r.rows]  # doctest: +SKIP
        ['fp32-reference', 'bf16']
    """
    configs = _check_configs(configs)
    settings: dict[str, Any] = {}
    if fn is None:
        if model not in MODELS:
            raise InvalidArgumentError(f"study: model must be one of {', '.join(MODELS)}, got {model!r}")
        if not isinstance(steps, int) or steps < 1:
            raise InvalidArgumentError(f"study: steps must be an integer >= 1, got {steps!r}")
        spec = MODELS[model]
        x_train, y_train, x_test, y_test = load_digits(seed)
        params = train(spec, x_train, y_train, steps=steps, seed=seed)
        apply, layers, name = spec.apply, spec.layers, model
        inputs, labels = x_test, y_test
        settings.update(model=model, dataset="sklearn digits", steps=steps, seed=seed)
    else:
        if not callable(fn) or inputs is None:
            raise InvalidArgumentError("study: fn must be callable and inputs given")
        probe = fn(params, inputs)
        if isinstance(probe, tuple) and len(probe) == 2 and isinstance(probe[1], dict):
            apply, layers = fn, tuple(probe[1])
        else:
            def apply(p, x):
                out = fn(p, x)
                return out, {"output": out}

            layers = ("output",)
        name = getattr(fn, "__name__", "model")
        model = None
    if samples is not None:
        if not isinstance(samples, int) or samples < 1:
            raise InvalidArgumentError(f"study: samples must be an integer >= 1 or None, got {samples!r}")
        inputs = inputs[:samples]
        labels = None if labels is None else labels[:samples]
    labels = None if labels is None else np.asarray(labels)
    settings["samples"] = int(np.shape(inputs)[0])
    jobs = []
    for c in configs:
        evaluate, note = build(c, model, apply, params)
        label = c if isinstance(c, str) else f"policy{len(jobs)}"
        jobs.append((label, CONFIGS.get(label, repr(c)), evaluate, note))
    result = run_study(apply, params, inputs, labels, jobs, layers, name, progress)
    result.settings.update(settings, configs=[j[0] for j in jobs])
    if out_dir is not None:
        write_report(result, out_dir)
    return result
