"""The study's models and data: scikit-learn's digits, a small MLP and a one-block transformer.

Both models are plain JAX functions ``apply(params, x) -> (logits, activations)`` where
``activations`` maps each layer's name to its output, so a study can compare layer by layer.
Every layer runs inside ``jax.named_scope(name)``: policies can address it by name.
Training uses full-batch Adam (written out here: no optimizer dependency) and the parameters are
cached as .npz files, keyed by model, seed and steps.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["Model", "MODELS", "load_digits", "train", "cache_dir"]

Params = dict[str, Any]


@dataclass(frozen=True)
class Model:
    """A study model: ``init(key) -> params`` and ``apply(params, x) -> (logits, activations)``."""

    name: str  #: key of :data:`MODELS`
    init: Callable[[Any], Params]
    apply: Callable[[Params, Any], tuple[Any, dict[str, Any]]]
    layers: tuple[str, ...]  #: names of the activations ``apply`` returns, in order


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (1797 images), scaled to [0, 1] and split reproducibly.

    Returns:
        (x_train, y_train, x_test, y_test): float32 images of shape (n, 64), int32 labels.
    """
    try:
        from sklearn.datasets import load_digits as sk_load
    except ImportError as err:  # pragma: no cover - scikit-learn is a dependency
        raise InvalidArgumentError("lpemu.study needs scikit-learn for its dataset (pip install scikit-learn)") from err
    data = sk_load()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(len(x) * test_fraction))
    test, train_ = order[:n_test], order[n_test:]
    return x[train_], y[train_], x[test], y[test]


def _dense(key, fan_in: int, fan_out: int) -> dict[str, Any]:
    w = jax.random.normal(key, (fan_in, fan_out), jnp.float32) * np.float32(np.sqrt(2.0 / fan_in))
    return {"w": w, "b": jnp.zeros((fan_out,), jnp.float32)}


# ---- MLP: 64 -> 64 -> 32 -> 10 ------------------------------------------------------------------
def _mlp_init(key) -> Params:
    k1, k2, k3 = jax.random.split(key, 3)
    return {"dense1": _dense(k1, 64, 64), "dense2": _dense(k2, 64, 32), "logits": _dense(k3, 32, 10)}


def _mlp_apply(params: Params, x) -> tuple[Any, dict[str, Any]]:
    acts = {}
    h = x
    for name in ("dense1", "dense2"):
        with jax.named_scope(name):
            h = jax.nn.relu(h @ params[name]["w"] + params[name]["b"])
        acts[name] = h
    with jax.named_scope("logits"):
        logits = h @ params["logits"]["w"] + params["logits"]["b"]
    acts["logits"] = logits
    return logits, acts


# ---- one-block transformer over the 8 rows of the image ------------------------------------------
_D, _HEADS, _HIDDEN = 32, 2, 64


def _layer_norm(x, gamma, beta):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mu), axis=-1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + 1e-5) * gamma + beta


def _transformer_init(key) -> Params:
    ks = jax.random.split(key, 7)
    return {
        "embed": {**_dense(ks[0], 8, _D), "pos": jax.random.normal(ks[1], (8, _D), jnp.float32) * 0.1},
        "attention": {"ln": {"gamma": jnp.ones(_D), "beta": jnp.zeros(_D)}, "qkv": _dense(ks[2], _D, 3 * _D),
                      "out": _dense(ks[3], _D, _D)},
        "mlp": {"ln": {"gamma": jnp.ones(_D), "beta": jnp.zeros(_D)}, "up": _dense(ks[4], _D, _HIDDEN),
                "down": _dense(ks[5], _HIDDEN, _D)},
        "logits": _dense(ks[6], _D, 10),
    }


def _transformer_apply(params: Params, x) -> tuple[Any, dict[str, Any]]:
    acts = {}
    tokens = x.reshape(x.shape[0], 8, 8)
    with jax.named_scope("embed"):
        p = params["embed"]
        h = tokens @ p["w"] + p["b"] + p["pos"]
    acts["embed"] = h
    with jax.named_scope("attention"):
        p = params["attention"]
        y = _layer_norm(h, p["ln"]["gamma"], p["ln"]["beta"])
        qkv = y @ p["qkv"]["w"] + p["qkv"]["b"]
        q, k, v = jnp.split(qkv.reshape(x.shape[0], 8, 3, _HEADS, _D // _HEADS), 3, axis=2)
        q, k, v = q[:, :, 0], k[:, :, 0], v[:, :, 0]
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / np.float32(np.sqrt(_D // _HEADS))
        with jax.named_scope("softmax"):
            weights = jax.nn.softmax(scores, axis=-1)
        mixed = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(x.shape[0], 8, _D)
        h = h + mixed @ p["out"]["w"] + p["out"]["b"]
    acts["attention"] = h
    with jax.named_scope("mlp"):
        p = params["mlp"]
        y = _layer_norm(h, p["ln"]["gamma"], p["ln"]["beta"])
        h = h + jax.nn.gelu(y @ p["up"]["w"] + p["up"]["b"]) @ p["down"]["w"] + p["down"]["b"]
    acts["mlp"] = h
    with jax.named_scope("logits"):
        logits = jnp.mean(h, axis=1) @ params["logits"]["w"] + params["logits"]["b"]
    acts["logits"] = logits
    return logits, acts


#: The study's models by name.
MODELS: dict[str, Model] = {
    "mlp": Model("mlp", _mlp_init, _mlp_apply, ("dense1", "dense2", "logits")),
    "transformer": Model("transformer", _transformer_init, _transformer_apply, ("embed", "attention", "mlp", "logits")),
}


def cache_dir() -> Path:
    """Where trained parameters are cached: ``$LPEMU_CACHE`` or ``~/.cache/lpemu``, then ``study``."""
    root = os.environ.get("LPEMU_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or
                                                         os.path.expanduser("~/.cache"), "lpemu")
    return Path(root) / "study"


def _loss(model: Model, params: Params, x, y):
    logits, _ = model.apply(params, x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def train(model: Model, x: np.ndarray, y: np.ndarray, *, steps: int = 300, seed: int = 0,
          learning_rate: float = 3e-3, cache: bool = True) -> Params:
    """Train ``model`` with full-batch Adam (or load the cached result of the same run).

    Returns:
        The parameters as a nested dict of float32 numpy arrays.
    """
    key = hashlib.sha256(f"{model.name}-{seed}-{steps}-{learning_rate}-{x.shape}-v1".encode()).hexdigest()[:16]
    path = cache_dir() / f"{model.name}-{key}.npz"
    treedef = jax.tree_util.tree_structure(model.init(jax.random.PRNGKey(seed)))
    if cache and path.exists():
        with np.load(path) as data:
            return jax.tree_util.tree_unflatten(treedef, [data[f"p{i}"] for i in range(treedef.num_leaves)])
    params = model.init(jax.random.PRNGKey(seed))
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)
    b1, b2, eps = 0.9, 0.999, 1e-8

    @jax.jit
    def step(params, m, v, t):
        g = jax.grad(lambda p: _loss(model, p, x, y))(params)
        m = jax.tree_util.tree_map(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
        v = jax.tree_util.tree_map(lambda v_, g_: b2 * v_ + (1 - b2) * g_ * g_, v, g)
        corr = jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        params = jax.tree_util.tree_map(lambda p, m_, v_: p - learning_rate * corr * m_ / (jnp.sqrt(v_) + eps),
                                        params, m, v)
        return params, m, v

    for t in range(1, steps + 1):
        params, m, v = step(params, m, v, jnp.float32(t))
    params = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32), params)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        leaves = jax.tree_util.tree_leaves(params)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **{f"p{i}": leaf for i, leaf in enumerate(leaves)})
        os.replace(tmp, path)
    return params
