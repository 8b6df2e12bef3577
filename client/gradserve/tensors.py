"""numpy arrays to and from the wire's three tensor forms (API.md section 1).

Requests: a small array goes as nested lists (the server gives it the dtype of the node it
feeds), a large one as little-endian base64 with its dtype; non-finite numbers travel as the
strings "NaN", "Infinity", "-Infinity". Answers: nested, typed and base64 are all decoded.
"""
from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

DEFAULT_DTYPE = "float32"
BASE64_THRESHOLD = 256  # elements from which a tensor is sent as base64
_ALIASES = {"FP32": "float32", "FP64": "float64", "FP16": "float16", "INT32": "int32",
            "INT64": "int64", "BOOL": "bool"}
_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def dtype_name(dtype: Any) -> str:
    """A dtype as the wire spells it (OIP aliases and numpy dtypes accepted)."""
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    return np.dtype(dtype).name


def as_array(value: Any, dtype: str | None = None) -> np.ndarray:
    """An array of ``dtype`` if given; Python floats become float32, the wire's default."""
    if isinstance(value, np.ndarray | np.generic):
        arr = np.asarray(value)
        if dtype is not None and arr.dtype.name != dtype and np.can_cast(
                arr.dtype, dtype, "same_kind"):
            arr = arr.astype(dtype)
        return arr
    arr = np.asarray(value)
    if dtype is not None:
        return arr.astype(dtype)
    return arr.astype(DEFAULT_DTYPE) if arr.dtype.kind == "f" else arr


def encode(value: Any, dtype: str | None = None, threshold: int = BASE64_THRESHOLD) -> Any:
    """A JSON-ready tensor: a wire dict passes through; arrays of ``threshold`` elements or
    more go as base64, smaller ones as nested lists."""
    if isinstance(value, dict):
        return value
    try:
        arr = as_array(value, dtype)
    except (ValueError, TypeError):
        return value  # not an array (ragged, say): the server names where, with its path
    if arr.size >= threshold:
        little = np.ascontiguousarray(arr, arr.dtype.newbyteorder("<"))
        return {"dtype": arr.dtype.name, "shape": list(arr.shape),
                "b64": base64.b64encode(little.tobytes()).decode("ascii")}
    return _nested(arr)


def encode_typed(arr: np.ndarray) -> dict[str, Any]:
    """The typed form (flat ``data``), for readable traffic."""
    return {"dtype": arr.dtype.name, "shape": list(arr.shape),
            "data": _nested(arr.reshape(-1))}


def _nested(arr: np.ndarray) -> Any:
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        obj = arr.astype(object)
        bad = ~np.isfinite(arr)
        obj[bad] = [_word(v) for v in arr[bad].tolist()]
        return obj.tolist()
    return arr.tolist()


def _word(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    return "Infinity" if v > 0 else "-Infinity"


def decode(value: Any, dtype: str | None = None) -> np.ndarray:
    """Any of the three forms as an array; ``dtype`` is for the nested form (default
    float32 for numbers with a fraction, as the server reads them)."""
    if isinstance(value, dict):
        dt = np.dtype(dtype_name(value.get("dtype", dtype or DEFAULT_DTYPE)))
        shape = tuple(value["shape"])
        if "b64" in value:
            raw = base64.b64decode(value["b64"])
            return np.frombuffer(raw, dt.newbyteorder("<")).astype(dt).reshape(shape)
        return _numbers(value["data"], dt).reshape(shape)
    return _numbers(value, np.dtype(dtype) if dtype else None)


def _numbers(value: Any, dt: np.dtype | None) -> np.ndarray:
    arr = np.asarray(value, dtype=object)
    if arr.dtype == object and arr.size and any(isinstance(v, str) for v in arr.flat):
        arr = np.vectorize(lambda v: _WORDS[v] if isinstance(v, str) else v,
                           otypes=[float])(arr)
    else:
        arr = np.asarray(value)
    if dt is None:
        dt = np.dtype(DEFAULT_DTYPE) if arr.dtype.kind == "f" else arr.dtype
    return arr.astype(dt)


def is_wire_tensor(value: Any) -> bool:
    return isinstance(value, dict) and "dtype" in value and "shape" in value and (
        "b64" in value or "data" in value)


def decode_tree(value: Any) -> Any:
    """An answer whose tensors are typed or base64 (the client asks for those forms, which
    cannot be mistaken for lists of tensors): tensors become arrays, lists stay lists."""
    if is_wire_tensor(value):
        return decode(value)
    if isinstance(value, dict):
        return {k: decode_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_tree(v) for v in value]
    return value
