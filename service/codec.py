"""Tensors in and out of JSON: nested lists, typed ``data``, little-endian ``b64``.

Decoding turns a wire tensor into one numpy array in one step, after checking its element
count against the limit (from the probed nesting or the declared ``shape``, so nothing big
is allocated for a request that will be refused). Valid input takes numpy's fast path;
only a refused tensor is walked in Python, to name the exact JSON path of the fault.

Encoding prints numbers with orjson, which writes float32 in its shortest round-tripping
form (``1.4100001``) and float64 in Python's; non-finite values, which orjson writes as
``null``, are put back as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
"""
from __future__ import annotations

import binascii
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pybase64  # SIMD base64: the wire's fast path should not wait on the stdlib's

from engine.dtypes import canonical_dtype, np_dtype

from .problems import ProblemError

Loc = tuple[str | int, ...]
MAX_RANK = 32  # numpy's own limit is 64; no op of the catalogue needs more than a handful
NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
ENCODINGS = ("nested", "typed", "base64")
_NUMPY = orjson.OPT_SERIALIZE_NUMPY


class TensorError(ValueError):
    """A tensor was refused. ``loc`` is relative to the tensor; ``status`` 422 or 413."""

    def __init__(self, message: str, loc: Loc = (), status: int = 422):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.status = status


# -- decoding -------------------------------------------------------------------------------

def decode(value: Any, dtype: str, max_elements: int) -> np.ndarray:
    """A wire tensor as an array; ``dtype`` applies to the nested form (typed forms name
    their own)."""
    if isinstance(value, dict):
        if "b64" in value:
            return _decode_base64(value, max_elements)
        return _decode_typed(value, dtype, max_elements)
    return _decode_nested(value, np_dtype(dtype), max_elements)


def _decode_nested(value: Any, dtype: np.dtype, max_elements: int, loc: Loc = ()) -> np.ndarray:
    dims = _probe_shape(value, loc)
    _check_elements(dims, max_elements, loc)
    if isinstance(value, str):
        return _cast(np.asarray(_nonfinite(value, dtype, loc)), dtype, loc)
    if isinstance(value, list) or _is_number(value):
        try:
            arr = np.array(value)
        except (ValueError, OverflowError):
            arr = None
        if arr is not None and arr.dtype.kind in "biuf" and arr.shape == dims:
            return _cast(arr, dtype, loc)
    return _decode_slowly(value, dims, dtype, loc)


def _probe_shape(value: Any, loc: Loc) -> tuple[int, ...]:
    """The shape the first elements imply; rectangularity is checked when it is built."""
    dims: list[int] = []
    while isinstance(value, list):
        dims.append(len(value))
        if len(dims) > MAX_RANK:
            raise TensorError(f"nested more than {MAX_RANK} levels deep (tensors have at most "
                              f"rank {MAX_RANK})", loc)
        if not value:
            break
        value = value[0]
    return tuple(dims)


def _check_elements(dims: Sequence[int], max_elements: int, loc: Loc) -> None:
    n = math.prod(dims)
    if n > max_elements:
        raise TensorError(f"tensor of shape {list(dims)} has {n} elements; the limit is "
                          f"{max_elements} per tensor (raise it with GRADSERVE_MAX_ELEMENTS or "
                          f"--max-elements)", loc, status=413)


def _decode_slowly(value: Any, dims: tuple[int, ...], dtype: np.dtype, loc: Loc) -> np.ndarray:
    """Walk a tensor numpy refused, to name where it is ragged or holds a non-number."""
    flat: list[Any] = []
    stack: list[tuple[Any, Loc, int]] = [(value, loc, 0)]
    while stack:
        v, where, depth = stack.pop()
        if depth < len(dims):
            if not isinstance(v, list):
                raise TensorError(f"ragged tensor: expected a list of {dims[depth]} here, "
                                  f"got {_kind(v)}", where)
            if len(v) != dims[depth]:
                raise TensorError(f"ragged tensor: expected {dims[depth]} elements here, got "
                                  f"{len(v)}", where)
            stack.extend((v[i], (*where, i), depth + 1) for i in range(len(v) - 1, -1, -1))
        elif isinstance(v, list):
            raise TensorError("ragged tensor: a list where a number was expected", where)
        elif isinstance(v, str):
            flat.append(_nonfinite(v, dtype, where))
        elif _is_number(v):
            flat.append(v)
        else:
            raise TensorError(f"expected a number, got {_kind(v)}", where)
    try:
        arr = np.array(flat).reshape(dims)
    except (ValueError, OverflowError) as exc:
        raise TensorError(f"not an array of numbers: {exc}", loc) from None
    return _cast(arr, dtype, loc)


def _nonfinite(text: str, dtype: np.dtype, loc: Loc) -> float:
    if text not in NONFINITE:
        raise TensorError(f"expected a number or one of \"NaN\", \"Infinity\", "
                          f"\"-Infinity\", got the string {text[:40]!r}", loc)
    if dtype.kind != "f":
        raise TensorError(f"{text!r} is not a value of a {dtype.name} tensor", loc)
    return NONFINITE[text]


def _cast(arr: np.ndarray, dtype: np.dtype, loc: Loc) -> np.ndarray:
    """Numbers to the target dtype, refusing what would change them (1.5 as an int)."""
    if arr.dtype == dtype:
        return arr
    if dtype.kind in "iu":
        if arr.dtype.kind == "f" and not (np.all(np.isfinite(arr))
                                          and np.all(arr == np.round(arr))):
            raise TensorError(f"a {dtype.name} tensor holds only whole numbers", loc)
        info = np.iinfo(dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise TensorError(f"a value is out of the range of {dtype.name}", loc)
    elif dtype.kind == "b" and arr.dtype.kind != "b":
        raise TensorError("a bool tensor holds only true and false", loc)
    return arr.astype(dtype)


def _decode_typed(value: dict[str, Any], default_dtype: str, max_elements: int) -> np.ndarray:
    _only_keys(value, ("dtype", "shape", "data"))
    dtype = _dtype_of(value, default_dtype)
    shape = _shape_of(value, max_elements)
    data = value.get("data")
    if not isinstance(data, list):
        raise TensorError("'data' must be a flat list of numbers", ("data",))
    n = math.prod(shape)
    if len(data) != n:
        raise TensorError(f"'data' has {len(data)} elements but shape {list(shape)} needs {n}",
                          ("data",))
    flat = _decode_nested(data, dtype, max_elements, ("data",))
    if flat.ndim != 1:
        raise TensorError("'data' must be flat (row-major); the shape goes in 'shape'",
                          ("data",))
    return flat.reshape(shape)


def _decode_base64(value: dict[str, Any], max_elements: int) -> np.ndarray:
    _only_keys(value, ("dtype", "shape", "b64"))
    if "dtype" not in value:
        raise TensorError("a base64 tensor needs its 'dtype'", ("dtype",))
    dtype = _dtype_of(value, "float32")
    shape = _shape_of(value, max_elements)
    text = value["b64"]
    if not isinstance(text, str):
        raise TensorError("'b64' must be a base64 string", ("b64",))
    want = math.prod(shape) * dtype.itemsize
    if len(text) > 4 * (want // 3 + 1) + 4:  # refuse before decoding an oversized string
        raise TensorError(f"'b64' holds more than the {want} bytes shape {list(shape)} of "
                          f"{dtype.name} needs", ("b64",))
    try:
        raw = pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise TensorError("'b64' is not valid base64", ("b64",)) from None
    if len(raw) != want:
        raise TensorError(f"'b64' holds {len(raw)} bytes; shape {list(shape)} of {dtype.name} "
                          f"needs {want}", ("b64",))
    arr = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype)
    return arr.reshape(shape)


def _only_keys(value: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in value:
        if key not in allowed:
            raise TensorError(f"unknown field {key!r} of a tensor (expected "
                              f"{', '.join(allowed)})", (key,))


def _dtype_of(value: dict[str, Any], default: str) -> np.dtype:
    try:
        return np_dtype(canonical_dtype(value.get("dtype", default)))
    except ValueError as exc:
        raise TensorError(str(exc), ("dtype",)) from None


def _shape_of(value: dict[str, Any], max_elements: int) -> tuple[int, ...]:
    shape = value.get("shape")
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise TensorError("'shape' must be a list of non-negative ints", ("shape",))
    if len(shape) > MAX_RANK:
        raise TensorError(f"rank {len(shape)} is over the limit of {MAX_RANK}", ("shape",))
    _check_elements(shape, max_elements, ("shape",))
    return tuple(shape)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float))  # bool is an int: true/false feed bool tensors


def _kind(v: Any) -> str:
    return "null" if v is None else type(v).__name__.replace("dict", "object")


# -- encoding -------------------------------------------------------------------------------

def encode(arr: np.ndarray, encoding: str = "nested", raw: bool = False) -> Any:
    """A JSON-ready value (orjson Fragments inside) for one array, in the asked form;
    with ``raw`` its base64 is ``bytes``, for ``splice.dumps`` (the worker's answers)."""
    arr = arr if arr.flags.c_contiguous else arr.copy()  # (ascontiguousarray makes 0-d 1-d)
    if encoding == "nested":
        return orjson.Fragment(numbers_json(arr))
    head = {"dtype": arr.dtype.name, "shape": list(arr.shape)}
    if encoding == "typed":
        return {**head, "data": orjson.Fragment(numbers_json(arr.reshape(-1)))}
    little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    b64 = pybase64.b64encode if raw else pybase64.b64encode_as_string
    return {**head, "b64": b64(little)}  # from the array's buffer: no copy of it first


def numbers_json(arr: np.ndarray) -> bytes:
    """The array as JSON numbers, non-finite values as the protobuf-JSON strings."""
    if arr.ndim == 0:
        scalar = arr[()]
        if arr.dtype.kind == "f" and not np.isfinite(scalar):
            return _word(float(scalar))
        return orjson.dumps(scalar, option=_NUMPY)
    text = orjson.dumps(arr, option=_NUMPY)
    if arr.dtype.kind != "f" or b"null" not in text:  # numbers alone never spell null
        return text
    # orjson wrote each non-finite value as null, in row-major order: put the words back.
    bad = ~np.isfinite(arr)
    words = [_word(v) for v in arr[bad].tolist()]
    parts = text.split(b"null")
    out = bytearray(parts[0])
    for word, part in zip(words, parts[1:], strict=True):
        out += word
        out += part
    return bytes(out)


def _word(v: float) -> bytes:
    if math.isnan(v):
        return b'"NaN"'
    return b'"Infinity"' if v > 0 else b'"-Infinity"'


def decode_at(value: Any, dtype: str, max_elements: int, loc: Sequence[str | int]) -> np.ndarray:
    """``decode`` with its faults as problems placed at ``loc`` in the request."""
    try:
        return decode(value, dtype, max_elements)
    except TensorError as exc:
        problem_type = "too-large" if exc.status == 413 else "invalid-request"
        path = [*loc, *exc.loc]
        raise ProblemError(problem_type, f"{'.'.join(map(str, path))}: {exc.message}",
                           [(path, exc.message)]) from None
