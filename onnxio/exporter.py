"""An engine graph (a differentiated one, typically) as a serialized ONNX model.

Placeholders become graph inputs, variables and constants initializers, the requested
tensors graph outputs; every other node needed for them is written by its entry in
``export_ops.EXPORTS``. Our node names are the ONNX value names (output k > 0 of a node is
``name:k``), so the gradients keep the names the engine gave them.
"""
from __future__ import annotations

from collections.abc import Sequence

import onnx
from onnx import helper, numpy_helper

from engine.graph import Graph, Ref

from .dtypes import TO_ONNX
from .errors import OnnxError
from .export_ops import EXPORTS, OPSET, Out, value_info

IR_VERSION = 8  # opset 18's IR version: what onnxruntime releases of the last years read


def to_onnx(graph: Graph, outputs: Sequence[str], *, name: str = "gradserve") -> bytes:
    """``graph``'s ``outputs`` (tensor names, ``name:k`` allowed) as an ONNX model that
    passes ``onnx.checker`` and computes them."""
    refs = [graph.resolve(t, loc=("outputs", i)) for i, t in enumerate(outputs)]
    out = Out({n.name for n in graph.nodes})
    inputs: list[onnx.ValueInfoProto] = []
    value = write(graph, refs, out, {}, inputs)
    results = [value_info(value[ref], graph.spec(ref)) for ref in refs]
    model = helper.make_model(
        helper.make_graph(out.nodes, name, inputs, _unique(results),
                          initializer=out.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gradserve",
        ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write(graph: Graph, refs: Sequence[Ref], out: Out, value: dict[Ref, str],
          inputs: list[onnx.ValueInfoProto] | None, prefix: str = "") -> dict[Ref, str]:
    """Write what ``refs`` need of ``graph`` into ``out``; the ONNX name of each value.
    ``value`` may bind placeholders already (a subgraph's, to the outer names it reads);
    others become graph inputs (``inputs``). ``prefix`` goes before every name written
    (a subgraph's names may not shadow the outer graph's)."""
    needed = _ancestors(graph, refs)
    for node in graph.nodes:
        if node.name not in needed:
            continue
        own = prefix + node.name
        if node.op == "placeholder":
            if (node.name, 0) in value:
                continue
            if inputs is None:
                raise OnnxError("a subgraph's placeholder is not bound", node=node.name,
                                op_type=node.op)
            inputs.append(value_info(own, node.spec))
            value[(node.name, 0)] = own
            continue
        if node.op in ("variable", "constant"):
            assert node.value is not None
            _dtype(node.spec.dtype, node.name, node.op)
            out.initializers.append(numpy_helper.from_array(node.value, own))
            value[(node.name, 0)] = own
            continue
        export = EXPORTS.get(node.op)
        if export is None:
            raise OnnxError(f"engine op {node.op} has no ONNX export (exported: "
                            f"{', '.join(sorted(EXPORTS))})", node=node.name, op_type=node.op)
        out.node = node
        out.ins = [value[r] for r in node.inputs]
        out.in_specs = [graph.spec(r) for r in node.inputs]
        for spec in (*out.in_specs, *node.outputs):
            _dtype(spec.dtype, node.name, node.op)
        first = len(out.nodes)
        produced = export(out)
        names = [produced] if isinstance(produced, str) else list(produced)
        for k, produced_name in enumerate(names):
            wanted = own if k == 0 else f"{own}:{k}"
            value[(node.name, k)] = _rename(out, produced_name, wanted, first)
    return value


def _rename(out: Out, produced: str, wanted: str, first: int) -> str:
    """Give the value its engine name: the ONNX node just written for it takes the name,
    else (an input passed through, say) an Identity does."""
    read = {i for node in out.nodes[first:] for i in node.input}
    for node in out.nodes[first:]:
        if produced in node.output and produced not in read:
            node.output[list(node.output).index(produced)] = wanted
            return wanted
    out.nodes.append(helper.make_node("Identity", [produced], [wanted], name=wanted))
    return wanted


def _unique(infos: list[onnx.ValueInfoProto]) -> list[onnx.ValueInfoProto]:
    seen: dict[str, onnx.ValueInfoProto] = {}
    for info in infos:
        seen.setdefault(info.name, info)
    return list(seen.values())


def _ancestors(graph: Graph, refs: Sequence[Ref]) -> set[str]:
    needed: set[str] = set()
    stack = [r[0] for r in refs]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        stack.extend(src for src, _ in graph.node(name).inputs)
    return needed


def _dtype(dtype: str, node: str, op: str) -> int:
    if dtype not in TO_ONNX:
        raise OnnxError(f"dtype {dtype} has no ONNX export", node=node, op_type=op)
    return TO_ONNX[dtype]

from . import export_control  # noqa: E402, F401 - its entries join EXPORTS
