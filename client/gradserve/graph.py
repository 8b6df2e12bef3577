"""A graph builder with numpy-like operators, writing the wire format of API.md section 2.

    g = gs.Graph()
    x = g.placeholder([None, 784], name="x")
    w = g.variable(np.zeros((784, 10), np.float32), name="w")
    with g.name_scope("dense"):
        h = gs.relu(x @ w + 0.5)

Names are made unique automatically (``add``, ``add_1``, ``dense/add``); a multi-output
op's tensors are ``name:0``, ``name:1``. Python numbers and numpy arrays mixed into an
expression become constants of the tensor's dtype (numpy arrays of the same kind are cast
to it, as ``tf.convert_to_tensor`` does with a dtype hint).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import tensors


def _binary(op: str) -> tuple[Any, Any]:
    """The operator methods of a binary op: ``t + o`` and ``o + t``."""
    def forward(self: Tensor, other: Any) -> Tensor:
        return self._op(op, other)

    def reflected(self: Tensor, other: Any) -> Tensor:
        return self._op(op, other, reflected=True)
    return forward, reflected


class Tensor:
    """One output of a node. ``name`` is the wire reference (``"h"`` or ``"s:1"``)."""

    __array_ufunc__ = None  # numpy defers to our reflected operators (array + tensor)

    def __init__(self, graph: Graph, node: str, index: int, dtype: str | None,
                 multi: bool = False):
        self.graph = graph
        self.node = node
        self.index = index
        self.dtype = dtype
        self.name = f"{node}:{index}" if multi else node

    def __repr__(self) -> str:
        return f"<gradserve.Tensor {self.name!r} {self.dtype or '?'}>"

    def _lift(self, other: Any) -> Tensor:
        return other if isinstance(other, Tensor) else self.graph.constant(
            other, dtype=self.dtype if _same_kind(other, self.dtype) else None)

    def _op(self, op: str, other: Any, reflected: bool = False) -> Tensor:
        a, b = (self._lift(other), self) if reflected else (self, self._lift(other))
        return self.graph.op(op, a, b)

    __add__, __radd__ = _binary("add")
    __sub__, __rsub__ = _binary("sub")
    __mul__, __rmul__ = _binary("mul")
    __truediv__, __rtruediv__ = _binary("div")
    __matmul__, __rmatmul__ = _binary("matmul")
    __pow__, __rpow__ = _binary("pow")
    __lt__ = _binary("less")[0]
    __le__ = _binary("less_equal")[0]
    __gt__ = _binary("greater")[0]
    __ge__ = _binary("greater_equal")[0]

    def __neg__(self) -> Tensor:
        return self.graph.op("neg", self)

    def __abs__(self) -> Tensor:
        return self.graph.op("abs", self)

    @property
    def T(self) -> Tensor:
        return self.graph.op("transpose", self)


def _same_kind(value: Any, dtype: str | None) -> bool:
    """Whether a lifted value takes the tensor's dtype: Python numbers always, numpy
    arrays when of the same kind (an int index array stays int)."""
    if dtype is None:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return True
    return np.asarray(value).dtype.kind == np.dtype(dtype).kind


_OUT_DTYPE = {"less": "bool", "less_equal": "bool", "greater": "bool",
              "greater_equal": "bool", "equal": "bool", "not_equal": "bool",
              "logical_and": "bool", "logical_or": "bool", "logical_not": "bool",
              "argmax": "int64", "argmin": "int64"}


class Graph:
    """Nodes in the order they were made, plus optional ``inputs`` and ``outputs``."""

    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self._values: dict[str, np.ndarray] = {}  # leaf name -> value, encoded at to_json
        self._taken: set[str] = set()
        self._scopes: list[str] = []
        self.inputs: list[Tensor | str] | None = None
        self.outputs: list[Tensor | str] | None = None
        self.dtypes: dict[str, str] = {}  # node name -> dtype where known

    # -- names ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def name_scope(self, scope: str) -> Iterator[None]:
        """Prefix the names of the nodes made inside with ``scope/`` (nestable)."""
        self._scopes.append(scope.strip("/"))
        try:
            yield
        finally:
            self._scopes.pop()

    def unique_name(self, hint: str) -> str:
        stem = "/".join([*self._scopes, hint])
        name, k = stem, 0
        while name in self._taken:
            k += 1
            name = f"{stem}_{k}"
        self._taken.add(name)
        return name

    def _claim(self, name: str | None, hint: str) -> str:
        if name is None:
            return self.unique_name(hint)
        full = "/".join([*self._scopes, name])
        if full in self._taken:
            raise ValueError(f"a node named {full!r} already exists")
        self._taken.add(full)
        return full

    # -- leaves -----------------------------------------------------------------------------

    def placeholder(self, shape: Sequence[int | None], dtype: str = "float32",
                    name: str | None = None) -> Tensor:
        """A value given with each request; ``None`` marks a dimension known at run time."""
        name = self._claim(name, "placeholder")
        dtype = tensors.dtype_name(dtype)
        self.nodes.append({"name": name, "op": "placeholder", "shape": list(shape),
                           "dtype": dtype})
        return self._leaf(name, dtype)

    def variable(self, value: Any, dtype: str | None = None, name: str | None = None,
                 trainable: bool = True) -> Tensor:
        """A stored value (a request may feed it); its dtype is the array's unless given."""
        return self._valued("variable", value, dtype, name, {"trainable": trainable})

    def constant(self, value: Any, dtype: str | None = None, name: str | None = None
                 ) -> Tensor:
        return self._valued("constant", value, dtype, name, {})

    def _valued(self, op: str, value: Any, dtype: str | None, name: str | None,
                extra: dict[str, Any]) -> Tensor:
        arr = tensors.as_array(value, tensors.dtype_name(dtype) if dtype else None)
        name = self._claim(name, "Const" if op == "constant" else op)
        self.nodes.append({"name": name, "op": op, "dtype": arr.dtype.name, **extra})
        self._values[name] = arr
        return self._leaf(name, arr.dtype.name)

    def _leaf(self, name: str, dtype: str) -> Tensor:
        self.dtypes[name] = dtype
        return Tensor(self, name, 0, dtype)

    # -- ops --------------------------------------------------------------------------------

    def op(self, op: str, /, *inputs: Any, num_outputs: int = 1, name: str | None = None,
           **attrs: Any) -> Any:
        """A node of any op of the catalogue (``GET /ops``); non-tensor inputs become
        constants. Several outputs give a tuple of tensors."""
        first = next((t for t in inputs if isinstance(t, Tensor)), None)
        ins = [t if isinstance(t, Tensor) else (first._lift(t) if first else self.constant(t))
               for t in inputs]
        for t in ins:
            if t.graph is not self:
                raise ValueError(f"{t.name!r} belongs to another graph")
        node_name = self._claim(name, op)
        node: dict[str, Any] = {"name": node_name, "op": op, "inputs": [t.name for t in ins]}
        attrs = {k: v for k, v in attrs.items() if v is not None}
        if attrs:
            node["attrs"] = attrs
        self.nodes.append(node)
        dtype = attrs.get("dtype") if op == "cast" else _OUT_DTYPE.get(
            op, ins[0].dtype if ins else None)
        if dtype is not None:
            self.dtypes[node_name] = dtype
        if num_outputs == 1:
            return Tensor(self, node_name, 0, dtype)
        return tuple(Tensor(self, node_name, k, dtype, multi=True) for k in range(num_outputs))

    # -- the wire form ----------------------------------------------------------------------

    def to_json(self, inputs: Sequence[Tensor | str] | None = None,
                outputs: Sequence[Tensor | str] | Tensor | str | None = None,
                threshold: int = tensors.BASE64_THRESHOLD) -> dict[str, Any]:
        """The graph as API.md section 2 writes it (leaf values nested or base64)."""
        nodes = []
        for node in self.nodes:
            value = self._values.get(node["name"])
            if value is not None:
                node = {**node, "value": tensors.encode(value, threshold=threshold)}
            nodes.append(node)
        doc: dict[str, Any] = {"nodes": nodes}
        ins = inputs if inputs is not None else self.inputs
        outs = outputs if outputs is not None else self.outputs
        if ins is not None:
            doc["inputs"] = names(ins)
        if outs is not None:
            doc["outputs"] = names(outs)
        return doc

    def dtype_of(self, name: str) -> str | None:
        return self.dtypes.get(name.split(":")[0])


def name_of(t: Tensor | str) -> str:
    return t.name if isinstance(t, Tensor) else t


def names(ts: Sequence[Tensor | str] | Tensor | str) -> list[str]:
    if isinstance(ts, Tensor | str):
        return [name_of(ts)]
    return [name_of(t) for t in ts]


def graph_of(*groups: Any) -> Graph | None:
    """The builder graph the first Tensor found in ``groups`` (nested lists too) is of."""
    stack = list(groups)
    while stack:
        item = stack.pop(0)
        if isinstance(item, Tensor):
            return item.graph
        if isinstance(item, list | tuple):
            stack[:0] = list(item)
        elif isinstance(item, dict):
            stack[:0] = list(item.keys())
    return None
