"""An ONNX ModelProto to a graph description of ours (API.md sections 2 and 9).

Graph inputs that are not initializers become placeholders (symbolic or missing dims are
null), floating initializers trainable variables (but constants where only a lowering reads
them, as Resize's scales: see ``Scope.settle_import_reads``), other initializers
constants, and so are those of subgraphs (an If's branches, a Loop's body), inlined or
not. Each ONNX
node is lowered by its one entry in ``import_ops.TABLE``; a node whose inputs are all known
at import (shape arithmetic, Constant, Range, ...) is evaluated there and then by ONNX's own
reference evaluator instead, so the graph we build holds only what depends on feeds or
weights. ONNX value names are our node names.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from engine.ops.registry import TensorSpec

from .dtypes import TO_ENGINE, engine_dtype
from .errors import OnnxError
from .import_ops import FIRST as FIRST_OPSET
from .import_ops import LAST as LAST_OPSET
from .import_ops import PARTIAL_OK, TABLE, Ctx, Subgraph, read_as, since_version
from .scope import Dim, Scope, Value, known

DEFAULT_DOMAINS = ("", "ai.onnx")
_SENTINEL = -(10**9)  # unknown dims of a partial shape travel as _SENTINEL - i


def load(model_bytes: bytes) -> onnx.ModelProto:
    """Parse a serialized ModelProto; a malformed one is an OnnxError."""
    if not isinstance(model_bytes, (bytes, bytearray, memoryview)):
        raise OnnxError("an ONNX model is the bytes of a serialized ModelProto")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(bytes(model_bytes))
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise OnnxError(f"malformed protobuf: not a serialized ONNX ModelProto ({exc})") from None
    if not model.HasField("graph") or not model.graph.node:
        raise OnnxError("malformed model: the ModelProto has no graph with nodes")
    return model


def model_opset(model: onnx.ModelProto) -> int:
    for entry in model.opset_import:
        if entry.domain in DEFAULT_DOMAINS:
            return int(entry.version)
    raise OnnxError("the model imports no opset of the default ONNX domain")


def to_description(model_bytes: bytes,
                   shapes: Mapping[str, Sequence[int | None]] | None = None) -> dict[str, Any]:
    """The graph description (nodes, inputs, outputs) of a serialized ONNX model.

    ``shapes`` may fix the shapes of graph inputs (symbolic dims made concrete), so that
    shape computations over them fold; names not among the graph inputs are refused.
    """
    return bound_description(model_bytes, None, shapes)[0]


#: The value a graph input is fed, decoded to the input's dtype; None if it is not fed.
Fed = Callable[[str, str], Any]


def bound_description(model_bytes: bytes, fed: Fed | None,
                      shapes: Mapping[str, Sequence[int | None]] | None = None
                      ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``to_description`` for a model fed ``fed``, and the graph inputs it bound.

    Where an op needs known at import a value the model takes as a graph input (a
    ReduceSum's axes, a Reshape's shape, a TopK's k, fed at run time as ONNX's own node
    tests feed them), that input is bound to its fed value: it stays a placeholder, fed
    as before, but the graph is built for that value, so a caller that keeps the graph
    keys it by the bound inputs' values too. Only what a refusal names is bound, one at
    a time (an input read as a tensor alone stays a placeholder for any value)."""
    model = load(model_bytes)
    opset = model_opset(model)
    if opset < FIRST_OPSET:
        raise OnnxError(f"opset {opset} is not supported: opsets {FIRST_OPSET} to "
                        f"{LAST_OPSET} (a later one where every op the model uses is "
                        f"unchanged since opset {LAST_OPSET})")
    if model.graph.sparse_initializer:
        raise OnnxError("sparse initializers are not supported",
                        node=model.graph.sparse_initializer[0].values.name)
    bound: dict[str, np.ndarray] = {}
    while True:
        try:
            return _imported(model.graph, opset, dict(shapes or {}), bound), bound
        except OnnxError as exc:
            value = _bindable(exc, model.graph, bound, fed)
            if value is None:
                raise
            bound[exc.needs] = value


def _bindable(exc: OnnxError, graph: onnx.GraphProto, bound: Mapping[str, np.ndarray],
              fed: Fed | None) -> np.ndarray | None:
    """The fed value of the graph input a refusal needs known, if there is one to bind."""
    if fed is None or exc.needs is None or exc.needs in bound:
        return None
    inp = next(i for i in graph.input if i.name == exc.needs)
    value = fed(inp.name, engine_dtype(inp.type.tensor_type.elem_type, node=inp.name))
    return None if value is None else np.asarray(value)


def _imported(graph: onnx.GraphProto, opset: int, shapes: dict[str, Sequence[int | None]],
              bound: Mapping[str, np.ndarray]) -> dict[str, Any]:
    names = _value_names(graph)
    scope = Scope(names)
    values: dict[str, Value] = {}
    placeholders = _leaves(graph, scope, values, shapes, bound)
    for node in graph.node:
        _lower(node, opset, scope, values)
    scope.settle_import_reads()
    outputs = []
    for out in graph.output:
        v = values.get(out.name)
        if v is None:
            raise OnnxError(f"graph output {out.name!r} is not computed by any node",
                            node=out.name)
        scope.hint = out.name
        scope.node_name, scope.op_type = out.name, None
        scope.ref(v)
        if v.ref != (out.name, 0):
            values[out.name] = scope.name_value(out.name, v, len(scope.nodes))
        outputs.append(out.name)
    return {"nodes": scope.nodes, "inputs": placeholders, "outputs": outputs}


def _value_names(graph: onnx.GraphProto) -> set[str]:
    names = {v.name for v in (*graph.input, *graph.output)}
    names |= {i.name for i in graph.initializer}
    for node in graph.node:
        names.update(o for o in node.output if o)
    return names


def _leaves(graph: onnx.GraphProto, scope: Scope, values: dict[str, Value],
            shapes: dict[str, Sequence[int | None]], bound: Mapping[str, np.ndarray]
            ) -> list[str]:
    for init in graph.initializer:
        _initializer(init, scope, values)
    placeholders = []
    for inp in graph.input:
        if inp.name in values:
            continue  # keep_initializers_as_inputs: the initializer is the value
        scope.node_name = inp.name
        tensor = inp.type.tensor_type
        if not inp.type.HasField("tensor_type"):
            raise OnnxError("only tensor inputs are supported", node=inp.name)
        dtype = engine_dtype(tensor.elem_type, node=inp.name)
        if not tensor.HasField("shape"):
            raise OnnxError("the input has no shape (not even a rank); give it one",
                            node=inp.name)
        declared = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                    for d in tensor.shape.dim]
        if inp.name in shapes:
            declared = _hinted(inp.name, declared, shapes.pop(inp.name))
        values[inp.name] = scope.leaf(inp.name, "placeholder", dtype, shape=declared)
        placeholders.append(inp.name)
        scope.inputs.add(inp.name)
        if inp.name in bound:  # read as its fed value (a known one, materialized anew)
            values[inp.name] = _bound(inp.name, declared, bound[inp.name])
    if shapes:
        raise OnnxError(f"'shapes' names {sorted(shapes)[0]!r}, which is not a graph input",
                        node=sorted(shapes)[0])
    return placeholders


def _fits(declared: Sequence[int | None], shape: Sequence[int | None]) -> bool:
    """Whether a shape (None: any size) can be an input's declared one."""
    return len(shape) == len(declared) and all(
        d is None or s is None or d == s for d, s in zip(declared, shape))


def _bound(name: str, declared: Sequence[int | None], value: np.ndarray) -> Value:
    if not _fits(declared, value.shape):
        raise OnnxError(f"the value fed has shape {list(value.shape)}, for an input "
                        f"declared {[d for d in declared]}", node=name, fed=True)
    return known(value)


def _initializer(init: onnx.TensorProto, scope: Scope, values: dict[str, Value],
                 trainable: bool = True) -> None:
    """A floating initializer as a variable (when ``trainable``), any other as a known
    value."""
    scope.node_name, scope.op_type = init.name, None
    dtype = engine_dtype(init.data_type, node=init.name)
    array = numpy_helper.to_array(init)
    if array.dtype.name != dtype:
        array = array.astype(dtype)
    if trainable and dtype.startswith("float"):
        values[init.name] = scope.leaf(init.name, "variable", dtype, value=array)
    else:
        values[init.name] = Value(known(array).spec, const=array, name=init.name)


def _hinted(name: str, declared: list[int | None], hint: Sequence[int | None]
            ) -> list[int | None]:
    hint = list(hint)
    if not _fits(declared, hint):
        raise OnnxError(f"'shapes' gives {hint} for an input declared {declared}", node=name)
    return [d if h is None else int(h) for d, h in zip(declared, hint)]


def _lower(node: onnx.NodeProto, opset: int, scope: Scope, values: dict[str, Value]) -> None:
    scope.node_name, scope.op_type = node.name or (node.output[0] if node.output else ""), \
        node.op_type
    scope.hint = next((o for o in node.output if o), node.name or node.op_type)
    if node.domain not in DEFAULT_DOMAINS:
        raise scope.fail(f"domain {node.domain!r} is not supported (only the default ONNX "
                         "domain)")
    entry = TABLE.get(node.op_type)
    if entry is None:
        raise scope.fail(f"op_type {node.op_type} is not supported (GET /onnx/ops lists "
                         f"the {len(TABLE)} supported ONNX ops)")
    version = since_version(node.op_type, opset)
    handled = read_as(node.op_type, version, entry.versions)
    if handled is None:
        raise scope.fail(f"{node.op_type} at opset {opset} is its version {version}; "
                         f"supported versions: {', '.join(map(str, entry.versions))} (and "
                         "later ones that changed only the types allowed)")
    version = handled
    inputs: list[Value | None] = []
    for name in node.input:
        if not name:
            inputs.append(None)
            continue
        v = values.get(name)
        if v is None:
            raise scope.fail(f"input {name!r} is not a value of the model")
        inputs.append(v)
    outputs = [o for o in node.output]
    present = [v for v in inputs if v is not None]
    if entry.foldable and present and all(v.const is not None for v in present):
        results = _evaluate(node, opset, inputs, scope)
    elif (node.op_type in PARTIAL_OK and present and any(v.partial for v in present)
          and all(v.const is not None or v.partial for v in present)):
        results = _evaluate_partial(node, opset, inputs, scope)
    else:
        if entry.lower is None:
            raise scope.fail(f"{node.op_type} is supported only where all its inputs are "
                             "known at import (it is folded into a constant)",
                             next((v for v in present if v.const is None), None))
        ctx = Ctx(node, version, scope, inputs)
        ctx.check_attrs(entry.attrs)
        ctx.inline = lambda branch: _inline(branch, opset, scope, values)
        ctx.subgraph = lambda graph, own, reads: _subgraph(graph, opset, scope, values,
                                                           own, reads)
        first_new = len(scope.nodes)
        got = entry.lower(ctx)
        results = [got] if isinstance(got, Value) else list(got)
        used = [o for o in outputs[len(results):] if o]
        if used:
            raise scope.fail(f"output {used[0]!r} of {node.op_type} is not supported (only "
                             f"the first {len(results)})")
        for name, v in zip(outputs, results):
            if name:
                values[name] = scope.name_value(name, v, first_new)
        return
    for name, v in zip(outputs, results):
        if name:
            values[name] = Value(v.spec, const=v.const, partial=v.partial, name=name)


def _inline(branch: onnx.GraphProto, opset: int, scope: Scope,
            values: dict[str, Value]) -> list[Value]:
    """A subgraph's nodes lowered into the graph being built (they read the outer graph's
    values by name, as ONNX scoping says); its outputs. Its own initializers are
    constants, as in a subgraph lowered on its own (``_subgraph``): a model's variables
    do not change with whether an If's condition is known at import. Its node names
    restore the current node afterwards, so that a refusal after it still names the If."""
    node_name, op_type, hint = scope.node_name, scope.op_type, scope.hint
    for init in branch.initializer:
        _initializer(init, scope, values, trainable=False)
    for inner in branch.node:
        _lower(inner, opset, scope, values)
    scope.node_name, scope.op_type, scope.hint = node_name, op_type, hint
    missing = [o.name for o in branch.output if o.name not in values]
    if missing:
        raise scope.fail(f"branch output {missing[0]!r} is not computed by the branch")
    return [values[o.name] for o in branch.output]


def _subgraph(graph: onnx.GraphProto, opset: int, scope: Scope, values: dict[str, Value],
              own: Sequence[tuple[str, TensorSpec]], reads: Sequence[str]) -> Subgraph:
    """A subgraph (If's branch, Loop's body) lowered as a graph of its own, for a node's
    attr: placeholders for ``own`` (the inputs ONNX gives it) and for each outer tensor
    among ``reads`` (the node passes those as operands: our subgraphs take no outside
    values by name); outer values known at import stay known inside, as do the
    subgraph's own initializers (constants: no gradient reaches them)."""
    node_name, op_type, hint = scope.node_name, scope.op_type, scope.hint
    inner_values: dict[str, Value] = {}
    sub = Scope(_value_names(graph) | set(reads) | {name for name, _ in own})
    for name, spec in own:
        inner_values[name] = sub.leaf(name, "placeholder", spec.dtype, shape=spec.shape)
    operands = []
    for name in reads:
        v = values.get(name)
        if v is None:
            raise scope.fail(f"a subgraph reads {name!r}, which is not a value of the model")
        if v.const is not None:
            inner_values[name] = Value(v.spec, const=v.const, name=name)
            continue
        scope.ref(v)  # a shape known only in part cannot cross into a subgraph
        inner_values[name] = sub.leaf(name, "placeholder", v.spec.dtype, shape=v.spec.shape)
        operands.append(v)
    for init in graph.initializer:
        _initializer(init, sub, inner_values, trainable=False)
    for inner in graph.node:
        _lower(inner, opset, sub, inner_values)
    scope.node_name, scope.op_type, scope.hint = node_name, op_type, hint
    sub.node_name, sub.op_type, sub.hint = node_name, op_type, hint
    missing = [o.name for o in graph.output if o.name not in inner_values]
    if missing:
        raise scope.fail(f"subgraph output {missing[0]!r} is not computed by the subgraph")
    inputs = [name for name, _ in own] + [name for name in reads
                                          if inner_values[name].const is None]
    return Subgraph(sub, inputs, [inner_values[o.name] for o in graph.output], operands)


def _evaluate(node: onnx.NodeProto, opset: int, inputs: Sequence[Value | None],
              scope: Scope) -> list[Value]:
    """Run one node whose inputs are all known with ONNX's reference evaluator."""
    feeds = {name: v.const for name, v in zip(node.input, inputs) if v is not None}
    try:
        evaluator = ReferenceEvaluator(node, opsets={"": opset})
        outs = evaluator.run(None, feeds)
    except Exception as exc:  # the evaluator raises what numpy raises
        raise scope.fail(f"could not evaluate it at import: {exc}") from None
    results = []
    for out in outs:
        array = np.asarray(out)
        if array.dtype.name not in TO_ENGINE.values():
            raise scope.fail(f"it computes dtype {array.dtype.name}, which is not supported")
        results.append(known(array))
    return results


def _evaluate_partial(node: onnx.NodeProto, opset: int, inputs: Sequence[Value | None],
                      scope: Scope) -> list[Value]:
    """A shape known only in part moved around (Gather, Concat, Unsqueeze, ...): unknown
    dims ride along as distinct sentinels and come out unknown again."""
    stand_ins: list[Value | None] = []
    dims_of: list[Dim] = []  # sentinel _SENTINEL - i stands for dims_of[i]
    for v in inputs:
        if v is not None and v.const is None:
            assert v.partial is not None
            entries = []
            for d in v.partial:
                if isinstance(d, int):
                    entries.append(d)
                else:
                    entries.append(_SENTINEL - len(dims_of))
                    dims_of.append(d)
            v = known(np.array(entries, dtype=np.int64).reshape(v.spec.shape))
        stand_ins.append(v)
    results = []
    for r in _evaluate(node, opset, stand_ins, scope):
        assert r.const is not None
        flat = r.const.reshape(-1)
        unknown = (flat <= _SENTINEL) & (flat > _SENTINEL - len(dims_of))
        if not unknown.any():
            results.append(r)
        elif r.const.ndim > 1:
            raise scope.fail("a shape with unknown dimensions is used as a matrix; give "
                             "the model static input shapes")
        else:
            results.append(Value(r.spec, partial=tuple(
                dims_of[_SENTINEL - int(d)] if u else int(d) for d, u in zip(flat, unknown))))
    return results
