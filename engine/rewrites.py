"""The algebraic rewrites ``simplify`` tries that build new nodes (matmul and sum, broadcast
and sum, conv2d as patches and a GEMM, transposes, reshapes, a constant of one value as a
0-d operand), each a local identity on values up to float rounding.

A rule reads one node and the rewritten-so-far graph through an ``Emit`` and answers the
ref the node's (only) output equals, or the list of new nodes whose last computes it
(``simplify`` runs those through every rule again), or None. Every rule is O(1) per node
(it looks at the node's inputs only, never walks the graph), so the pass stays linear.
Only static shapes are rewritten.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .graph import Node, Ref, make_node
from .ops import registry
from .ops.registry import TensorSpec
from .shapes import is_static, normalize_axes

#: Largest constant (elements) a rule reads the values of.
SMALL = 4096
#: Smallest matmul (multiply-adds) the matmul rules rewrite: below it the two or three
#: steps they make cost more than the product they save (W1's 2x3 @ 3x3 got slower).
GEMM_WORK = 1 << 16


class Names:
    """The names in use: a graph's and those given since (a set of the new ones only, not
    a copy of a 100,000-node graph's names)."""

    __slots__ = ("base", "new")

    def __init__(self, base: Mapping[str, Any]):
        self.base: Mapping[str, Any] = base
        self.new: set[str] = set()

    def __contains__(self, name: object) -> bool:
        return name in self.new or name in self.base

    def add(self, name: str) -> None:
        self.new.add(name)

    def discard(self, name: str) -> None:
        self.new.discard(name)


class Emit:
    """The nodes a rule reads (the rewritten-so-far graph) and the new ones it adds, each
    inferred by its op's own rule and named after the node being rewritten. ``user``: that
    node is one of the user's (recomputed for a plan), not one autodiff appended. ``plan``:
    the graph is only planned (``simplify``'s ``forward``), never handed back, so a rule
    may use internal ops that a returned graph (drawn, exported to ONNX) must not hold."""

    def __init__(self, by_name: Mapping[str, Node], taken: Names | set[str], stem: str = "",
                 user: bool = False, *, plan: bool = False):
        self.by_name, self.taken, self.plan = by_name, taken, plan
        self.nodes: list[Node] = []
        self._new: dict[str, Node] = {}
        self.start(stem, user)

    def start(self, stem: str, user: bool) -> Emit:
        """Ready for the next node (one Emit serves a whole pass)."""
        self.stem, self.user = stem, user
        if self.nodes:
            self.nodes, self._new = [], {}
        return self

    def forget(self) -> None:
        """Drop what the last rule built, its names too (it was only tried)."""
        for n in self.nodes:
            self.taken.discard(n.name)
        self.nodes, self._new = [], {}

    def node(self, name: str) -> Node:
        return self._new.get(name) or self.by_name[name]

    def spec(self, ref: Ref) -> TensorSpec:
        return self.node(ref[0]).outputs[ref[1]]

    def _name(self, op: str) -> str:
        k = len(self.nodes)
        while f"{self.stem}/{op}_{k}" in self.taken:
            k += 1
        name = f"{self.stem}/{op}_{k}"
        self.taken.add(name)
        return name

    def _add(self, node: Node) -> Ref:
        self.nodes.append(node)
        self._new[node.name] = node
        return node.name, 0

    def op(self, op: str, *inputs: Ref, **attrs: Any) -> Ref:
        specs = tuple(self.spec(r) for r in inputs)
        return self._add(make_node(self._name(op), registry.get(op), inputs, specs, attrs))

    def constant(self, value: np.ndarray) -> Ref:
        value = np.array(value)
        value.setflags(write=False)
        spec = TensorSpec(value.shape, value.dtype.name)
        return self._add(Node(self._name("const"), "constant", (), {}, (spec,), value=value))

    def shaped(self, ref: Ref, shape: Sequence[int]) -> Ref:
        """``ref`` as ``shape`` (same elements): itself, or reshaped."""
        return ref if tuple(self.spec(ref).shape) == tuple(shape) else self.op(
            "reshape", ref, shape=list(shape))

    def spread(self, ref: Ref, spec: TensorSpec) -> Ref:
        """``ref`` broadcast to ``spec``'s shape, if it is not that shape already."""
        return ref if tuple(self.spec(ref).shape) == tuple(spec.shape) else self.op(
            "broadcast_to", ref, shape=list(spec.shape))


Rule = Callable[[Node, Emit], Any]


def _done(e: Emit, ref: Ref) -> Ref | list[Node]:
    return e.nodes if e.nodes else ref


def _static(*specs: TensorSpec) -> bool:
    return all(is_static(s.shape) for s in specs)


# -- a tensor known to be one value along an axis --------------------------------------------

def one_value_along(e: Emit, ref: Ref, axis: int) -> Ref | None:
    """A tensor t, of ``ref``'s rank with size 1 at ``axis``, that broadcasts to ``ref``'s
    value: the source of a broadcast, or a slice of a constant, a fill, zeros_like or
    ones_like. None when ``ref`` is not known to be constant along ``axis``."""
    spec, node = e.spec(ref), e.node(ref[0])
    rank = len(spec.shape)
    if not _static(spec) or not rank:
        return None
    axis %= rank
    unit = (1,) * rank
    if node.op in ("broadcast_to", "broadcast_like"):
        src = e.spec(node.inputs[0])
        if not _static(src) or len(src.shape) > rank:
            return None
        padded = (1,) * (rank - len(src.shape)) + tuple(src.shape)
        return e.shaped(node.inputs[0], padded) if padded[axis] == 1 else None
    if node.op == "fill" and not node.inputs:
        return e.constant(np.full(unit, node.attrs["value"], dtype=spec.dtype))
    if node.op in ("zeros_like", "ones_like"):
        return e.constant(np.full(unit, 0 if node.op == "zeros_like" else 1, dtype=spec.dtype))
    if node.op == "constant" and node.value is not None and 0 < node.value.size <= SMALL:
        first = np.take(node.value, [0], axis=axis)
        if np.array_equal(np.broadcast_to(first, node.value.shape), node.value):
            return e.constant(first)
    return None


# -- matmul and sum --------------------------------------------------------------------------

def _matmul_axes(node: Node) -> tuple[int, int, int, int]:
    """(a's M axis, a's K axis, b's K axis, b's N axis) in the operands' stored layouts."""
    ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
    return (-1, -2, -1, -2) if ta and tb else ((-1, -2, -2, -1) if ta else (
        (-2, -1, -1, -2) if tb else (-2, -1, -2, -1)))


def _matrices(node: Node, e: Emit) -> bool:
    """A matmul of static matrices (rank >= 2) worth rewriting (see GEMM_WORK)."""
    if node.op != "matmul":
        return False
    a, b = (e.spec(r) for r in node.inputs)
    if not _static(node.spec, a, b) or len(a.shape) < 2 or len(b.shape) < 2:
        return False
    k = a.shape[-2] if node.attrs["transpose_a"] else a.shape[-1]
    return math.prod(node.spec.shape) * k >= GEMM_WORK


def sum_of_matmul(node: Node, e: Emit) -> Any:
    """sum over the row (column) axis of A @ B = (1ᵀA) @ B (A @ (B 1)): a sum over rows
    of the product is the product of the row sum; over all axes, a dot of two sums."""
    if node.op != "sum":
        return None
    x = e.node(node.inputs[0][0])
    if not _matrices(x, e) or node.inputs[0][1] != 0:
        return None
    rank = len(x.spec.shape)
    axes = normalize_axes(node.attrs["axis"], rank)
    # an axis of size 1 is not pushed in: the rewritten sum must not match again
    rows = rank - 2 in axes and x.spec.shape[-2] != 1
    cols = rank - 1 in axes and x.spec.shape[-1] != 1
    if not (rows or cols):
        return None
    m, _, _, n = _matmul_axes(x)
    a, b = x.inputs
    a = e.op("sum", a, axis=[m], keepdims=True) if rows else a
    b = e.op("sum", b, axis=[n], keepdims=True) if cols else b
    product = e.op("matmul", a, b, **x.attrs)
    e.op("sum", product, axis=list(axes), keepdims=node.attrs["keepdims"])
    return e.nodes


def matmul_of_constant(node: Node, e: Emit) -> Any:
    """A @ B where A is one value t along its contracted axis (a broadcast, a ones seed):
    every column of A is t, so A @ B = t @ (1ᵀB), an outer product of t with B's sum over
    the contracted axis; the same for B. No product over the contracted axis is left."""
    if not _matrices(node, e):
        return None
    _, ka, kb, _ = _matmul_axes(node)
    a, b = node.inputs
    if e.spec(a).shape[ka] == 1:  # an outer product already
        return None
    t = one_value_along(e, a, ka)
    if t is not None:
        a, b = t, e.op("sum", b, axis=[kb], keepdims=True)
    else:
        t = one_value_along(e, b, kb)
        if t is None:
            return None
        a, b = e.op("sum", a, axis=[ka], keepdims=True), t
    e.spread(e.op("matmul", a, b, **node.attrs), node.spec)
    return e.nodes


# -- conv2d as im2col and one GEMM ---------------------------------------------------------

def _patch_rows(node: Node, e: Emit, ksize: Sequence[int]) -> Ref:
    """The image's (input 0's) patches as rows [N OH OW, kh kw C], by conv2d_patches with
    the node's own geometry: conv2d and conv2d_backprop_filter of one image and geometry
    build the same node, so common subexpressions keep one patch matrix for both."""
    patches = e.op("conv2d_patches", node.inputs[0], ksize=list(ksize), **node.attrs)
    shape = e.spec(patches).shape
    return e.shaped(patches, (math.prod(shape[:3]), shape[3]))


def _conv_worth(node: Node, e: Emit, filter_shape: Sequence[int]) -> bool:
    """A plan's (a returned graph keeps the convolution ops ONNX export knows), of static
    shapes and a GEMM of at least GEMM_WORK multiply-adds (the patches of a tiny
    convolution cost more as three more steps than they save)."""
    specs = [e.spec(r) for r in node.inputs]
    if not e.plan or not _static(node.spec, *specs):
        return False
    x = specs[0].shape
    return x[0] * x[1] * x[2] * math.prod(filter_shape) >= GEMM_WORK


def conv2d_as_gemm(node: Node, e: Emit) -> Any:
    """conv2d(x, w) = patches(x) @ w, w seen as [kh kw C, O]: the forward's patches are
    then the very node the filter's gradient reads (see ``filter_grad_as_gemm``)."""
    w = e.spec(node.inputs[1]).shape
    if not _conv_worth(node, e, w):
        return None
    rows = _patch_rows(node, e, w[:2])
    product = e.op("matmul", rows, e.shaped(node.inputs[1], (math.prod(w[:3]), w[3])))
    e.shaped(product, node.spec.shape)
    return e.nodes


def filter_grad_as_gemm(node: Node, e: Emit) -> Any:
    """conv2d_backprop_filter(x, g, w) = patches(x)ᵀ @ g, g seen as [N OH OW, O]."""
    w = node.spec.shape
    if not _conv_worth(node, e, w):
        return None
    rows = _patch_rows(node, e, w[:2])
    g = e.shaped(node.inputs[1], (e.spec(rows).shape[0], w[3]))
    e.shaped(e.op("matmul", rows, g, transpose_a=True), w)
    return e.nodes


# -- broadcasting undone, transposes, reshapes ----------------------------------------------

def _times(e: Emit, ref: Ref, count: int, spec: TensorSpec) -> Any:
    """``ref`` * count, of ``spec`` (``ref`` itself when count is 1)."""
    if count != 1:
        ref = e.op("mul", ref, e.constant(np.asarray(count, dtype=spec.dtype)))
    return _done(e, e.shaped(ref, spec.shape))


def sum_of_broadcast(node: Node, e: Emit) -> Any:
    """Summing a broadcast back (sum_to_shape to the source's shape, or a sum over all
    axes) adds ``count`` copies of each source element: source * count (source if 1)."""
    if node.op not in ("sum_to_shape", "sum") or node.inputs[0][1] != 0:
        return None
    b = e.node(node.inputs[0][0])
    if b.op != "broadcast_to" or not _static(b.spec, e.spec(b.inputs[0])):
        return None
    x = b.inputs[0]
    size = math.prod(e.spec(x).shape)
    if not size:
        return None
    count = math.prod(b.spec.shape) // size
    if node.op == "sum_to_shape":
        if tuple(node.spec.shape) != tuple(e.spec(x).shape):
            return None
        return _times(e, x, count, node.spec)
    if len(normalize_axes(node.attrs["axis"], len(b.spec.shape))) != len(b.spec.shape):
        return None
    if size != 1:
        x = e.op("sum", x)
    return _times(e, x, count, node.spec)


def _perm(node: Node, rank: int) -> tuple[int, ...]:
    perm = node.attrs["perm"]
    return tuple(reversed(range(rank))) if perm is None else tuple(p % rank for p in perm)


def transpose_of_transpose(node: Node, e: Emit) -> Any:
    """transpose(transpose(x, p), q) = transpose(x, p∘q); the identity permutation is x."""
    if node.op != "transpose":
        return None
    rank = len(node.spec.shape)
    perm = _perm(node, rank)
    x = node.inputs[0]
    inner = e.node(x[0])
    if inner.op == "transpose":
        first = _perm(inner, rank)
        perm, x = tuple(first[p] for p in perm), inner.inputs[0]
    if perm == tuple(range(rank)):
        return x
    return None if x == node.inputs[0] else _done(e, e.op("transpose", x, perm=list(perm)))


def reshape_of_reshape(node: Node, e: Emit) -> Any:
    """reshape(reshape(x)) = reshape(x) (elements keep their order); to x's own shape: x."""
    if node.op != "reshape" or not _static(node.spec):
        return None
    x = node.inputs[0]
    while e.node(x[0]).op == "reshape":
        x = e.node(x[0]).inputs[0]
    if not _static(e.spec(x)):
        return None
    if tuple(e.spec(x).shape) == tuple(node.spec.shape):
        return x
    return None if x == node.inputs[0] else _done(e, e.op("reshape", x,
                                                           shape=list(node.spec.shape)))


_ZEROS = frozenset({"fill", "zeros_like", "constant"})


def _all_zero(node: Node, sign: int) -> bool:
    """All zeros, known without running anything; ``sign`` -1 (+1): every one is -0 (+0)."""
    if node.op == "fill" and not node.inputs:
        v = np.asarray(node.attrs["value"])
    elif node.op == "constant" and node.value is not None and node.value.size <= SMALL:
        v = node.value
    else:
        return False
    return bool(np.all(v == 0)) and (sign == 0 or bool(np.all(np.signbit(v) == (sign < 0))))


def plus_zero(node: Node, e: Emit) -> Any:
    """x + 0 = x and x - 0 = x where exact: integer x (no signed zeros), or a float zero
    of the sign that keeps every x (x + -0 and x - +0 are x, -0 included). x + +0 is kept
    for float x (-0 + +0 is +0), except that a ``zeros_like`` the pass may rewrite is
    autodiff's own zero (an input without a tangent, an unconnected cotangent): the peers
    hold those as symbolic zeros and never add them, so dropping it gives their answer."""
    if node.op not in ("add", "sub"):
        return None
    for i, z in ((0, 1), (1, 0)) if node.op == "add" else ((0, 1),):
        x, zero = node.inputs[i], e.node(node.inputs[z][0])
        if zero.op not in _ZEROS or e.spec(x) != node.spec:  # the cheap refusal first
            continue
        floating = node.spec.dtype.startswith(("float", "bfloat", "complex"))
        sign = 0 if not floating else (-1 if node.op == "add" else 1)
        if (zero.op == "zeros_like" and not e.user) or _all_zero(zero, sign):
            return x
    return None


# -- x * 1, identity ------------------------------------------------------------------------

_ONES = frozenset({"fill", "ones_like", "constant"})


def _is_ones(node: Node) -> bool:
    """A tensor known to be all ones without running anything."""
    if node.op == "fill" and not node.inputs:
        return node.attrs.get("value") == 1
    if node.op == "ones_like":
        return True
    if node.op == "constant" and node.value is not None and node.value.size <= SMALL:
        v = node.value
        return v.item() == 1 if v.size == 1 else bool(np.all(v == 1))
    return False


def times_one(node: Node, e: Emit) -> Ref | None:
    """x * 1 = x (exact: NaN * 1 is NaN, inf * 1 is inf, -0 * 1 is -0), when broadcasting
    against the ones changes nothing."""
    for i, ones in ((0, 1), (1, 0)):
        x, one = node.inputs[i], e.node(node.inputs[ones][0])
        if one.op in _ONES and _is_ones(one) and e.spec(x) == node.spec:
            return x
    return None


def identity(node: Node, e: Emit) -> Ref | None:
    """identity(x) = x."""
    return node.inputs[0]


# -- a constant of one value, broadcast ----------------------------------------------------

def _one_value(node: Node) -> np.ndarray | None:
    """A constant of more than one element, all of the same bits (so -0 and +0 differ),
    not NaN (NaN op NaN keeps one operand's sign, and which one numpy's loops may not
    agree on), as a 0-d array of its dtype; else None."""
    v = node.value
    if node.op != "constant" or v is None or not 1 < v.size <= SMALL:
        return None
    first = v.reshape(-1)[:1]
    if v.tobytes() != first.tobytes() * v.size or bool(first[0] != first[0]):
        return None
    return first.reshape(())


def one_value_operand(node: Node, e: Emit) -> Any:
    """x op c = x op c0 for a constant c of one value c0 (the mean's seed spread to
    [64, 1]) when x has the result's shape: the same arithmetic per element, and numpy
    broadcasts a 0-d operand ~3x faster than a column ([64, 10]: 1.0 -> 0.36 us)."""
    for i, c in ((0, 1), (1, 0)):
        x = node.inputs[i]
        if e.spec(x) != node.spec:
            continue
        value = _one_value(e.node(node.inputs[c][0]))
        if value is None:
            continue
        scalar = e.constant(value)
        e.op(node.op, *((x, scalar) if i == 0 else (scalar, x)))
        return e.nodes
    return None


def _is_zeros(node: Node) -> bool:
    """A zero ``plus_zero`` may drop (of either sign, or autodiff's own ``zeros_like``)."""
    return node.op == "zeros_like" or _all_zero(node, 0)


def _is_one_value(node: Node) -> bool:
    return _one_value(node) is not None


#: For the ops whose every rule needs one input of a kind (x * 1 a ones, x + 0 a zeros,
#: x op c a constant of one value), the test of an input's node: ``simplify`` tries their
#: rules only if one input passes (most products have no ones in them; the chain's each
#: multiply by its constant eps).
NEEDS: dict[str, Callable[[Node], bool]] = {
    "mul": lambda n: _is_ones(n) or _is_one_value(n),
    "add": lambda n: _is_zeros(n) or _is_one_value(n),
    "sub": lambda n: _is_zeros(n) or _is_one_value(n),
    "div": _is_one_value,
}
#: The only ops of an input that a test of ``NEEDS`` can pass (its cheap refusal first).
KNOWN_VALUES = _ONES | _ZEROS

#: The rules tried on a node, by its op, in order.
RULES: dict[str, tuple[Rule, ...]] = {
    "mul": (times_one, one_value_operand),
    "identity": (identity,),
    "add": (plus_zero, one_value_operand),
    "sub": (plus_zero, one_value_operand),
    "div": (one_value_operand,),
    "sum": (sum_of_matmul, sum_of_broadcast),
    "sum_to_shape": (sum_of_broadcast,),
    "matmul": (matmul_of_constant,),
    "transpose": (transpose_of_transpose,),
    "reshape": (reshape_of_reshape,),
    "conv2d": (conv2d_as_gemm,),
    "conv2d_backprop_filter": (filter_grad_as_gemm,),
}
