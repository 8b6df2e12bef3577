"""The tensor codec on its own: three forms both ways, non-finite words, limits, paths."""
from __future__ import annotations

import base64
import json

import numpy as np
import orjson
import pytest

from service import codec
from service.codec import TensorError


def dumps(value: object) -> object:
    return json.loads(orjson.dumps(value))


def test_nested_keeps_the_declared_dtype() -> None:
    arr = codec.decode([[1, 2], [3, 4]], "float64", 100)
    assert arr.dtype == np.float64 and arr.shape == (2, 2)
    assert codec.decode(2.5, "float32", 1).shape == ()
    assert codec.decode([1, 2], "int32", 10).dtype == np.int32


def test_nonfinite_strings_both_ways() -> None:
    arr = codec.decode(["NaN", "Infinity", "-Infinity", 1.5], "float32", 10)
    assert np.isnan(arr[0]) and arr[1] == np.inf and arr[2] == -np.inf and arr[3] == 1.5
    assert dumps(codec.encode(arr)) == ["NaN", "Infinity", "-Infinity", 1.5]
    assert dumps(codec.encode(np.array(np.nan))) == "NaN"
    typed = dumps(codec.encode(np.array([[np.inf, 0.0]]), "typed"))
    assert typed == {"dtype": "float64", "shape": [1, 2], "data": ["Infinity", 0.0]}


def test_float32_prints_shortest() -> None:
    arr = np.array([1.41, 1.6, 6.6], np.float32) * np.float32(1.0000001)
    text = orjson.dumps(codec.encode(arr))
    assert text == b"[1.4100001,1.6000003,6.600001]"
    assert orjson.dumps(codec.encode(np.float32(0.1) * np.ones((), np.float32))) == b"0.1"
    # float64 keeps every digit it needs
    assert orjson.dumps(codec.encode(np.array([0.1 + 0.2]))) == b"[0.30000000000000004]"


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "int32", "int64", "bool"])
def test_base64_round_trip(dtype: str) -> None:
    rng = np.random.default_rng(0)
    arr = (rng.normal(size=(3, 4)) * 10).astype(dtype)
    wire = codec.encode(arr, "base64")
    raw = base64.b64decode(wire["b64"])
    assert raw == arr.astype(arr.dtype.newbyteorder("<")).tobytes()
    back = codec.decode(wire, "float32", 100)
    assert back.dtype == arr.dtype and np.array_equal(back, arr)


def test_typed_round_trip_with_oip_alias() -> None:
    arr = codec.decode({"dtype": "FP64", "shape": [2, 2], "data": [1, 2, 3, "NaN"]},
                       "float32", 10)
    assert arr.dtype == np.float64 and arr.shape == (2, 2) and np.isnan(arr[1, 1])
    wire = dumps(codec.encode(arr, "typed"))
    assert wire["shape"] == [2, 2] and wire["data"][:3] == [1.0, 2.0, 3.0]
    assert np.array_equal(codec.decode(wire, "float32", 10), arr, equal_nan=True)


def test_big_endian_input_is_encoded_little_endian() -> None:
    arr = np.arange(3, dtype=">f4")
    assert base64.b64decode(codec.encode(arr, "base64")["b64"]) == np.arange(
        3, dtype="<f4").tobytes()


@pytest.mark.parametrize(("value", "loc"), [
    ([[1, 2, 3], [4, 5]], (1,)),
    ([[1, 2], [3, [4]]], (1, 1)),
    ([[1, 2], [3, None]], (1, 1)),
    ([1, "nan"], (1,)),
    ({"dtype": "float32", "shape": [2, 2], "data": [1, 2, 3]}, ("data",)),
    ({"dtype": "float32", "shape": [2], "data": [1, "x"]}, ("data", 1)),
    ({"dtype": "float32", "shape": [2], "b64": "AAAAAA=="}, ("b64",)),
    ({"dtype": "float32", "shape": [1], "b64": "!!!!"}, ("b64",)),
    ({"dtype": "complex64", "shape": [1], "data": [1]}, ("dtype",)),
    ({"dtype": "float32", "shape": [1], "data": [1], "extra": 1}, ("extra",)),
])
def test_refusals_name_the_path(value: object, loc: tuple) -> None:
    with pytest.raises(TensorError) as info:
        codec.decode(value, "float32", 100)
    assert info.value.loc == loc and info.value.status == 422


def test_ints_refuse_fractions_and_words() -> None:
    with pytest.raises(TensorError):
        codec.decode([1.5], "int32", 10)
    with pytest.raises(TensorError):
        codec.decode(["NaN"], "int32", 10)
    with pytest.raises(TensorError):
        codec.decode([2**40], "int32", 10)
    assert codec.decode([2.0], "int32", 10).tolist() == [2]


def test_hundred_levels_of_nesting_is_refused_cleanly() -> None:
    value: object = 1.0
    for _ in range(100):
        value = [value]
    with pytest.raises(TensorError) as info:
        codec.decode(value, "float32", 10)
    assert info.value.status == 422 and "levels" in info.value.message


def test_element_limit_is_checked_from_the_shape_first() -> None:
    # 10^12 elements declared: refused from the shape alone, nothing is allocated or decoded
    with pytest.raises(TensorError) as info:
        codec.decode({"dtype": "float64", "shape": [10**6, 10**6], "b64": ""}, "float32", 10**6)
    assert info.value.status == 413 and info.value.loc == ("shape",)
    with pytest.raises(TensorError) as info:
        codec.decode([[0.0] * 5] * 5, "float32", 24)
    assert info.value.status == 413
