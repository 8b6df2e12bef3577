"""The dtypes the engine speaks, their aliases, and the classes ops check against."""
from __future__ import annotations

import numpy as np

DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    "float16": np.dtype(np.float16),
    "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64),
    "bool": np.dtype(np.bool_),
}
DEFAULT_DTYPE = "float32"

# Open Inference Protocol names and a few common spellings clients send.
_ALIASES = {
    "fp32": "float32", "fp64": "float64", "fp16": "float16",
    "float": "float32", "double": "float64", "half": "float16",
    "int": "int32", "long": "int64", "boolean": "bool",
}

FLOATING = frozenset({"float16", "float32", "float64"})
INTEGER = frozenset({"int32", "int64"})
NUMERIC = FLOATING | INTEGER
BOOL = frozenset({"bool"})
ANY = NUMERIC | BOOL


def canonical_dtype(name: object) -> str:
    """Map a dtype spelling (``FP32``, ``float32``, a numpy dtype) to its canonical name."""
    if isinstance(name, np.dtype):
        name = name.name
    if not isinstance(name, str):
        raise ValueError(f"dtype must be a string, got {name!r}")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; expected one of {', '.join(DTYPES)}")
    return key


def np_dtype(name: str) -> np.dtype:
    return DTYPES[name]


def is_floating(name: str) -> bool:
    return name in FLOATING
