"""Variable initializers: zeros, ones, constant, normal, uniform, glorot_uniform (seeded)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .dtypes import np_dtype

KINDS = ("zeros", "ones", "constant", "normal", "uniform", "glorot_uniform")
_PARAMS = {
    "zeros": set(), "ones": set(), "constant": {"value"},
    "normal": {"mean", "stddev"}, "uniform": {"minval", "maxval"}, "glorot_uniform": set(),
}


class InitializerError(ValueError):
    """An initializer is refused; ``field`` names the field at fault (None: the whole)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """Fan-in and fan-out as Keras computes them (kernel dims last, receptive field first)."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2])
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def _number(spec: Mapping[str, Any], key: str, default: float) -> float:
    v = spec.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InitializerError(f"initializer '{key}' must be a number, got {v!r}", key)
    return float(v)


def materialize(spec: Any, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """The array an initializer describes; the same seed always gives the same array."""
    if not isinstance(spec, Mapping):
        raise InitializerError("initializer must be an object with a 'kind'")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise InitializerError(f"initializer kind must be one of {', '.join(KINDS)}, got "
                               f"{kind!r}", "kind")
    extra = set(spec) - {"kind", "seed"} - _PARAMS[kind]
    if extra:
        raise InitializerError(f"unknown initializer field {sorted(extra)[0]!r} for {kind}",
                               sorted(extra)[0])
    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise InitializerError("initializer 'seed' must be a non-negative int", "seed")
    dt = np_dtype(dtype)
    if kind not in ("zeros", "ones", "constant") and dt.kind != "f":
        raise InitializerError(f"a {kind} initializer needs a floating dtype, not {dtype}")
    if kind == "zeros":
        return np.zeros(shape, dt)
    if kind == "ones":
        return np.ones(shape, dt)
    if kind == "constant":
        value = _number(spec, "value", 0.0)
        if dt.kind in "iub" and np.array(value).astype(dt) != value:
            raise InitializerError(f"initializer 'value' {value!r} is not a {dtype} value",
                                   "value")
        return np.full(shape, value, dt)
    rng = np.random.default_rng(seed)
    if kind == "normal":
        out = rng.normal(_number(spec, "mean", 0.0), _number(spec, "stddev", 1.0), shape)
    elif kind == "uniform":
        lo, hi = _number(spec, "minval", 0.0), _number(spec, "maxval", 1.0)
        out = rng.uniform(lo, hi, shape)
    else:
        fan_in, fan_out = _fans(shape)
        limit = math.sqrt(6.0 / (fan_in + fan_out)) if fan_in + fan_out else 0.0  # empty
        out = rng.uniform(-limit, limit, shape)
    return np.asarray(out).astype(dt)
