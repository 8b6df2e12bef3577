"""THE export table: each engine op (gradient ops included) as ONNX opset-18 nodes.

An entry is a function of the node being exported (``Out``: its input value names, its
input and output specs, its attrs) that writes ONNX nodes and returns the value name of
each output. Windows are NHWC/HWIO here and NCHW/OIHW in ONNX, so they transpose in and
out. conv2d's backprops are ConvTranspose (input) and a Conv with batch and channels
swapped (filter); max_pool's gradient scatters into the positions MaxPool's Indices name;
avg_pool's is a ConvTranspose with a ones filter per channel. Geometry comes from the
engine's own ``Window``, so both sides pad alike.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from engine.graph import Node
from engine.ops.nn import _window
from engine.ops.registry import TensorSpec
from engine.ops.slicing import _strided_index
from engine.ops.windows import window_counts
from engine.shapes import normalize_axis

from .dtypes import TO_ONNX
from .errors import OnnxError

OPSET = 18
INT_MAX, INT_MIN = 2**63 - 1, -(2**63)


def value_info(name: str, spec: TensorSpec) -> Any:
    """A graph (or subgraph) input or output of ``spec``; an unknown dim gets a name of
    its own."""
    dims = [d if d is not None else f"{name}_dim{i}" for i, d in enumerate(spec.shape)]
    return helper.make_tensor_value_info(name, TO_ONNX[spec.dtype], dims)


class Out:
    """The ONNX graph being written, and the engine node being exported."""

    def __init__(self, taken: set[str]):
        self.nodes: list[Any] = []
        self.initializers: list[TensorProto] = []
        self.taken = taken
        self.node: Node | None = None
        self.ins: list[str] = []
        self.in_specs: list[TensorSpec] = []
        self._count = 0

    # -- writing ----------------------------------------------------------------------------

    def fresh(self, hint: str) -> str:
        while True:
            self._count += 1
            name = f"{self.node.name if self.node else 'onnx'}/{hint}_{self._count}"
            if name not in self.taken:
                self.taken.add(name)
                return name

    def op(self, op_type: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any) -> Any:
        """One ONNX node; its output name (or names, when ``n_out`` > 1)."""
        outs = [self.fresh(op_type) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=outs[0],
                                           **attrs))
        return outs if n_out > 1 else outs[0]

    def const(self, value: Any, dtype: str | np.dtype = "int64") -> str:
        array = np.asarray(value, dtype=dtype)
        name = self.fresh("const")
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def ints(self, values: Sequence[int]) -> str:
        return self.const(np.asarray(list(values), dtype=np.int64))

    def fail(self, message: str) -> OnnxError:
        assert self.node is not None
        return OnnxError(message, node=self.node.name, op_type=self.node.op)

    # -- facts about the node ---------------------------------------------------------------

    @property
    def attrs(self) -> Any:
        assert self.node is not None
        return self.node.attrs

    @property
    def outs(self) -> tuple[TensorSpec, ...]:
        assert self.node is not None
        return self.node.outputs

    def static(self, spec: TensorSpec) -> tuple[int, ...]:
        if any(d is None for d in spec.shape):
            raise self.fail(f"exporting it needs static shapes, got {spec}; specialize the "
                            "graph to its feeds first")
        return tuple(int(d) for d in spec.shape)

    def dtype(self, i: int = 0) -> str:
        return self.in_specs[i].dtype

    def scalar(self, value: float, i: int = 0) -> str:
        return self.const(value, self.dtype(i))


Export = Callable[[Out], "str | list[str]"]
EXPORTS: dict[str, Export] = {}


def exports(*names: str) -> Callable[[Export], Export]:
    def register(fn: Export) -> Export:
        for n in names:
            if n in EXPORTS:
                raise RuntimeError(f"engine op {n} is exported twice")
            EXPORTS[n] = fn
        return fn

    return register


def _direct(op_type: str) -> Export:
    return lambda o: o.op(op_type, o.ins)


for _ours, _onnx in {
    "neg": "Neg", "abs": "Abs", "sign": "Sign", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
    "reciprocal": "Reciprocal", "sin": "Sin", "cos": "Cos", "tan": "Tan", "tanh": "Tanh",
    "sigmoid": "Sigmoid", "relu": "Relu", "erf": "Erf", "floor": "Floor", "ceil": "Ceil",
    "round": "Round", "identity": "Identity", "stop_gradient": "Identity",
    "softplus": "Softplus", "elu": "Elu", "selu": "Selu", "logical_not": "Not",
    "add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow", "maximum": "Max",
    "minimum": "Min", "equal": "Equal", "less": "Less", "less_equal": "LessOrEqual",
    "greater": "Greater", "greater_equal": "GreaterOrEqual", "logical_and": "And",
    "logical_or": "Or", "where": "Where", "add_n": "Sum",
}.items():
    exports(_ours)(_direct(_onnx))


# -- composed elementwise ---------------------------------------------------------------------

@exports("expm1")
def _expm1(o: Out) -> str:
    return o.op("Sub", [o.op("Exp", o.ins), o.scalar(1)])


@exports("log1p")
def _log1p(o: Out) -> str:
    return o.op("Log", [o.op("Add", [o.ins[0], o.scalar(1)])])


@exports("rsqrt")
def _rsqrt(o: Out) -> str:
    return o.op("Reciprocal", [o.op("Sqrt", o.ins)])


@exports("square")
def _square(o: Out) -> str:
    return o.op("Mul", [o.ins[0], o.ins[0]])


@exports("squared_difference")
def _squared_difference(o: Out) -> str:
    d = o.op("Sub", o.ins)
    return o.op("Mul", [d, d])


@exports("not_equal")
def _not_equal(o: Out) -> str:
    return o.op("Not", [o.op("Equal", o.ins)])


@exports("relu6")
def _relu6(o: Out) -> str:
    return o.op("Clip", [o.ins[0], o.scalar(0), o.scalar(6)])


@exports("relu_grad")
def _relu_grad(o: Out) -> str:
    """g * (x > 0), a product (a NaN upstream stays NaN), as the engine computes it"""
    g, x = o.ins
    mask = o.op("Cast", [o.op("Greater", [x, o.scalar(0, 1)])], to=TO_ONNX[o.dtype(0)])
    return o.op("Mul", [g, mask])


@exports("relu6_grad")
def _relu6_grad(o: Out) -> str:
    """g * (0 < x < 6), or x <= 6 with passes_six (MindSpore's), a product as relu_grad"""
    g, x = o.ins
    above = o.op("Greater", [x, o.scalar(0, 1)])
    below = o.op("LessOrEqual" if o.attrs["passes_six"] else "Less", [x, o.scalar(6, 1)])
    mask = o.op("Cast", [o.op("And", [above, below])], to=TO_ONNX[o.dtype(0)])
    return o.op("Mul", [g, mask])


@exports("gelu")
def _gelu(o: Out) -> str:
    x = o.ins[0]
    if o.attrs["approximate"]:
        cube = o.op("Mul", [o.op("Mul", [x, x]), x])
        inner = o.op("Mul", [o.op("Add", [x, o.op("Mul", [cube, o.scalar(0.044715)])]),
                             o.scalar(math.sqrt(2 / math.pi))])
        core = o.op("Tanh", [inner])
    else:
        core = o.op("Erf", [o.op("Mul", [x, o.scalar(1 / math.sqrt(2))])])
    return o.op("Mul", [o.op("Mul", [x, o.scalar(0.5)]), o.op("Add", [core, o.scalar(1)])])


@exports("cast")
def _cast(o: Out) -> str:
    return o.op("Cast", o.ins, to=TO_ONNX[o.attrs["dtype"]])


# -- reductions ----------------------------------------------------------------------------------

def _reduce(op_type: str) -> Export:
    def export(o: Out) -> str:
        axis = o.attrs["axis"]
        keep = int(o.attrs["keepdims"])
        if axis is None:
            return o.op(op_type, o.ins, keepdims=keep)
        axes = [axis] if isinstance(axis, int) else list(axis)
        if not axes:
            return o.op("Identity", o.ins)
        return o.op(op_type, [o.ins[0], o.ints(axes)], keepdims=keep)

    return export


for _ours, _onnx in {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax",
                     "min": "ReduceMin", "prod": "ReduceProd",
                     "logsumexp": "ReduceLogSumExp"}.items():
    exports(_ours)(_reduce(_onnx))


@exports("reduction_count")
def _reduction_count(o: Out) -> str:
    shape = o.static(o.in_specs[0])
    return o.const(math.prod(shape[a] for a in o.attrs["axis"]), o.dtype())


@exports("prod_others")
def _prod_others(o: Out) -> str:
    """product over each slice of all elements but one: the slice laid out K times with
    element i replaced by 1 in copy i, then ReduceProd (exact at zeros, no division)"""
    shape = o.static(o.in_specs[0])
    axes = [normalize_axis(a, len(shape)) for a in o.attrs["axis"]]
    rest = [a for a in range(len(shape)) if a not in axes]
    k = math.prod(shape[a] for a in axes)
    moved = o.op("Transpose", o.ins, perm=axes + rest)
    flat = o.op("Unsqueeze", [o.op("Reshape", [moved, o.ints([k, -1])]), o.ints([0])])
    eye = o.const(np.eye(k, dtype=bool)[:, :, None], "bool")
    copies = o.op("Where", [eye, o.scalar(1), flat])
    others = o.op("ReduceProd", [copies, o.ints([1])], keepdims=0)
    back = o.op("Reshape", [others, o.ints([shape[a] for a in axes + rest])])
    return o.op("Transpose", [back], perm=[int(a) for a in np.argsort(axes + rest)])


@exports("l2_loss")
def _l2_loss(o: Out) -> str:
    x = o.ins[0]
    return o.op("Mul", [o.op("ReduceSum", [o.op("Mul", [x, x])], keepdims=0), o.scalar(0.5)])


# -- linear algebra ------------------------------------------------------------------------------

def _swap_last(o: Out, name: str, rank: int) -> str:
    perm = list(range(rank))
    perm[-2:] = perm[-1], perm[-2]
    return o.op("Transpose", [name], perm=perm)


@exports("matmul")
def _matmul(o: Out) -> str:
    a, b = o.ins
    if o.attrs["transpose_a"]:
        a = _swap_last(o, a, len(o.in_specs[0].shape))
    if o.attrs["transpose_b"]:
        b = _swap_last(o, b, len(o.in_specs[1].shape))
    return o.op("MatMul", [a, b])


@exports("einsum")
def _einsum(o: Out) -> str:
    return o.op("Einsum", o.ins, equation=o.attrs["equation"])


# -- creation, broadcasting and its undoing ---------------------------------------------------

def _filled(o: Out, shape_name: str, value: float, dtype: str) -> str:
    tensor = numpy_helper.from_array(np.asarray([value], dtype=dtype), "value")
    return o.op("ConstantOfShape", [shape_name], value=tensor)


@exports("zeros_like")
def _zeros_like(o: Out) -> str:
    return _filled(o, o.op("Shape", o.ins), 0, o.dtype())


@exports("ones_like")
def _ones_like(o: Out) -> str:
    return _filled(o, o.op("Shape", o.ins), 1, o.dtype())


@exports("fill")
def _fill(o: Out) -> str:
    spec = o.outs[0]
    return _filled(o, o.ints(o.static(spec)), o.attrs["value"], spec.dtype)


@exports("broadcast_to")
def _broadcast_to(o: Out) -> str:
    return o.op("Expand", [o.ins[0], o.ints(o.static(o.outs[0]))])


@exports("broadcast_like")
def _broadcast_like(o: Out) -> str:
    return o.op("Expand", [o.ins[0], o.op("Shape", [o.ins[1]])])


def _sum_to(o: Out, target: tuple[int, ...]) -> str:
    shape = o.static(o.in_specs[0])
    if shape == target:
        return o.op("Identity", [o.ins[0]])
    lead = len(shape) - len(target)
    axes = list(range(lead)) + [lead + i for i, d in enumerate(target)
                                if d == 1 and shape[lead + i] != 1]
    out = o.op("ReduceSum", [o.ins[0], o.ints(axes)], keepdims=1) if axes else o.ins[0]
    return o.op("Reshape", [out, o.ints(target)])


@exports("sum_to_shape", "sum_to_like")
def _sum_to_shape(o: Out) -> str:
    return _sum_to(o, o.static(o.outs[0]))


# -- reshaping -----------------------------------------------------------------------------------

@exports("reshape")
def _reshape(o: Out) -> str:
    return o.op("Reshape", [o.ins[0], o.ints([-1 if d is None else d
                                                for d in o.attrs["shape"]])])


@exports("reshape_like")
def _reshape_like(o: Out) -> str:
    return o.op("Reshape", [o.ins[0], o.op("Shape", [o.ins[1]])])


@exports("expand_dims")
def _expand_dims(o: Out) -> str:
    out_rank = len(o.outs[0].shape)
    axis = o.attrs["axis"]
    axes = [axis] if isinstance(axis, int) else list(axis)
    return o.op("Unsqueeze", [o.ins[0], o.ints([normalize_axis(a, out_rank) for a in axes])])


@exports("squeeze")
def _squeeze(o: Out) -> str:
    shape = o.in_specs[0].shape
    axis = o.attrs["axis"]
    if axis is None:
        axes = [i for i, d in enumerate(shape) if d == 1]
    else:
        axes = [normalize_axis(a, len(shape)) for a in ([axis] if isinstance(axis, int)
                                                        else axis)]
    return o.op("Squeeze", [o.ins[0], o.ints(axes)]) if axes else o.op("Identity", o.ins)


@exports("transpose")
def _transpose(o: Out) -> str:
    perm = o.attrs["perm"]
    rank = len(o.in_specs[0].shape)
    return o.op("Transpose", o.ins, perm=list(perm) if perm is not None
                else list(range(rank))[::-1])


@exports("concat")
def _concat(o: Out) -> str:
    return o.op("Concat", o.ins, axis=normalize_axis(o.attrs["axis"], len(o.outs[0].shape)))


@exports("stack")
def _stack(o: Out) -> str:
    axis = normalize_axis(o.attrs["axis"], len(o.outs[0].shape))
    return o.op("Concat", [o.op("Unsqueeze", [x, o.ints([axis])]) for x in o.ins], axis=axis)


def _split_sizes(o: Out, axis: int) -> list[str]:
    sizes = [o.static(s)[axis] for s in o.outs]
    return o.op("Split", [o.ins[0], o.ints(sizes)], n_out=len(sizes), axis=axis) \
        if len(sizes) > 1 else [o.op("Identity", [o.ins[0]])]


@exports("split", "split_like")
def _split(o: Out) -> list[str]:
    return _split_sizes(o, normalize_axis(o.attrs["axis"], len(o.in_specs[0].shape)))


# -- slicing and gathering ---------------------------------------------------------------------

def _numpy_index(o: Out) -> tuple[Any, ...]:
    attrs = o.attrs
    if o.node is not None and o.node.op == "slice":
        from engine.ops.slicing import _slice_as_strided

        attrs = _slice_as_strided(attrs, len(o.in_specs[0].shape))
    like = o.in_specs[1] if o.node is not None and o.node.op == "strided_slice_grad" \
        else o.in_specs[0]
    return _strided_index(attrs, len(like.shape))


@exports("strided_slice", "slice")
def _strided_slice(o: Out) -> str:
    """Slice per listed axis; a shrunk axis is a slice of one, squeezed after"""
    index = _numpy_index(o)
    starts, ends, axes, steps, shrink = [], [], [], [], []
    for a, item in enumerate(index):
        if isinstance(item, int):
            starts.append(item)
            ends.append(item + 1 if item != -1 else INT_MAX)
            steps.append(1)
            shrink.append(a)
        else:
            step = item.step or 1
            starts.append(item.start if item.start is not None else
                          (0 if step > 0 else INT_MAX))
            ends.append(item.stop if item.stop is not None else
                        (INT_MAX if step > 0 else INT_MIN))
            steps.append(step)
        axes.append(a)
    out = o.op("Slice", [o.ins[0], o.ints(starts), o.ints(ends), o.ints(axes), o.ints(steps)])
    return o.op("Squeeze", [out, o.ints(shrink)]) if shrink else out


def _scatter_static(o: Out, g: str, positions: np.ndarray, size: int,
                    target: tuple[int, ...], reduction: str) -> str:
    """g's elements added (or put) into zeros of ``target`` at flat ``positions``."""
    zeros = _filled(o, o.ints([size]), 0, o.dtype(0))
    flat_g = o.op("Reshape", [g, o.ints([-1])])
    flat = o.op("ScatterElements", [zeros, o.ints(positions.reshape(-1)), flat_g],
                axis=0, reduction=reduction)
    return o.op("Reshape", [flat, o.ints(target)])


@exports("strided_slice_grad")
def _strided_slice_grad(o: Out) -> str:
    like = o.static(o.in_specs[1])
    positions = np.arange(math.prod(like), dtype=np.int64).reshape(like)[_numpy_index(o)]
    return _scatter_static(o, o.ins[0], np.asarray(positions), math.prod(like), like, "none")


def _int64(o: Out, idx: str, i: int) -> str:
    """Input ``i`` (indices) as int64, which ScatterND takes."""
    return idx if o.dtype(i) == "int64" else o.op("Cast", [idx], to=TensorProto.INT64)


@exports("gather")
def _gather(o: Out) -> str:
    axis = normalize_axis(o.attrs["axis"], len(o.in_specs[0].shape))
    return o.op("Gather", o.ins, axis=axis)


@exports("gather_grad")
def _gather_grad(o: Out) -> str:
    """ScatterND with reduction add on the gathered axis moved to the front"""
    g, idx, _ = o.ins
    like = o.static(o.in_specs[2])
    axis = normalize_axis(o.attrs["axis"], len(like))
    k = len(o.in_specs[1].shape)
    rest = like[:axis] + like[axis + 1:]
    idx = o.op("Unsqueeze", [_int64(o, idx, 1), o.ints([-1])])
    g_rank = len(o.in_specs[0].shape)
    perm = list(range(axis, axis + k)) + list(range(axis)) + list(range(axis + k, g_rank))
    if perm != list(range(g_rank)):
        g = o.op("Transpose", [g], perm=perm)
    zeros = _filled(o, o.ints((like[axis], *rest)), 0, o.dtype(0))
    out = o.op("ScatterND", [zeros, idx, g], reduction="add")
    if axis:
        back = [*range(1, axis + 1), 0, *range(axis + 1, len(like))]
        out = o.op("Transpose", [out], perm=back)
    return out


@exports("pad")
def _pad(o: Out) -> str:
    pads = o.attrs["paddings"]
    flat = [b for b, _ in pads] + [a for _, a in pads]
    return o.op("Pad", [o.ins[0], o.ints(flat), o.scalar(o.attrs["constant_values"])],
                mode="constant")


@exports("tile")
def _tile(o: Out) -> str:
    return o.op("Tile", [o.ins[0], o.ints(o.attrs["multiples"])])


@exports("tile_grad")
def _tile_grad(o: Out) -> str:
    like = o.static(o.in_specs[1])
    split = [n for m, d in zip(o.attrs["multiples"], like) for n in (m, d)]
    g = o.op("Reshape", [o.ins[0], o.ints(split)])
    return o.op("ReduceSum", [g, o.ints(range(0, len(split), 2))], keepdims=0)


# -- neural-network ops --------------------------------------------------------------------------

@exports("layer_norm")
def _layer_norm(o: Out) -> str:
    """LayerNormalization where the axes are the trailing ones (as ONNX normalizes)"""
    rank = len(o.in_specs[0].shape)
    axis = o.attrs["axis"]
    axes = sorted(normalize_axis(a, rank) for a in ([axis] if isinstance(axis, int) else axis))
    if axes != list(range(axes[0], rank)):
        raise o.fail(f"layer_norm over axes {axes} (not the trailing ones) has no ONNX form")
    return o.op("LayerNormalization", o.ins, axis=axes[0], epsilon=o.attrs["epsilon"])


@exports("batch_norm")
def _batch_norm(o: Out) -> str:
    """(x - mean) * scale / sqrt(variance + epsilon) + offset, the per-channel tensors
    reshaped onto the channel axis (any axis, so composed rather than
    BatchNormalization's axis 1)"""
    x, scale, offset, mean, variance = o.ins
    rank = len(o.in_specs[0].shape)
    axis = normalize_axis(o.attrs["axis"], rank)
    wide = o.ints([-1 if i == axis else 1 for i in range(rank)])

    def channel(name: str) -> str:
        return o.op("Reshape", [name, wide])

    root = o.op("Sqrt", [o.op("Add", [variance, o.scalar(o.attrs["epsilon"])])])
    gain = channel(o.op("Div", [scale, root]))
    centred = o.op("Sub", [x, channel(mean)])
    return o.op("Add", [o.op("Mul", [centred, gain]), channel(offset)])


@exports("cumsum")
def _cumsum(o: Out) -> str:
    return o.op("CumSum", [o.ins[0], o.ints([o.attrs["axis"]])],
                exclusive=int(o.attrs["exclusive"]), reverse=int(o.attrs["reverse"]))


def _arg(op_type: str) -> Export:
    def export(o: Out) -> str:
        rank = len(o.in_specs[0].shape)
        found = o.op(op_type, o.ins, axis=normalize_axis(o.attrs["axis"], rank), keepdims=0)
        kind = o.attrs["output_type"]
        return found if kind == "int64" else o.op("Cast", [found], to=TO_ONNX[kind])

    return export


exports("argmax")(_arg("ArgMax"))
exports("argmin")(_arg("ArgMin"))


@exports("one_hot")
def _one_hot(o: Out) -> str:
    """OneHot; a negative index (all off for us, wrapped by ONNX) moved out of range"""
    (idx,) = o.ins
    depth = o.attrs["depth"]
    outside = o.op("Where", [o.op("Less", [idx, o.const(0, o.dtype())]),
                             o.const(depth, o.dtype()), idx])
    values = o.const([o.attrs["off_value"], o.attrs["on_value"]], o.attrs["dtype"])
    rank = len(o.in_specs[0].shape) + 1
    return o.op("OneHot", [outside, o.const(depth, "int64"), values],
                axis=normalize_axis(o.attrs["axis"], rank))


@exports("floor_mod")
def _floor_mod(o: Out) -> str:
    """Mod (fmod 0) on integers; x - floor(x / y) y on floats"""
    x, y = o.ins
    if not o.dtype().startswith("float"):
        return o.op("Mod", [x, y], fmod=0)
    return o.op("Sub", [x, o.op("Mul", [o.op("Floor", [o.op("Div", [x, y])]), y])])


@exports("truncate_div")
def _truncate_div(o: Out) -> str:
    """Div on integers (toward zero in ONNX); on floats the quotient's Floor, or its Ceil
    where it is negative"""
    x, y = o.ins
    quotient = o.op("Div", [x, y])
    if not o.dtype().startswith("float"):
        return quotient
    return o.op("Where", [o.op("Less", [quotient, o.scalar(0)]), o.op("Ceil", [quotient]),
                          o.op("Floor", [quotient])])


@exports("atan2")
def _atan2(o: Out) -> str:
    """atan(y / x), moved by pi where x < 0, and +-pi/2 or 0 where x = 0"""
    y, x = o.ins
    zero = o.scalar(0)
    base = o.op("Atan", [o.op("Div", [y, x])])
    turned = o.op("Where", [o.op("GreaterOrEqual", [y, zero]),
                            o.op("Add", [base, o.scalar(math.pi)]),
                            o.op("Sub", [base, o.scalar(math.pi)])])
    upright = o.op("Where", [o.op("Greater", [y, zero]), o.scalar(math.pi / 2),
                             o.op("Where", [o.op("Less", [y, zero]),
                                            o.scalar(-math.pi / 2), zero])])
    return o.op("Where", [o.op("Greater", [x, zero]), base,
                          o.op("Where", [o.op("Less", [x, zero]), turned, upright])])


@exports("softmax")
def _softmax(o: Out) -> str:
    return o.op("Softmax", o.ins, axis=normalize_axis(o.attrs["axis"],
                                                      len(o.in_specs[0].shape)))


@exports("log_softmax")
def _log_softmax(o: Out) -> str:
    return o.op("LogSoftmax", o.ins, axis=normalize_axis(o.attrs["axis"],
                                                         len(o.in_specs[0].shape)))


@exports("softmax_cross_entropy_with_logits")
def _softmax_xent(o: Out) -> list[str]:
    labels, logits = o.ins
    axis = normalize_axis(o.attrs["axis"], len(o.in_specs[1].shape))
    log_p = o.op("LogSoftmax", [logits], axis=axis)
    loss = o.op("Neg", [o.op("ReduceSum", [o.op("Mul", [labels, log_p]), o.ints([axis])],
                             keepdims=0)])
    backprop = o.op("Sub", [o.op("Exp", [log_p]), labels])  # the kernels' softmax - labels
    return [loss, backprop]


@exports("sigmoid_cross_entropy_with_logits")
def _sigmoid_xent(o: Out) -> str:
    z, x = o.ins
    soft = o.op("Log", [o.op("Add", [o.op("Exp", [o.op("Neg", [o.op("Abs", [x])])]),
                                     o.scalar(1)])])
    return o.op("Add", [o.op("Sub", [o.op("Max", [x, o.scalar(0)]), o.op("Mul", [x, z])]),
                        soft])


NHWC_TO_NCHW, NCHW_TO_NHWC, HWIO_TO_OIHW = [0, 3, 1, 2], [0, 2, 3, 1], [3, 2, 0, 1]


def _geometry(o: Out, like: TensorSpec, size: tuple[int, int]) -> tuple[Any, Any, list[int]]:
    """The engine's window and layout, and ONNX pads [top, left, bottom, right]."""
    shape = o.static(like)
    win = _window(o.attrs, size)
    lay = win.layout(shape[1], shape[2])
    pads = [lay.top, lay.left, lay.hp - lay.h - lay.top, lay.wp - lay.w - lay.left]
    return win, lay, pads


def _window_attrs(win: Any, pads: list[int], dilations: bool = True) -> dict[str, Any]:
    attrs = dict(kernel_shape=list(win.size), strides=list(win.strides), pads=pads)
    if dilations:
        attrs["dilations"] = list(win.dilations)
    return attrs


def _nchw(o: Out, name: str) -> str:
    return o.op("Transpose", [name], perm=NHWC_TO_NCHW)


def _nhwc(o: Out, name: str) -> str:
    return o.op("Transpose", [name], perm=NCHW_TO_NHWC)


def _transposed_conv(o: Out, g: str, w_oihw: str, win: Any, lay: Any, group: int = 1) -> str:
    """ConvTranspose back onto the input's positions (the padding cropped away)."""
    full = [(n - 1) * s + win.span(a) for a, (n, s) in enumerate(((lay.oh, win.strides[0]),
                                                                  (lay.ow, win.strides[1])))]
    end = [full[0] - lay.top - lay.h, full[1] - lay.left - lay.w]
    extra = [max(-e, 0) for e in end]
    pads = [lay.top, lay.left, max(end[0], 0), max(end[1], 0)]
    return o.op("ConvTranspose", [g, w_oihw], strides=list(win.strides),
                dilations=list(win.dilations), pads=pads, output_padding=extra,
                kernel_shape=list(win.size), group=group)


@exports("conv2d")
def _conv2d(o: Out) -> str:
    x, w = o.ins
    size = o.static(o.in_specs[1])[:2]
    win, _, pads = _geometry(o, o.in_specs[0], size)
    y = o.op("Conv", [_nchw(o, x), o.op("Transpose", [w], perm=HWIO_TO_OIHW)],
             **_window_attrs(win, pads))
    return _nhwc(o, y)


@exports("conv2d_backprop_input", "conv2d_transpose")
def _conv2d_backprop_input(o: Out) -> str:
    """conv2d_backprop_input(g, w, input) and conv2d_transpose(g, w, output_shape): the
    same ConvTranspose onto the positions of an input of those sizes"""
    if o.node is not None and o.node.op == "conv2d_transpose":
        g, w = o.ins
        like = TensorSpec(tuple(o.attrs["output_shape"]), o.dtype(0))
    else:
        g, w, _ = o.ins
        like = o.in_specs[2]
    size = o.static(o.in_specs[1])[:2]
    win, lay, _ = _geometry(o, like, size)
    w_oihw = o.op("Transpose", [w], perm=HWIO_TO_OIHW)
    return _nhwc(o, _transposed_conv(o, _nchw(o, g), w_oihw, win, lay))


@exports("conv2d_backprop_filter")
def _conv2d_backprop_filter(o: Out) -> str:
    """dW[i, j, c, k] = sum over n, p, q of xpad[n, p s + i d, q s + j d, c] g[n, p, q, k]:
    a Conv of x as (C, N, H, W) with g as (K, N, OH, OW), strides and dilations swapped"""
    x, g, _ = o.ins
    kh, kw = o.static(o.in_specs[2])[:2]
    win, _, pads = _geometry(o, o.in_specs[0], (kh, kw))
    xc = o.op("Transpose", [x], perm=[3, 0, 1, 2])
    gc = o.op("Transpose", [g], perm=[3, 0, 1, 2])
    dw = o.op("Conv", [xc, gc], strides=list(win.dilations), dilations=list(win.strides),
              pads=pads)
    dw = o.op("Slice", [dw, o.ints([0, 0]), o.ints([kh, kw]), o.ints([2, 3])])
    return o.op("Transpose", [dw], perm=[2, 3, 0, 1])


@exports("max_pool")
def _max_pool(o: Out) -> str:
    win, _, pads = _geometry(o, o.in_specs[0], o.attrs["ksize"])
    return _nhwc(o, o.op("MaxPool", [_nchw(o, o.ins[0])], **_window_attrs(win, pads, False)))


def _argmax_positions(o: Out, x: str) -> str:
    """Flat NCHW positions of each window's first maximum (MaxPool's Indices)."""
    win, _, pads = _geometry(o, o.in_specs[0], o.attrs["ksize"])
    _, indices = o.op("MaxPool", [_nchw(o, x)], n_out=2, **_window_attrs(win, pads, False))
    return indices


@exports("max_pool_grad")
def _max_pool_grad(o: Out) -> str:
    x, g = o.ins
    n, h, w, c = o.static(o.in_specs[0])
    indices = o.op("Reshape", [_argmax_positions(o, x), o.ints([-1])])
    zeros = _filled(o, o.ints([n * c * h * w]), 0, o.dtype(0))
    flat_g = o.op("Reshape", [_nchw(o, g), o.ints([-1])])
    flat = o.op("ScatterElements", [zeros, indices, flat_g], axis=0, reduction="add")
    return _nhwc(o, o.op("Reshape", [flat, o.ints([n, c, h, w])]))


@exports("max_pool_grad_grad")
def _max_pool_grad_grad(o: Out) -> str:
    x, t = o.ins
    flat_t = o.op("Reshape", [_nchw(o, t), o.ints([-1])])
    return _nhwc(o, o.op("Gather", [flat_t, _argmax_positions(o, x)], axis=0))


@exports("avg_pool")
def _avg_pool(o: Out) -> str:
    win, _, pads = _geometry(o, o.in_specs[0], o.attrs["ksize"])
    return _nhwc(o, o.op("AveragePool", [_nchw(o, o.ins[0])], count_include_pad=0,
                         **_window_attrs(win, pads, False)))


@exports("avg_pool_grad")
def _avg_pool_grad(o: Out) -> str:
    """each cell's share (g / cells inside its window) spread back by a ConvTranspose with
    a ones filter per channel"""
    g, _ = o.ins
    c = o.static(o.in_specs[1])[3]
    win, lay, _ = _geometry(o, o.in_specs[1], o.attrs["ksize"])
    counts = window_counts(win, lay, np.dtype(o.dtype(0)))[:, :, 0][None, None]
    share = o.op("Div", [_nchw(o, g), o.const(counts, o.dtype(0))])
    ones = o.const(np.ones((c, 1, *win.size)), o.dtype(0))
    return _nhwc(o, _transposed_conv(o, share, ones, win, lay, group=c))
