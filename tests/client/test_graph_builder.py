"""The graph builder writes API.md section 2 JSON; shapes of names and values are checked
here, numbers against the real server in test_client.py."""
from __future__ import annotations

import gradserve as gs
import numpy as np
import pytest


def test_unique_names_scopes_and_multi_outputs() -> None:
    g = gs.Graph()
    x = g.placeholder([None, 4], name="x")
    with g.name_scope("layer"):
        a = gs.relu(x)
        b = gs.relu(x)
        with g.name_scope("inner"):
            c = gs.tanh(a, name="act")
    parts = gs.split(c, 2, axis=1)
    assert (a.name, b.name, c.name) == ("layer/relu", "layer/relu_1", "layer/inner/act")
    assert [p.name for p in parts] == ["split:0", "split:1"]
    spec = g.to_json(outputs=[parts[1]])
    assert spec["outputs"] == ["split:1"]
    node = spec["nodes"][-1]
    assert node == {"name": "split", "op": "split", "inputs": ["layer/inner/act"],
                    "attrs": {"num_or_size_splits": 2, "axis": 1}}
    with pytest.raises(ValueError, match="already exists"):
        g.placeholder([1], name="x")


def test_numbers_and_arrays_become_constants_of_the_tensor_dtype() -> None:
    g = gs.Graph()
    x = g.placeholder([3], dtype="float64", name="x")
    y = np.ones(3) * 2.0 + x * 3 - 1
    nodes = {n["name"]: n for n in g.to_json()["nodes"]}
    consts = [n for n in nodes.values() if n["op"] == "constant"]
    assert {n["dtype"] for n in consts} == {"float64"}
    assert sorted(str(n["value"]) for n in consts) == ["1.0", "3.0", "[2.0, 2.0, 2.0]"]
    assert nodes[y.name]["op"] == "sub" and y.dtype == "float64"
    assert (x > 0).dtype == "bool" and (2.0 / x).name == "div"
    assert g.to_json()["nodes"][-1]["inputs"][1] == "x"  # reflected: the constant first
    idx = gs.gather(x, np.array([0, 2]))
    assert nodes.get(idx.name) is None  # made after the snapshot above
    const = g.to_json()["nodes"][-2]
    assert g.to_json()["nodes"][-1]["inputs"] == ["x", const["name"]]
    assert const["op"] == "constant" and const["dtype"] == "int64"


def test_large_values_are_written_as_base64() -> None:
    g = gs.Graph()
    g.variable(np.zeros((32, 32), np.float32), name="w")
    g.constant([1.0, 2.0], name="c")
    w, c = g.to_json(threshold=100)["nodes"]
    assert set(w["value"]) == {"dtype", "shape", "b64"} and c["value"] == [1.0, 2.0]


def test_operators_on_tensors_of_another_graph_are_refused() -> None:
    a = gs.Graph().placeholder([2])
    b = gs.Graph().placeholder([2])
    with pytest.raises(ValueError, match="another graph"):
        _ = a + b
