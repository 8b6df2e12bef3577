"""THE table: every ONNX op onnxio takes, one entry each, lowered onto our op catalogue.

An entry names the ONNX op, the versions of it that it handles (an ONNX op's version is
the opset in which it last changed; a model at opset N uses, for each op, its latest
version <= N), the attributes it reads, and its lowering: a function of the node that
emits our ops. Versions default to every version in force in opsets 13 to 21, for ops
whose changes in that span only added element types; ops whose inputs or attributes
changed there (the reductions, Split, Reshape, Shape, Pad, ...) list theirs and handle
each. An entry without a lowering is folded at import and only there (Range,
ConstantOfShape, ...); any other entry is folded too when all its inputs are known.

Convolutions and pools are entries of this table declared in ``import_windows``, Resize
in ``import_resize``, composed activations and functions in ``import_math``,
normalizations and channel rearrangements in ``import_layers``, scatters and OneHot in
``import_indexing``.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from engine.graph import format_ref
from engine.ops.registry import TensorSpec
from engine.shapes import normalize_axis

from .dtypes import engine_dtype
from .scope import Dim, Scope, Value, known

REQUIRED = object()
FIRST, LAST = 13, 21
Lowering = Callable[["Ctx"], "Value | Sequence[Value]"]


@dataclass(frozen=True)
class OnnxOp:
    op_type: str
    versions: tuple[int, ...]
    lower: Lowering | None
    attrs: frozenset[str]
    doc: str
    foldable: bool = True


TABLE: dict[str, OnnxOp] = {}
# Ops that only move values around: a shape known only in part goes through them.
PARTIAL_OK = frozenset({"Gather", "Concat", "Unsqueeze", "Squeeze", "Slice", "Cast",
                        "Identity", "Reshape", "Flatten"})


def since_version(op_type: str, opset: int) -> int:
    """The version of ``op_type`` in force at ``opset`` (0 when it does not exist yet)."""
    try:
        return onnx.defs.get_schema(op_type, opset, "").since_version
    except onnx.defs.SchemaError:
        return 0


# Op versions whose schema changed beyond the types it allows, but only in what concerns
# element types the engine does not have (engine_dtype refuses a model that uses one, by
# name): read_as reads through them as through a types-only change, waiving the doc and
# the attributes named here and nothing else (the other attributes, with their types and
# defaults, the inputs and the outputs must stay as they were). Each with why.
FOR_TYPES_WE_LACK: dict[tuple[str, int], tuple[frozenset[str], str]] = {
    (op, 24): (frozenset({"round_mode"}),
               "round_mode applies only to casts to float8e8m0, the type version 24 adds; "
               "saturate and the doc's tables changed only for float8 types")
    for op in ("Cast", "CastLike")
}


def read_as(op_type: str, version: int, handled: Sequence[int]) -> int | None:
    """The handled version a model's ``version`` of ``op_type`` is read as: itself, or for
    a later version, the latest handled one if every version since changed only the
    types it allows (same attributes and defaults, inputs, outputs and doc: opset 22's
    bfloat16 bumps; the engine's dtypes refuse by name a new type a model uses), or is
    listed in FOR_TYPES_WE_LACK (Cast-24: float8e8m0's round_mode). An attribute's
    description may differ: in the versions onnx 1.23 knows, that narrows what is valid
    (Transpose-25's perm range), never what a valid model means. None: a version with
    other changes, refused. (Opsets before 13 stay refused as a whole: API.md's coverage
    is 13 through 21 and what follows.)"""
    if version in handled:
        return version
    base = max((v for v in handled if v < version), default=None)
    if base is None:
        return None
    later = sorted({since_version(op_type, o) for o in range(base + 1, version + 1)} - {base})
    steps = zip([base, *later], later)
    return base if all(_types_only(op_type, a, b) for a, b in steps) else None


def _types_only(op_type: str, before: int, after: int) -> bool:
    """Whether version ``after`` of an op changed only the types ``before`` allowed, or
    beyond them only what FOR_TYPES_WE_LACK waives."""
    waived = FOR_TYPES_WE_LACK.get((op_type, after))
    old, new = _signature(op_type, before), _signature(op_type, after)
    if waived is None:
        return old == new
    kept = tuple(a for a in new[0] if a[0] not in waived[0])
    return (kept, *new[1:-1]) == old[:-1]


@functools.cache
def _signature(op_type: str, version: int) -> tuple[Any, ...]:
    """What an op's schema says beyond its type constraints: its attributes first, its
    doc last."""
    s = onnx.defs.get_schema(op_type, version, "")
    attrs = sorted((a.name, int(a.type), a.required, a.default_value.SerializeToString())
                   for a in s.attributes.values())
    formals = [[(f.name, int(f.option), f.is_homogeneous) for f in fs]
               for fs in (s.inputs, s.outputs)]
    return (tuple(attrs), repr(formals), s.min_input, s.max_input, s.min_output,
            s.max_output, s.doc)


def versions_in_range(op_type: str) -> tuple[int, ...]:
    return tuple(sorted({v for v in (since_version(op_type, o) for o in range(FIRST, LAST + 1))
                         if v}))


def onnx_op(op_type: str, *, attrs: Iterable[str] = (), versions: Iterable[int] | None = None,
            doc: str = "", foldable: bool = True) -> Callable[[Lowering], Lowering]:
    """Declare one entry of the table (one place per ONNX op). ``foldable`` False: never
    run by the reference evaluator, even when every input is known (If: its branches read
    values of the outer graph)."""

    def register(fn: Lowering) -> Lowering:
        _register(op_type, fn, attrs, versions, doc or (fn.__doc__ or "").strip(), foldable)
        return fn

    return register


def _register(op_type: str, fn: Lowering | None, attrs: Iterable[str],
              versions: Iterable[int] | None, doc: str, foldable: bool = True) -> None:
    if op_type in TABLE:
        raise RuntimeError(f"ONNX op {op_type} is declared twice")
    TABLE[op_type] = OnnxOp(op_type, tuple(versions) if versions is not None
                            else versions_in_range(op_type), fn, frozenset(attrs), doc,
                            foldable)


@dataclass
class Subgraph:
    """A subgraph lowered on its own (``Ctx.subgraph``): its scope (more nodes may be
    emitted into it), its inputs in order, its ONNX outputs, and the outer values the node
    must pass for its reads of the outer graph (the inputs after the subgraph's own)."""

    scope: Scope
    inputs: list[str]
    outputs: list[Value]
    operands: list[Value]

    def description(self, outputs: Sequence[Value]) -> dict[str, Any]:
        """The graph (API.md section 2) answering ``outputs``, for a node's attr."""
        refs = [format_ref(self.scope.ref(v)) for v in outputs]
        return {"nodes": self.scope.nodes, "inputs": list(self.inputs), "outputs": refs}


class Ctx:
    """One ONNX node being lowered: its attributes, inputs, version, and the scope."""

    def __init__(self, node: onnx.NodeProto, version: int, scope: Scope,
                 inputs: Sequence[Value | None]):
        self.node = node
        self.version = version
        self.scope = scope
        self.inputs = list(inputs)
        self.attrs: dict[str, Any] = {}
        self.graphs: dict[str, onnx.GraphProto] = {}  # subgraph attributes (If's branches)
        # lowers a subgraph's nodes into this scope, giving its outputs (set by the importer)
        self.inline: Callable[[onnx.GraphProto], list[Value]] | None = None
        # lowers a subgraph as a graph of its own: (graph, own inputs, outer reads)
        self.subgraph: Callable[[onnx.GraphProto, Sequence[tuple[str, TensorSpec]],
                                 Sequence[str]], Subgraph] | None = None
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                self.graphs[a.name] = a.g
                continue
            if a.type == onnx.AttributeProto.GRAPHS:
                raise scope.fail(f"attribute {a.name!r}: subgraphs are not supported")
            value = helper.get_attribute_value(a)
            self.attrs[a.name] = value.decode() if isinstance(value, bytes) else value

    def check_attrs(self, allowed: frozenset[str]) -> None:
        for name in self.graphs:
            if name not in allowed:
                raise self.fail(f"attribute {name!r}: subgraphs are not supported")
        for name in self.attrs:
            if name not in allowed:
                known_ = ", ".join(sorted(allowed)) or "none"
                raise self.fail(f"attribute {name!r} is not supported (supported: {known_})")

    def attr(self, name: str, default: Any = REQUIRED) -> Any:
        if name in self.attrs:
            return self.attrs[name]
        if default is REQUIRED:
            raise self.fail(f"attribute {name!r} is required")
        return default

    def fail(self, message: str, unknown: Value | None = None) -> Exception:
        return self.scope.fail(message, unknown)

    def x(self, i: int = 0) -> Value:
        v = self.inputs[i] if i < len(self.inputs) else None
        if v is None:
            raise self.fail(f"input {i} is required")
        return v

    def opt(self, i: int) -> Value | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def const(self, i: int, what: str) -> np.ndarray | None:
        """Input ``i``, which must be known at import (None where it is absent)."""
        v = self.opt(i)
        if v is None:
            return None
        value = self.scope.stored(v)
        if value is None:
            raise self.fail(f"input {i} ({what}) must be known at import (a constant or "
                            "computed from static shapes)" + (
                                "; it depends on a symbolic dimension: give static input "
                                "shapes" if v.partial else ""), v)
        return value

    def ints(self, i: int, what: str) -> list[int] | None:
        c = self.const(i, what)
        return None if c is None else [int(a) for a in np.asarray(c).reshape(-1)]

    def emit(self, op: str, *inputs: Value, **attrs: Any) -> Value:
        return self.scope.emit(op, inputs, **attrs)

    def emit_multi(self, op: str, *inputs: Value, **attrs: Any) -> list[Value]:
        return self.scope.emit_multi(op, inputs, **attrs)

    def scalar(self, value: float, like: Value) -> Value:
        return known(np.asarray(value, dtype=like.spec.dtype))

    def static(self, v: Value, what: str, axes: Iterable[int] | None = None
               ) -> tuple[int, ...]:
        """v's sizes on ``axes`` (default every axis; negative ones count from the end),
        which ``what`` needs known at import: the one refusal of a lowering that cannot
        take a symbolic size, naming the symbolic axes and v's shape (so v is best the
        ONNX node's own input, not a transposed one of ours)."""
        shape = v.spec.shape
        chosen = range(len(shape)) if axes is None else [normalize_axis(a, len(shape))
                                                         for a in axes]
        dims = tuple(shape[a] for a in chosen)
        if None in dims:
            symbolic = [a for a in chosen if shape[a] is None]
            axes_ = (f"axis {symbolic[0]}" if len(symbolic) == 1 else
                     f"axes {', '.join(map(str, symbolic))}")
            raise self.fail(f"{what} needs static sizes of {axes_} of {_shown(shape)}; give "
                            "static input shapes")
        return dims  # type: ignore[return-value]


def _shown(shape: Sequence[int | None]) -> str:
    return f"[{', '.join('?' if d is None else str(d) for d in shape)}]"


def rank(v: Value) -> int:
    return len(v.spec.shape)


# -- elementwise ---------------------------------------------------------------------------

_UNARY = {"Abs": "abs", "Neg": "neg", "Exp": "exp", "Log": "log", "Sqrt": "sqrt",
          "Reciprocal": "reciprocal", "Floor": "floor", "Ceil": "ceil", "Round": "round",
          "Sign": "sign", "Sin": "sin", "Cos": "cos", "Tan": "tan", "Tanh": "tanh",
          "Sigmoid": "sigmoid", "Relu": "relu", "Erf": "erf", "Softplus": "softplus",
          "Not": "logical_not"}
_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Equal": "equal",
           "Less": "less", "Greater": "greater", "LessOrEqual": "less_equal",
           "GreaterOrEqual": "greater_equal", "And": "logical_and", "Or": "logical_or"}


def _unary(ours: str) -> Lowering:
    return lambda ctx: ctx.emit(ours, ctx.x(0))


def _binary(ours: str) -> Lowering:
    return lambda ctx: ctx.emit(ours, ctx.x(0), ctx.x(1))


for _onnx, _ours in _UNARY.items():
    _register(_onnx, _unary(_ours), (), None, f"{_ours}")
for _onnx, _ours in _BINARY.items():
    _register(_onnx, _binary(_ours), (), None, f"{_ours} (numpy broadcasting)")


@onnx_op("Div")
def _div(ctx: Ctx) -> Value:
    """div (numpy broadcasting); truncate_div on integers, which ONNX divides toward
    zero"""
    x, y = ctx.x(0), ctx.x(1)
    floating = x.spec.dtype.startswith("float")
    return ctx.emit("div" if floating else "truncate_div", x, y)


@onnx_op("Pow")
def _pow(ctx: Ctx) -> Value:
    """pow; an exponent of another dtype is cast to the base's."""
    base, exp = ctx.x(0), ctx.x(1)
    if exp.spec.dtype != base.spec.dtype:
        exp = ctx.emit("cast", exp, dtype=base.spec.dtype)
    return ctx.emit("pow", base, exp)


# Version 28 defines fmod 0 for floating inputs too (A - floor(A / B) B, the sign of B, with
# numpy's special cases), where 13 took only integers; for what 13 took it is the same.
@onnx_op("Mod", attrs=("fmod",), versions=(13, 28))
def _mod(ctx: Ctx) -> Value:
    """fmod 0: floor_mod, the divisor's sign (integers; floating inputs too from version
    28); fmod 1: the dividend's sign, sign(x) * floor_mod(|x|, |y|) (C's fmod)"""
    x, y = ctx.x(0), ctx.x(1)
    if not ctx.attr("fmod", 0):
        if x.spec.dtype.startswith("float") and ctx.version < 28:
            raise ctx.fail("fmod 0 on floating inputs is not defined by ONNX before opset "
                           "28 (fmod 1)")
        return ctx.emit("floor_mod", x, y)
    rest = ctx.emit("floor_mod", ctx.emit("abs", x), ctx.emit("abs", y))
    return ctx.emit("mul", ctx.emit("sign", x), rest)


def _variadic(ours: str) -> Lowering:
    def lower(ctx: Ctx) -> Value:
        out = ctx.x(0)
        for v in ctx.inputs[1:]:
            out = ctx.emit(ours, out, v)
        return out

    return lower


for _onnx, _ours in (("Max", "maximum"), ("Min", "minimum"), ("Sum", "add")):
    _register(_onnx, _variadic(_ours), (), None, f"a chain of {_ours} (broadcasting)")


@onnx_op("Mean")
def _mean(ctx: Ctx) -> Value:
    """a chain of add, then div by the count"""
    total = _variadic("add")(ctx)
    assert isinstance(total, Value)
    return ctx.emit("div", total, ctx.scalar(len(ctx.inputs), total))


@onnx_op("Where")
def _where(ctx: Ctx) -> Value:
    """where (numpy broadcasting of all three)"""
    return ctx.emit("where", ctx.x(0), ctx.x(1), ctx.x(2))


@onnx_op("Identity")
def _identity(ctx: Ctx) -> Value:
    """the input itself"""
    return ctx.x(0)


@onnx_op("Dropout", attrs=("seed",))
def _dropout(ctx: Ctx) -> Value | list[Value]:
    """inference: the input itself (training_mode must be false), and where asked for,
    the mask: all true, as nothing is dropped (cast of ones_like to bool)"""
    training = ctx.const(2, "training_mode")
    if training is not None and bool(np.asarray(training)):
        raise ctx.fail("training_mode true is not supported (inference only)")
    x = ctx.x(0)
    if not any(ctx.node.output[1:]):
        return x
    return [x, ctx.emit("cast", ctx.emit("ones_like", x), dtype="bool")]


@onnx_op("Cast", attrs=("to", "saturate", "round_mode"))
def _cast(ctx: Ctx) -> Value:
    """cast (to float16/32/64, int32/64, bool; saturate and round_mode concern float8
    types only)"""
    _check_round_mode(ctx)
    to = engine_dtype(ctx.attr("to"), node=ctx.scope.node_name, op_type="Cast")
    x = ctx.x(0)
    return x if x.spec.dtype == to else ctx.emit("cast", x, dtype=to)


@onnx_op("CastLike", attrs=("saturate", "round_mode"))
def _cast_like(ctx: Ctx) -> Value:
    """cast to the second input's dtype"""
    _check_round_mode(ctx)
    x, like = ctx.x(0), ctx.x(1)
    return x if x.spec.dtype == like.spec.dtype else ctx.emit("cast", x,
                                                               dtype=like.spec.dtype)


def _check_round_mode(ctx: Ctx) -> None:
    """round_mode (Cast-24) changes only casts to float8e8m0, which engine_dtype refuses,
    so it is read for nothing here; a value ONNX does not define is still refused."""
    mode = ctx.attr("round_mode", "up")
    if mode not in ("up", "down", "nearest"):
        raise ctx.fail(f"round_mode {mode!r} is not one of ONNX's (up, down, nearest)")


@onnx_op("Clip")
def _clip(ctx: Ctx) -> Value:
    """maximum with min, then minimum with max (the bounds pass the gradient, as torch)"""
    out = ctx.x(0)
    lo, hi = ctx.opt(1), ctx.opt(2)
    if lo is not None:
        out = ctx.emit("maximum", out, lo)
    if hi is not None:
        out = ctx.emit("minimum", out, hi)
    return out


@onnx_op("LeakyRelu", attrs=("alpha",))
def _leaky_relu(ctx: Ctx) -> Value:
    """where(x > 0, x, alpha * x)"""
    x = ctx.x(0)
    alpha = ctx.attr("alpha", 0.01)
    return ctx.emit("where", ctx.emit("greater", x, ctx.scalar(0, x)), x,
                    ctx.emit("mul", x, ctx.scalar(alpha, x)))


@onnx_op("Elu", attrs=("alpha",))
def _elu(ctx: Ctx) -> Value:
    """elu for alpha 1; else where(x > 0, x, alpha * expm1(x))"""
    x, alpha = ctx.x(0), float(ctx.attr("alpha", 1.0))
    if math.isclose(alpha, 1.0):
        return ctx.emit("elu", x)
    below = ctx.emit("mul", ctx.emit("expm1", x), ctx.scalar(alpha, x))
    return ctx.emit("where", ctx.emit("greater", x, ctx.scalar(0, x)), x, below)


_SELU_ALPHA, _SELU_GAMMA = 1.67326319217681884765625, 1.05070102214813232421875  # ONNX's


@onnx_op("Selu", attrs=("alpha", "gamma"))
def _selu(ctx: Ctx) -> Value:
    """selu for the default alpha and gamma (ONNX's are our selu's, rounded to float32);
    else where(x > 0, gamma x, alpha gamma expm1(x))"""
    x = ctx.x(0)
    alpha, gamma = float(ctx.attr("alpha", _SELU_ALPHA)), float(ctx.attr("gamma", _SELU_GAMMA))
    if (math.isclose(alpha, _SELU_ALPHA, rel_tol=1e-7)
            and math.isclose(gamma, _SELU_GAMMA, rel_tol=1e-7)):
        return ctx.emit("selu", x)
    above = ctx.emit("mul", x, ctx.scalar(gamma, x))
    below = ctx.emit("mul", ctx.emit("expm1", x), ctx.scalar(alpha * gamma, x))
    return ctx.emit("where", ctx.emit("greater", x, ctx.scalar(0, x)), above, below)


@onnx_op("HardSigmoid", attrs=("alpha", "beta"))
def _hard_sigmoid(ctx: Ctx) -> Value:
    """max(0, min(1, alpha * x + beta))"""
    x = ctx.x(0)
    return _hard_sigmoid_of(ctx, x, ctx.attr("alpha", 0.2), ctx.attr("beta", 0.5))


def _hard_sigmoid_of(ctx: Ctx, x: Value, alpha: float, beta: float) -> Value:
    lin = ctx.emit("add", ctx.emit("mul", x, ctx.scalar(alpha, x)), ctx.scalar(beta, x))
    return ctx.emit("maximum", ctx.emit("minimum", lin, ctx.scalar(1, x)), ctx.scalar(0, x))


@onnx_op("HardSwish")
def _hard_swish(ctx: Ctx) -> Value:
    """x * hard_sigmoid(x) with alpha 1/6, beta 1/2"""
    x = ctx.x(0)
    return ctx.emit("mul", x, _hard_sigmoid_of(ctx, x, 1 / 6, 0.5))


@onnx_op("Softsign")
def _softsign(ctx: Ctx) -> Value:
    """x / (1 + |x|)"""
    x = ctx.x(0)
    return ctx.emit("div", x, ctx.emit("add", ctx.emit("abs", x), ctx.scalar(1, x)))


@onnx_op("Gelu", attrs=("approximate",))
def _gelu(ctx: Ctx) -> Value:
    """gelu (approximate "none" or "tanh")"""
    approx = ctx.attr("approximate", "none")
    if approx not in ("none", "tanh"):
        raise ctx.fail(f"approximate {approx!r} is not supported (none, tanh)")
    return ctx.emit("gelu", ctx.x(0), approximate=approx == "tanh")


# -- linear algebra --------------------------------------------------------------------------

@onnx_op("MatMul")
def _matmul(ctx: Ctx) -> Value:
    """matmul (numpy semantics: batch broadcasting, rank-1 operands)"""
    return ctx.emit("matmul", ctx.x(0), ctx.x(1))


@onnx_op("Gemm", attrs=("alpha", "beta", "transA", "transB"))
def _gemm(ctx: Ctx) -> Value:
    """alpha * matmul(A, B) (transposes as attrs) + beta * C"""
    a, b, c = ctx.x(0), ctx.x(1), ctx.opt(2)
    out = ctx.emit("matmul", a, b, transpose_a=bool(ctx.attr("transA", 0)),
                   transpose_b=bool(ctx.attr("transB", 0)))
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    if alpha != 1.0:
        out = ctx.emit("mul", out, ctx.scalar(alpha, out))
    if c is not None and beta != 0.0:
        if beta != 1.0:
            c = ctx.emit("mul", c, ctx.scalar(beta, c))
        out = ctx.emit("add", out, c)
    return out


@onnx_op("Einsum", attrs=("equation",))
def _einsum(ctx: Ctx) -> Value:
    """einsum"""
    return ctx.emit("einsum", *ctx.inputs, equation=ctx.attr("equation").replace(" ", ""))


# -- normalization and softmax -------------------------------------------------------------

@onnx_op("Softmax", attrs=("axis",))
def _softmax(ctx: Ctx) -> Value:
    """softmax along axis"""
    return ctx.emit("softmax", ctx.x(0), axis=ctx.attr("axis", -1))


@onnx_op("LogSoftmax", attrs=("axis",))
def _log_softmax(ctx: Ctx) -> Value:
    """log_softmax along axis"""
    return ctx.emit("log_softmax", ctx.x(0), axis=ctx.attr("axis", -1))


# -- reductions --------------------------------------------------------------------------------

def _reduce_axes(ctx: Ctx, axes_as_input: bool) -> list[int] | None:
    """The axes (None = all); noop_with_empty_axes with none given is the identity ([])."""
    axes = ctx.ints(1, "axes") if axes_as_input else ctx.attr("axes", None)
    if not axes:
        return [] if ctx.attr("noop_with_empty_axes", 0) else None
    return [int(a) for a in axes]


def _reduction(compose: Callable[[Ctx, Value, list[int] | None, bool], Value],
               input_since: int) -> Lowering:
    def lower(ctx: Ctx) -> Value:
        x = ctx.x(0)
        axes = _reduce_axes(ctx, ctx.version >= input_since)
        if axes == []:
            return x
        return compose(ctx, x, axes, bool(ctx.attr("keepdims", 1)))

    return lower


def _plain_reduce(ours: str) -> Callable[[Ctx, Value, list[int] | None, bool], Value]:
    return lambda ctx, x, axes, keep: ctx.emit(ours, x, axis=axes, keepdims=keep)


def _extreme_reduce(ours: str) -> Callable[[Ctx, Value, list[int] | None, bool], Value]:
    """max or min; on bool (ONNX's any / all) the max or min of x as int32, then > 0: exact
    on 0 and 1, and over no elements max's identity (int32's lowest) gives False and
    min's (its highest) True, as any and all do, where a cast back to bool would not."""
    plain = _plain_reduce(ours)

    def compose(ctx: Ctx, x: Value, axes: list[int] | None, keep: bool) -> Value:
        if x.spec.dtype != "bool":
            return plain(ctx, x, axes, keep)
        if ctx.version < 20:
            raise ctx.fail(f"a bool input is taken from version 20 (this is version "
                           f"{ctx.version})")
        out = plain(ctx, ctx.emit("cast", x, dtype="int32"), axes, keep)
        return ctx.emit("greater", out, ctx.scalar(0, out))

    return compose


def _sum_of(pre: str, post: str | None = None):
    def compose(ctx: Ctx, x: Value, axes, keep) -> Value:
        out = ctx.emit("sum", ctx.emit(pre, x), axis=axes, keepdims=keep)
        return ctx.emit(post, out) if post else out

    return compose


_REDUCE_ATTRS = ("axes", "keepdims", "noop_with_empty_axes")
for _onnx, _compose, _since in (
        ("ReduceSum", _plain_reduce("sum"), 13), ("ReduceMean", _plain_reduce("mean"), 18),
        ("ReduceMax", _extreme_reduce("max"), 18), ("ReduceMin", _extreme_reduce("min"), 18),
        ("ReduceProd", _plain_reduce("prod"), 18),
        ("ReduceLogSumExp", _plain_reduce("logsumexp"), 18),
        ("ReduceSumSquare", _sum_of("square"), 18), ("ReduceL1", _sum_of("abs"), 18),
        ("ReduceL2", _sum_of("square", "sqrt"), 18)):
    _register(_onnx, _reduction(_compose, _since), _REDUCE_ATTRS, None,
              f"axes as {'an input' if _since == 13 else 'an attribute (before 18), an input'}"
              f" (from {_since}); noop_with_empty_axes"
              + ("; on bool: any / all (of int32, then > 0)"
                 if _onnx in ("ReduceMax", "ReduceMin") else ""))


# -- shapes ---------------------------------------------------------------------------------

@onnx_op("Shape", attrs=("start", "end"))
def _shape(ctx: Ctx) -> Value:
    """known at import (unknown dims travel as a partial shape)"""
    x = ctx.x(0)
    axes = list(range(rank(x)))[slice(ctx.attr("start", 0), ctx.attr("end", rank(x)))]
    dims = [x.spec.shape[a] for a in axes]
    if None not in dims:
        return known(np.array(dims, dtype=np.int64))
    ref = ctx.scope.ref(x)
    return Value(TensorSpec((len(dims),), "int64"),
                 partial=tuple((ref, a) if d is None else d for a, d in zip(axes, dims)))


@onnx_op("Size")
def _size(ctx: Ctx) -> Value:
    """known at import (static shapes only)"""
    return known(np.array(math.prod(ctx.static(ctx.x(0), "Size")), dtype=np.int64))


@onnx_op("Reshape", attrs=("allowzero",))
def _reshape(ctx: Ctx) -> Value:
    """reshape; 0 copies the input's dim (unless allowzero); one unknown dim becomes -1,
    and a -1 beside the input's own run-time dims (x.view(x.size(0), -1)) is worked out"""
    x = ctx.x(0)
    target = _shape_input(ctx, 1)
    if ctx.attr("allowzero", 0) and 0 in target:
        raise ctx.fail("allowzero with a 0 in the shape is not supported")
    ref = x.ref if x.const is None else None
    dims: list[int | Dim | None] = []
    for i, d in enumerate(target):
        if d == 0:
            size = x.spec.shape[i] if i < rank(x) else None
            dims.append(size if size is not None else (ref, i))
        else:
            dims.append(None if d == -1 else d)
    own = {d for d in dims if isinstance(d, tuple) and d[0] == ref}
    unknown_in = {(ref, a) for a, s in enumerate(x.spec.shape) if s is None}
    if None in dims and own and own == unknown_in:
        # the run-time dims cancel: -1 is the known part of the input over the target's
        known_in = math.prod(s for s in x.spec.shape if s is not None)
        known_out = math.prod(d for d in dims if isinstance(d, int))
        if known_out and known_in % known_out == 0:
            dims[dims.index(None)] = known_in // known_out
    dims = [d if isinstance(d, int) else None for d in dims]
    if dims.count(None) > 1:
        raise ctx.fail(f"the target shape {[-1 if d is None else d for d in dims]} has more "
                       "than one unknown dimension; give static input shapes")
    return ctx.emit("reshape", x, shape=[-1 if d is None else d for d in dims])


def _shape_input(ctx: Ctx, i: int) -> list[int | Dim]:
    v = ctx.x(i)
    if v.const is not None:
        return [int(d) for d in v.const.reshape(-1)]
    if v.partial is not None:
        return list(v.partial)
    raise ctx.fail(f"input {i} (a shape) must be known at import", v)


@onnx_op("Flatten", attrs=("axis",))
def _flatten(ctx: Ctx) -> Value:
    """reshape to two dims (one unknown side becomes -1)"""
    x = ctx.x(0)
    axis = ctx.attr("axis", 1)
    axis = axis + rank(x) if axis < 0 else axis
    sides = [x.spec.shape[:axis], x.spec.shape[axis:]]
    dims = [None if None in s else math.prod(s) for s in sides]
    if dims.count(None) > 1:
        raise ctx.fail("both sides of Flatten have symbolic dims; give static input shapes")
    return ctx.emit("reshape", x, shape=[-1 if d is None else d for d in dims])


@onnx_op("Transpose", attrs=("perm",))
def _transpose(ctx: Ctx) -> Value:
    """transpose (perm default reversed)"""
    x = ctx.x(0)
    perm = ctx.attr("perm", None)
    return ctx.emit("transpose", x, perm=None if perm is None else list(perm))


@onnx_op("Unsqueeze")
def _unsqueeze(ctx: Ctx) -> Value:
    """expand_dims per axis (axes an input since 13)"""
    x = ctx.x(0)
    axes = ctx.ints(1, "axes") or []
    out_rank = rank(x) + len(axes)
    for a in sorted(normalize_axis(a, out_rank) for a in axes):
        x = ctx.emit("expand_dims", x, axis=a)
    return x


@onnx_op("Squeeze")
def _squeeze(ctx: Ctx) -> Value:
    """squeeze (axes an optional input since 13)"""
    x = ctx.x(0)
    axes = ctx.ints(1, "axes")
    return ctx.emit("squeeze", x, axis=None if axes is None else
                    [normalize_axis(a, rank(x)) for a in axes])


@onnx_op("Concat", attrs=("axis",))
def _concat(ctx: Ctx) -> Value:
    """concat"""
    return ctx.emit("concat", *[v for v in ctx.inputs if v is not None],
                    axis=ctx.attr("axis"))


@onnx_op("Split", attrs=("axis", "num_outputs"), versions=(13, 18))
def _split(ctx: Ctx) -> list[Value]:
    """split: sizes from the 'split' input, else equal parts (13: as many as outputs; 18:
    num_outputs, the last part smaller where it does not divide)"""
    x = ctx.x(0)
    axis = normalize_axis(ctx.attr("axis", 0), rank(x))
    sizes = ctx.ints(1, "split")
    n = len(ctx.node.output)
    if sizes is None:
        n = ctx.attr("num_outputs", n) if ctx.version >= 18 else n
        dim = x.spec.shape[axis]
        if dim is not None and dim % n:
            part = -(-dim // n)
            sizes = [part] * (n - 1) + [dim - part * (n - 1)]
    spec = sizes if sizes is not None else n
    return ctx.emit_multi("split", x, num_or_size_splits=spec, axis=axis)


@onnx_op("Slice")
def _slice(ctx: Ctx) -> Value:
    """strided_slice (starts, ends, axes, steps known at import; Python's clamping)"""
    x = ctx.x(0)
    starts, ends = ctx.ints(1, "starts"), ctx.ints(2, "ends")
    assert starts is not None and ends is not None
    axes = ctx.ints(3, "axes") or list(range(len(starts)))
    steps = ctx.ints(4, "steps") or [1] * len(starts)
    r = rank(x)
    begin: list[int | None] = [None] * r
    end: list[int | None] = [None] * r
    stride = [1] * r
    for a, b, e, s in zip(axes, starts, ends, steps):
        a = normalize_axis(a, r)
        begin[a], end[a], stride[a] = b, e, s
    return ctx.emit("strided_slice", x, begin=begin, end=end, strides=stride)


def _indices(ctx: Ctx, idx: Value, dim: int | None) -> Value:
    """ONNX indices may be negative: known ones are wrapped here, others by a where."""
    if idx.const is not None:
        if dim is None and (idx.const < 0).any():
            raise ctx.fail("negative indices into a symbolic dimension are not supported")
        return known(np.where(idx.const < 0, idx.const + (dim or 0), idx.const)
                     .astype(idx.const.dtype))
    if dim is None:
        return idx
    zero = known(np.asarray(0, idx.spec.dtype))
    return ctx.emit("where", ctx.emit("less", idx, zero),
                    ctx.emit("add", idx, known(np.asarray(dim, idx.spec.dtype))), idx)


@onnx_op("Gather", attrs=("axis",))
def _gather(ctx: Ctx) -> Value:
    """gather (negative indices wrapped)"""
    x = ctx.x(0)
    axis = normalize_axis(ctx.attr("axis", 0), rank(x))
    return ctx.emit("gather", x, _indices(ctx, ctx.x(1), x.spec.shape[axis]), axis=axis)


@onnx_op("GatherElements", attrs=("axis",))
def _gather_elements(ctx: Ctx) -> Value:
    """gather from the flattened input at row-major offsets (static shapes): the offsets
    of the other axes are a constant, the indexed axis adds indices * its stride"""
    x, idx = ctx.x(0), ctx.x(1)
    ctx.static(x, "GatherElements")
    ctx.static(idx, "GatherElements's indices")
    axis = normalize_axis(ctx.attr("axis", 0), rank(x))
    strides = np.cumprod((*x.spec.shape[1:], 1)[::-1])[::-1]
    grid = np.indices(idx.spec.shape, dtype=np.int64)
    base = sum(grid[a] * strides[a] for a in range(rank(x)) if a != axis)
    idx = _indices(ctx, idx, x.spec.shape[axis])
    if idx.spec.dtype != "int64":
        idx = ctx.emit("cast", idx, dtype="int64")
    flat_idx = ctx.emit("add", ctx.emit("mul", idx, known(np.asarray(strides[axis]))),
                        known(np.asarray(base, dtype=np.int64)))
    return ctx.emit("gather", ctx.emit("reshape", x, shape=[-1]), flat_idx, axis=0)


@onnx_op("Expand")
def _expand(ctx: Ctx) -> Value:
    """broadcast_to the two-way broadcast of the input's shape and the given one"""
    x = ctx.x(0)
    target = _shape_input(ctx, 1)
    r = max(len(target), rank(x))
    xs = (1,) * (r - rank(x)) + tuple(x.spec.shape)
    ts = [1] * (r - len(target)) + target
    out = [a if t == 1 else (t if isinstance(t, int) else None) for a, t in zip(xs, ts)]
    if list(out) == list(x.spec.shape):
        return x
    return ctx.emit("broadcast_to", x, shape=[None if d is None else d for d in out])


@onnx_op("Tile")
def _tile(ctx: Ctx) -> Value:
    """tile (repeats known at import)"""
    return ctx.emit("tile", ctx.x(0), multiples=ctx.ints(1, "repeats"))


@onnx_op("Pad", attrs=("mode",), versions=(13, 18, 19, 21))
def _pad(ctx: Ctx) -> Value:
    """constant: pad; reflect, edge, wrap (19): per padded axis, slices of the input
    concatenated before and after it (pads, constant_value and, from 18, axes known at
    import, also when computed from static shapes)"""
    mode = ctx.attr("mode", "constant")
    if mode not in _PAD_MODES or (mode == "wrap" and ctx.version < 19):
        raise ctx.fail(f"mode {mode!r} is not supported (constant, reflect, edge, wrap)")
    x = ctx.x(0)
    pads = ctx.ints(1, "pads") or []
    axes = ctx.ints(3, "axes") if ctx.version >= 18 else None
    axes = [normalize_axis(a, rank(x)) for a in axes] if axes else list(range(rank(x)))
    if len(pads) != 2 * len(axes):
        raise ctx.fail(f"pads has {len(pads)} entries; {2 * len(axes)} expected (begin and "
                       "end per axis)")
    if min(pads, default=0) < 0:
        raise ctx.fail("negative pads (cropping) are not supported")
    paddings = [[0, 0] for _ in range(rank(x))]
    for i, a in enumerate(axes):
        paddings[a] = [pads[i], pads[i + len(axes)]]
    if mode == "constant":
        value = ctx.const(2, "constant_value")
        fill = (0.0 if value is None or value.size == 0
                else float(np.asarray(value).reshape(-1)[0]))
        return ctx.emit("pad", x, paddings=paddings, constant_values=fill)
    for axis, (before, after) in enumerate(paddings):
        if before or after:
            x = _pad_axis(ctx, x, axis, before, after, _PAD_MODES[mode])
    return x


def _pad_axis(ctx: Ctx, x: Value, axis: int, before: int, after: int,
              ends: Callable[[int, int], tuple[tuple[int | None, int | None, int],
                                                tuple[int | None, int | None, int]]]
              ) -> Value:
    """x with slices of itself concatenated on ``axis``: ``ends`` gives the (begin, end,
    step) of the slice before and of the slice after (edge: one row, tiled)."""
    (n,) = ctx.static(x, f"mode {ctx.attr('mode')!r}", [axis])
    edge = ctx.attr("mode") == "edge"
    limit = n if ctx.attr("mode") == "wrap" else n - 1
    if not edge and max(before, after) > limit:
        raise ctx.fail(f"pads {before}, {after} on axis {axis} of size {n}: at most {limit}")

    def part(spec: tuple[int | None, int | None, int], count: int) -> Value:
        begin: list[int | None] = [None] * rank(x)
        end: list[int | None] = [None] * rank(x)
        strides = [1] * rank(x)
        begin[axis], end[axis], strides[axis] = spec
        piece = ctx.emit("strided_slice", x, begin=begin, end=end, strides=strides)
        if edge and count > 1:
            piece = ctx.emit("tile", piece, multiples=[count if a == axis else 1
                                                      for a in range(rank(x))])
        return piece

    first, last = ends(before, after)
    parts = ([part(first, before)] if before else []) + [x] + (
        [part(last, after)] if after else [])
    return ctx.emit("concat", *parts, axis=axis)


_PAD_MODES: dict[str, Any] = {
    "constant": None,
    "reflect": lambda b, a: ((b, 0, -1), (-2, -2 - a, -1)),   # x[b:0:-1], x[-2:-2-a:-1]
    "edge": lambda b, a: ((0, 1, 1), (-1, None, 1)),          # x[:1] and x[-1:], tiled
    "wrap": lambda b, a: ((-b, None, 1), (0, a, 1)),           # x[-b:], x[:a]
}


@onnx_op("ArgMax", attrs=("axis", "keepdims", "select_last_index"))
def _argmax(ctx: Ctx) -> Value:
    """argmax (int64; kept axis by expand_dims; the last index by argmax of the reversed
    axis, static size)"""
    return _arg(ctx, "argmax")


@onnx_op("ArgMin", attrs=("axis", "keepdims", "select_last_index"))
def _argmin(ctx: Ctx) -> Value:
    """argmin, as ArgMax"""
    return _arg(ctx, "argmin")


def _arg(ctx: Ctx, ours: str) -> Value:
    x = ctx.x(0)
    axis = normalize_axis(ctx.attr("axis", 0), rank(x))
    if ctx.attr("select_last_index", 0):
        (n,) = ctx.static(x, "select_last_index", [axis])
        flip = [-1 if a == axis else 1 for a in range(rank(x))]
        backwards = ctx.emit("strided_slice", x, begin=[None] * rank(x), end=[None] * rank(x),
                             strides=flip)
        found = ctx.emit(ours, backwards, axis=axis)
        out = ctx.emit("sub", known(np.asarray(n - 1, np.int64)), found)
    else:
        out = ctx.emit(ours, x, axis=axis)
    return ctx.emit("expand_dims", out, axis=axis) if ctx.attr("keepdims", 1) else out


# -- known at import only ------------------------------------------------------------------

@onnx_op("Constant", attrs=("value", "value_float", "value_floats", "value_int",
                            "value_ints"))
def _constant(ctx: Ctx) -> Value:
    """a known value (tensor, float(s), int(s))"""
    if "value" in ctx.attrs:
        t = ctx.node.attribute[0].t
        engine_dtype(t.data_type, node=ctx.scope.node_name, op_type="Constant")
        return known(numpy_helper.to_array(t))
    for name, dtype in (("value_float", np.float32), ("value_floats", np.float32),
                        ("value_int", np.int64), ("value_ints", np.int64)):
        if name in ctx.attrs:
            return known(np.asarray(ctx.attrs[name], dtype=dtype))
    raise ctx.fail("a Constant needs value, value_float(s) or value_int(s)")


for _onnx in ("ConstantOfShape", "Range", "NonZero"):
    _register(_onnx, None, (), None, "known at import only (folded)")


@onnx_op("Trilu", attrs=("upper",))
def _trilu(ctx: Ctx) -> Value:
    """where(a constant triangle mask, x, 0) over the last two (static) dims"""
    x = ctx.x(0)
    k = ctx.ints(1, "k")
    rows, cols = ctx.static(x, "Trilu", [-2, -1])
    ones = np.ones((rows, cols), dtype=bool)
    diagonal = k[0] if k else 0
    mask = np.triu(ones, diagonal) if ctx.attr("upper", 1) else np.tril(ones, diagonal)
    zero = known(np.zeros((), dtype=x.spec.dtype))
    return ctx.emit("where", known(mask), x, zero)


from . import (  # noqa: E402, F401 - their entries join TABLE
    import_control,
    import_indexing,
    import_layers,
    import_math,
    import_resize,
    import_sorting,
    import_windows,
)
