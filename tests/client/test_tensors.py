"""The client's tensor codec: the wire's three forms, non-finite words, base64 choice."""
from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from gradserve import tensors


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int64", "bool"])
def test_base64_round_trip_is_exact(dtype: str) -> None:
    arr = (np.arange(24).reshape(2, 3, 4) % 3 - 1).astype(dtype)
    wire = tensors.encode(arr, threshold=1)
    assert set(wire) == {"dtype", "shape", "b64"} and wire["dtype"] == dtype
    assert base64.b64decode(wire["b64"]) == arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    back = tensors.decode(json.loads(json.dumps(wire)))
    assert back.dtype == arr.dtype and np.array_equal(back, arr)


def test_small_arrays_go_nested_large_ones_base64() -> None:
    assert tensors.encode(np.ones((2, 2), np.float32), threshold=5) == [[1.0, 1.0], [1.0, 1.0]]
    assert "b64" in tensors.encode(np.ones((2, 3), np.float32), threshold=5)


def test_non_finite_numbers_travel_as_words() -> None:
    arr = np.array([1.5, np.nan, np.inf, -np.inf], np.float32)
    wire = tensors.encode(arr)
    assert wire == [1.5, "NaN", "Infinity", "-Infinity"]
    json.dumps(wire, allow_nan=False)  # strict JSON
    for form in (wire, {"dtype": "float32", "shape": [4], "data": wire}):
        back = tensors.decode(form)
        assert back.dtype == np.float32
        assert np.array_equal(back, arr, equal_nan=True)


def test_typed_form_and_oip_aliases() -> None:
    got = tensors.decode({"dtype": "FP64", "shape": [2, 2], "data": [1, 2, 3, 4]})
    assert got.dtype == np.float64 and got.tolist() == [[1, 2], [3, 4]]
    assert tensors.decode({"dtype": "INT32", "shape": [], "data": [7]}).shape == ()


def test_nested_defaults_and_hints() -> None:
    assert tensors.decode([[1.5, 2]]).dtype == np.float32
    assert tensors.decode(3.0, "float64").dtype == np.float64
    assert tensors.decode([1, 2]).dtype.kind == "i"
    # a hint (the fed node's dtype) casts where numpy's same_kind allows, never floats
    # to ints (the server refuses those with a located error rather than truncating)
    assert tensors.as_array(np.ones(2), "float32").dtype == np.float32
    assert tensors.as_array(np.ones(2, np.int64), "float32").dtype == np.float32
    assert tensors.as_array(np.full(2, 1.5), "int32").dtype == np.float64
    assert tensors.as_array([1.0, 2.0]).dtype == np.float32


def test_decode_tree_keeps_lists_of_tensors_apart_from_tensors() -> None:
    one = tensors.encode(np.ones(3, np.float32), threshold=1)
    tree = tensors.decode_tree({"gradients": [[one, None], [one]], "n": 3})
    (a, none), (b,) = tree["gradients"]
    assert none is None and tree["n"] == 3
    assert a.shape == b.shape == (3,)
