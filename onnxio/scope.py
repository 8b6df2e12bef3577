"""Where an imported ONNX graph is written down: our nodes, inferred as they are emitted.

Each ONNX value becomes a ``Value``: a tensor of ours (``ref``), or a value known at import
(``const``: Constant nodes, integer initializers, shapes of static tensors and everything
computed from them only), or a shape vector known only in part (``partial``: a dimension
that is symbolic in the model is held as the tensor and axis it is the size of, so that a
Reshape to ``[x.size(0), -1]`` of that same x can still work out the -1). Known values
turn into constant nodes only where a real op reads them, so shape subgraphs fold away.
Every emitted node goes through the engine's own attr parsing and shape inference at once,
so a lowering that does not fit is refused at the ONNX node that asked for it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import GraphError
from engine.graph import Ref, format_ref, make_node
from engine.ops import registry
from engine.ops.registry import TensorSpec

from .dtypes import SUPPORTED, TO_ONNX
from .errors import OnnxError

Dim = tuple[Ref, int]  # a dimension known only at run time: axis k of tensor ref


@dataclass
class Value:
    """One ONNX value as the importer knows it (see the module docstring)."""

    spec: TensorSpec
    ref: Ref | None = None
    const: np.ndarray | None = None
    partial: tuple[int | Dim, ...] | None = None
    name: str | None = None  # the node name a known value takes if it is materialized


def known(array: np.ndarray) -> Value:
    array = np.asarray(array)
    return Value(TensorSpec(tuple(int(d) for d in array.shape), array.dtype.name), const=array)


class Scope:
    """The description being written, the specs of what it holds, and the ONNX node at work
    (named by every refusal)."""

    def __init__(self, reserved: Iterable[str]):
        self.nodes: list[dict[str, Any]] = []
        self.specs: dict[str, tuple[TensorSpec, ...]] = {}
        self.weights: dict[str, np.ndarray] = {}  # stored values of the variables
        self.read_at_import: set[str] = set()  # variables whose value a lowering read
        self.taken: set[str] = set(reserved)
        self.inputs: set[str] = set()  # the graph inputs that are placeholders
        self.node_name: str | None = None
        self.op_type: str | None = None
        self.hint = "onnx"
        self._count = 0

    # -- names and errors --------------------------------------------------------------

    def fail(self, message: str, unknown: Value | None = None) -> OnnxError:
        """The refusal of the node at work; ``unknown``: the value it needed known, which
        the refusal names in ``needs`` where it is a graph input, or computed from an
        integer or bool graph input (a pad computed from a fed shape): bound to its fed
        value, the input may let the refusal through."""
        needs = None if unknown is None or unknown.ref is None else self._root(unknown.ref)
        return OnnxError(message, node=self.node_name, op_type=self.op_type, needs=needs)

    def _root(self, ref: Ref) -> str | None:
        """The graph input ``ref`` is, or the first integer or bool one it is computed from
        (a float one is data: bound, it would drop out of the gradients)."""
        if ref[0] in self.inputs:
            return ref[0]
        by_name = {d["name"]: d for d in self.nodes}
        seen, todo = set(), [ref[0]]
        while todo:
            node = by_name.get(todo.pop())
            if node is None or node["name"] in seen:
                continue
            seen.add(node["name"])
            if node["name"] in self.inputs and not node["dtype"].startswith("float"):
                return node["name"]
            todo.extend(i if i in by_name else i.rsplit(":", 1)[0]
                        for i in map(str, node.get("inputs", ())))
        return None

    def fresh(self, what: str, outputs: int = 1) -> str:
        """An unused internal name under the current ONNX node, ``<hint>/<what>_<n>``."""
        while True:
            self._count += 1
            name = f"{self.hint}/{what}_{self._count}"
            if name not in self.taken and not any(f"{name}:{k}" in self.taken
                                                  for k in range(1, outputs)):
                self.taken.add(name)
                return name

    # -- leaves ----------------------------------------------------------------------------

    def leaf(self, name: str, op: str, dtype: str, *, shape: Sequence[int | None] = (),
             value: np.ndarray | None = None) -> Value:
        if dtype not in TO_ONNX:
            raise self.fail(f"dtype {dtype} is not supported (supported: {SUPPORTED})")
        d: dict[str, Any] = {"name": name, "op": op, "dtype": dtype}
        if value is not None:
            d["value"] = value
            shape = value.shape
            if op == "variable":
                self.weights[name] = value
        else:
            d["shape"] = list(shape)
        spec = TensorSpec(tuple(None if s is None else int(s) for s in shape), dtype)
        self.taken.add(name)
        self.nodes.append(d)
        self.specs[name] = (spec,)
        return Value(spec, ref=(name, 0))

    def stored(self, v: Value) -> np.ndarray | None:
        """A known value, or a variable's stored value (for inputs that act as attributes,
        such as Pad's constant_value: those read the weight as the model stores it)."""
        if v.const is not None:
            return v.const
        if v.ref is not None and v.ref[1] == 0 and v.ref[0] in self.weights:
            self.read_at_import.add(v.ref[0])
            return self.weights[v.ref[0]]
        return None

    def settle_import_reads(self) -> None:
        """A variable only ever read at import (Resize's scales, Pad's constant_value, a
        OneHot's values) is a constant: feeding it could not change the graph built from
        its stored value, and it is no parameter to differentiate."""
        read_as_tensor = {i for d in self.nodes for i in d.get("inputs", ())}  # one output
        for d in self.nodes:
            if (d["name"] in self.read_at_import and d["op"] == "variable"
                    and d["name"] not in read_as_tensor):
                d["op"] = "constant"
                del self.weights[d["name"]]

    def ref(self, v: Value) -> Ref:
        """``v`` as a tensor of the graph: a known value becomes a constant node here."""
        if v.ref is not None:
            return v.ref
        if v.const is None:
            shown = [d if isinstance(d, int) else None for d in v.partial or ()]
            raise self.fail(f"a shape with unknown (symbolic) dimensions {shown} is used as "
                            "a tensor; give the model static input shapes (the 'shapes' "
                            "argument of to_description)")
        name = v.name if v.name is not None and v.name not in self.specs else self.fresh("const")
        v.ref = self.leaf(name, "constant", v.const.dtype.name, value=v.const).ref
        return v.ref

    # -- computing nodes -------------------------------------------------------------------

    def emit(self, op: str, inputs: Sequence[Value], **attrs: Any) -> Value:
        """One node of op ``op``; folded to a known value when every input is known."""
        return self.emit_multi(op, inputs, **attrs)[0]

    def emit_multi(self, op: str, inputs: Sequence[Value], **attrs: Any) -> list[Value]:
        opdef = registry.get(op)
        attrs = {k: plain(v) for k, v in attrs.items()}
        if inputs and all(v.const is not None for v in inputs):
            return self._fold(opdef, inputs, attrs)
        refs = tuple(self.ref(v) for v in inputs)
        specs = tuple(self.specs[src][k] for src, k in refs)
        name = self.fresh(opdef.name, outputs=8 if opdef.multi_output else 1)
        try:
            node = make_node(name, opdef, refs, specs, attrs)
        except GraphError as exc:
            raise self.fail(f"lowered onto {opdef.name}: {exc.message}") from None
        d: dict[str, Any] = {"name": name, "op": opdef.name,
                             "inputs": [format_ref(r) for r in refs]}
        if attrs:
            d["attrs"] = attrs
        self.nodes.append(d)
        self.specs[name] = node.outputs
        return [Value(spec, ref=(name, k)) for k, spec in enumerate(node.outputs)]

    def _fold(self, opdef: registry.OpDef, inputs: Sequence[Value],
              attrs: Mapping[str, Any]) -> list[Value]:
        specs = tuple(v.spec for v in inputs)
        try:
            node = make_node("fold", opdef, (), specs, attrs)
            out = opdef.bind(node.attrs, specs)(*[v.const for v in inputs])
        except (GraphError, ValueError) as exc:
            raise self.fail(f"lowered onto {opdef.name}: {exc}") from None
        outs = out if opdef.multi_output else [out]
        return [known(np.asarray(o)) for o in outs]

    def name_value(self, onnx_name: str, v: Value, first_new: int) -> Value:
        """Give ``v`` the ONNX value name: the node just emitted for it takes the name, a
        known value keeps it for when it is materialized, anything else gets an identity."""
        if v.ref is None:
            return Value(v.spec, const=v.const, partial=v.partial, name=onnx_name)
        src, k = v.ref
        last = self.nodes[-1] if len(self.nodes) > first_new else None
        if (last is not None and last["name"] == src and k == 0
                and len(self.specs[src]) == 1 and "inputs" in last
                and src.startswith(self.hint + "/")):
            last["name"] = onnx_name
            self.specs[onnx_name] = self.specs.pop(src)
            self.taken.add(onnx_name)
            return Value(v.spec, ref=(onnx_name, 0))
        d = {"name": onnx_name, "op": "identity", "inputs": [format_ref(v.ref)]}
        self.nodes.append(d)
        self.specs[onnx_name] = (v.spec,)
        self.taken.add(onnx_name)
        return Value(v.spec, ref=(onnx_name, 0))


def plain(v: Any) -> Any:
    """Attr values as JSON-friendly Python (numpy scalars to int/float, tuples to lists)."""
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, np.ndarray):
        return plain(v.tolist())
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v
