"""Symbolic handles: build graph nodes with ordinary arithmetic.

VJP rules are written with these handles (``c.g * c.out``), so a rule reads like the math
and emits nodes into the graph being differentiated. The same builder is the library's
way to write a graph in Python:

    b = GraphBuilder()
    x = b.placeholder("x", [2, 3])
    y = fn.tanh(x) * 2.0          # from engine import fn: every op as a function
    graph = b.finish(outputs=[y])
"""
from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from .dtypes import DEFAULT_DTYPE, canonical_dtype, np_dtype
from .graph import Graph, Node, Ref, format_ref, make_node
from .ops import registry
from .ops.registry import TensorSpec
from .shapes import Shape, normalize_shape

_SPEC = operator.attrgetter("spec")
_REF = operator.attrgetter("ref")
_NO_ATTRS: Mapping[str, Any] = MappingProxyType({})


class Tensor:
    """A handle on one output of a node in a ``GraphBuilder``."""

    __slots__ = ("builder", "ref", "spec")

    def __init__(self, builder: GraphBuilder, ref: Ref, spec: TensorSpec):
        self.builder = builder
        self.ref = ref
        self.spec = spec

    @property
    def name(self) -> str:
        return format_ref(self.ref)

    @property
    def shape(self) -> Shape:
        return self.spec.shape

    @property
    def dtype(self) -> str:
        return self.spec.dtype

    @property
    def ndim(self) -> int:
        return len(self.spec.shape)

    def scalar(self, value: Any) -> Tensor:
        """A shared scalar constant of this tensor's dtype (broadcasts in any op)."""
        return self.builder.constant(value, self.dtype)

    def _lift(self, other: Any) -> Tensor:
        if isinstance(other, Tensor):
            return other
        return self.builder.constant(other, self.dtype)

    def __add__(self, o: Any) -> Tensor:
        return self.builder.emit("add", [self, self._lift(o)])

    def __radd__(self, o: Any) -> Tensor:
        return self.builder.emit("add", [self._lift(o), self])

    def __sub__(self, o: Any) -> Tensor:
        return self.builder.emit("sub", [self, self._lift(o)])

    def __rsub__(self, o: Any) -> Tensor:
        return self.builder.emit("sub", [self._lift(o), self])

    def __mul__(self, o: Any) -> Tensor:
        return self.builder.emit("mul", [self, self._lift(o)])

    def __rmul__(self, o: Any) -> Tensor:
        return self.builder.emit("mul", [self._lift(o), self])

    def __truediv__(self, o: Any) -> Tensor:
        return self.builder.emit("div", [self, self._lift(o)])

    def __rtruediv__(self, o: Any) -> Tensor:
        return self.builder.emit("div", [self._lift(o), self])

    def __pow__(self, o: Any) -> Tensor:
        return self.builder.emit("pow", [self, self._lift(o)])

    def __rpow__(self, o: Any) -> Tensor:
        return self.builder.emit("pow", [self._lift(o), self])

    def __neg__(self) -> Tensor:
        return self.builder.emit("neg", [self])

    def __matmul__(self, o: Tensor) -> Tensor:
        return self.builder.emit("matmul", [self, o])

    def __repr__(self) -> str:
        return f"Tensor({self.name!r}, {self.spec})"


class GraphBuilder:
    """Appends inferred nodes to an (optional) base graph; ``finish`` gives a new Graph."""

    def __init__(self, base: Graph | None = None, prefix: str = ""):
        self.base = base
        self.prefix = prefix.rstrip("/")
        self.nodes: list[Node] = []
        # every node by name, the base's too (a copy of its index, ~1 ms for 100,000
        # nodes): the finished graph's index, not made again from the new nodes
        self._by_name: dict[str, Node] = dict(base.by_name) if base is not None else {}
        # names claimed here, not yet in _by_name until their node is added (fresh ones,
        # counted, never repeat)
        self._taken: set[str] = set()
        self._stems: dict[str, str] = {}
        self._counter = itertools.count()
        self._constants: dict[tuple[str, bytes, tuple[int, ...]], Tensor] = {}

    # -- names and lookups -----------------------------------------------------------------

    def _fresh(self, hint: str) -> str:
        stem = self._stems.get(hint)
        if stem is None:
            stem = self._stems[hint] = f"{self.prefix}/{hint}_" if self.prefix else f"{hint}_"
        while True:
            name = f"{stem}{next(self._counter)}"
            if name not in self._taken and name not in self._by_name:
                return name

    def unused(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``, ... when a node has it already (a returned
        gradient graph posted back holds the nodes an earlier differentiation named)."""
        candidate, k = name, 0
        while candidate in self._taken or candidate in self._by_name:
            k += 1
            candidate = f"{name}_{k}"
        return candidate

    def _claim(self, name: str) -> str:
        if name in self._taken or name in self._by_name:
            raise ValueError(f"a node named {name!r} exists already")
        self._taken.add(name)
        return name

    def _node(self, name: str) -> Node:
        return self._by_name[name]  # (the base's nodes too)

    def tensor(self, ref: Ref | str) -> Tensor:
        """A handle on an existing output (of the base graph or of this builder)."""
        if isinstance(ref, str):
            from .graph import parse_ref

            ref = (ref, 0) if ref in self._by_name else parse_ref(ref)
        return Tensor(self, ref, self._node(ref[0]).outputs[ref[1]])

    # -- leaves ------------------------------------------------------------------------------

    def _add(self, node: Node) -> None:
        self.nodes.append(node)
        self._by_name[node.name] = node

    def placeholder(self, name: str, shape: Sequence[int | None],
                    dtype: str = DEFAULT_DTYPE) -> Tensor:
        spec = TensorSpec(normalize_shape(list(shape)), canonical_dtype(dtype))
        node = Node(self._claim(name), "placeholder", (), {}, (spec,))
        self._add(node)
        return Tensor(self, (node.name, 0), spec)

    def variable(self, name: str, value: Any, dtype: str | None = None,
                 trainable: bool = True) -> Tensor:
        arr = _as_array(value, dtype)
        node = Node(self._claim(name), "variable", (), {},
                    (TensorSpec(arr.shape, arr.dtype.name),), value=arr, trainable=trainable)
        self._add(node)
        return Tensor(self, (node.name, 0), node.outputs[0])

    def constant(self, value: Any, dtype: str | None = None, name: str | None = None) -> Tensor:
        """A constant node; small equal constants are shared rather than repeated."""
        arr = _as_array(value, dtype)
        key = (arr.dtype.str, arr.tobytes(), arr.shape) if arr.size <= 16 else None
        if key is not None and name is None and key in self._constants:
            return self._constants[key]
        node = Node(self._claim(name) if name else self._fresh("const"), "constant", (), {},
                    (TensorSpec(arr.shape, arr.dtype.name),), value=arr)
        self._add(node)
        t = Tensor(self, (node.name, 0), node.outputs[0])
        if key is not None and name is None:
            self._constants[key] = t
        return t

    # -- computing nodes ---------------------------------------------------------------------

    def emit(self, op: str, inputs: Sequence[Tensor], attrs: Mapping[str, Any] | None = None,
             name: str | None = None) -> Any:
        """Add one computing node; returns a Tensor, or a tuple for a multi-output op."""
        opdef = registry.get(op)
        n = len(inputs)  # one or two inputs spelled out: a quarter of tuple(map(...))'s time
        if n == 1:
            specs, refs = (inputs[0].spec,), (inputs[0].ref,)
        elif n == 2:
            specs, refs = (inputs[0].spec, inputs[1].spec), (inputs[0].ref, inputs[1].ref)
        else:
            specs, refs = tuple(map(_SPEC, inputs)), tuple(map(_REF, inputs))
        if name:
            node_name = self._claim(name)
        else:  # _fresh's usual case spelled out: a call less for each node autodiff adds
            # (a name claimed is in _by_name once its node is added, and _taken, rarely
            # not empty, says so in the meantime)
            stem = self._stems.get(opdef.name)
            node_name = f"{stem}{next(self._counter)}" if stem is not None else ""
            if (not node_name or node_name in self._by_name
                    or (self._taken and node_name in self._taken)):
                node_name = self._fresh(opdef.name)
        node = make_node(node_name, opdef, refs, specs, attrs or _NO_ATTRS)
        self.nodes.append(node)
        self._by_name[node_name] = node
        if not opdef.multi_output:
            return Tensor(self, (node_name, 0), node.outputs[0])
        return tuple(Tensor(self, (node_name, k), s) for k, s in enumerate(node.outputs))

    def finish(self, outputs: Sequence[Tensor | str] | None = None,
               inputs: Sequence[str] | None = None) -> Graph:
        """The base graph (if any) plus every node added here."""
        refs = None
        if outputs is not None:
            refs = [t.ref if isinstance(t, Tensor) else self.tensor(t).ref for t in outputs]
        if self.base is not None:
            if not self.nodes and refs is None:
                return self.base  # nothing added: the very graph (its key already known)
            index, self._by_name = self._by_name, dict(self._by_name)  # the graph's own
            return self.base.extend(self.nodes, refs, by_name=index)
        if inputs is None:
            inputs = [n.name for n in self.nodes if n.op == "placeholder"]
        if refs is None:
            refs = [(self.nodes[-1].name, 0)]
        return Graph(self.nodes, inputs, refs)


def _as_array(value: Any, dtype: str | None) -> np.ndarray:
    if isinstance(value, np.ndarray) and dtype is None:
        arr = value.copy()
    else:
        arr = np.array(value, dtype=np_dtype(canonical_dtype(dtype or DEFAULT_DTYPE)))
    arr.setflags(write=False)
    return arr
