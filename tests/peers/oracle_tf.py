"""Answer wire-format /gradients requests with real TensorFlow (tf.compat.v1 graph mode,
control flow v2): the wire graph is translated node by node into TF ops."""
from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from .wire import plain

v1 = tf.compat.v1
v1.disable_eager_execution()
v1.enable_control_flow_v2()


def _axis(a: dict[str, Any]) -> Any:
    return a.get("axis")


def _red(fn):
    return lambda x, a: fn(x, axis=_axis(a), keepdims=a.get("keepdims", False))


def _pool(fn):
    return lambda x, a: fn(x, ksize=a["ksize"], strides=a.get("strides", 1),
                           padding=a.get("padding", "VALID"))


UNARY = {
    "neg": tf.negative, "abs": tf.abs, "sign": tf.sign, "exp": tf.exp, "expm1": tf.math.expm1,
    "log": tf.math.log, "log1p": tf.math.log1p, "sqrt": tf.sqrt, "rsqrt": tf.math.rsqrt,
    "square": tf.square, "reciprocal": tf.math.reciprocal, "sin": tf.sin, "cos": tf.cos,
    "tan": tf.tan, "tanh": tf.tanh, "sigmoid": tf.sigmoid, "relu": tf.nn.relu,
    "relu6": tf.nn.relu6, "elu": tf.nn.elu, "selu": tf.nn.selu, "softplus": tf.nn.softplus,
    "erf": tf.math.erf, "floor": tf.floor, "ceil": tf.math.ceil, "round": tf.round,
    "identity": tf.identity, "stop_gradient": tf.stop_gradient, "zeros_like": tf.zeros_like,
    "ones_like": tf.ones_like, "silu": tf.nn.silu, "l2_loss": tf.nn.l2_loss,
    "matrix_diag": tf.linalg.diag, "matrix_diag_part": tf.linalg.diag_part,
}
BINARY = {
    "add": tf.add, "sub": tf.subtract, "mul": tf.multiply, "div": tf.truediv, "pow": tf.pow,
    "maximum": tf.maximum, "minimum": tf.minimum, "squared_difference":
    tf.math.squared_difference, "atan2": tf.atan2, "equal": tf.equal, "not_equal":
    tf.not_equal, "less": tf.less, "less_equal": tf.less_equal, "greater": tf.greater,
    "greater_equal": tf.greater_equal, "logical_and": tf.logical_and, "logical_or":
    tf.logical_or, "div_no_nan": tf.math.divide_no_nan, "mul_no_nan": tf.math.multiply_no_nan,
    "xlogy": tf.math.xlogy, "xlog1py": tf.math.xlog1py, "xdivy": tf.math.xdivy,
    "floor_mod": tf.math.floormod, "floor_div": tf.math.floordiv,
    "sigmoid_cross_entropy_with_logits":
        lambda lab, lg: tf.nn.sigmoid_cross_entropy_with_logits(labels=lab, logits=lg),
}
WITH_ATTRS = {
    "cast": lambda x, a: tf.cast(x, a["dtype"]),
    "gelu": lambda x, a: tf.nn.gelu(x, approximate=a.get("approximate", False)),
    "sum": _red(tf.reduce_sum), "mean": _red(tf.reduce_mean), "max": _red(tf.reduce_max),
    "min": _red(tf.reduce_min), "prod": _red(tf.reduce_prod),
    "logsumexp": _red(tf.reduce_logsumexp),
    "reduce_euclidean_norm": _red(tf.math.reduce_euclidean_norm),
    "reshape": lambda x, a: tf.reshape(x, a["shape"]),
    "transpose": lambda x, a: tf.transpose(x, a.get("perm")),
    "expand_dims": lambda x, a: tf.expand_dims(x, a["axis"]),
    "squeeze": lambda x, a: tf.squeeze(x, a.get("axis")),
    "broadcast_to": lambda x, a: tf.broadcast_to(x, a["shape"]),
    "slice": lambda x, a: tf.slice(x, a["begin"], a["size"]),
    "strided_slice": lambda x, a: tf.strided_slice(x, a["begin"], a["end"], a.get("strides")),
    "pad": lambda x, a: tf.pad(x, a["paddings"], constant_values=a.get("constant_values", 0)),
    "tile": lambda x, a: tf.tile(x, a["multiples"]),
    "softmax": lambda x, a: tf.nn.softmax(x, axis=a.get("axis", -1)),
    "log_softmax": lambda x, a: tf.nn.log_softmax(x, axis=a.get("axis", -1)),
    "max_pool": _pool(tf.nn.max_pool2d), "avg_pool": _pool(tf.nn.avg_pool2d),
    "leaky_relu": lambda x, a: tf.nn.leaky_relu(x, alpha=a.get("alpha", 0.2)),
    "cumsum": lambda x, a: tf.cumsum(x, axis=a.get("axis", 0), exclusive=a.get("exclusive",
                                     False), reverse=a.get("reverse", False)),
    "cumprod": lambda x, a: tf.math.cumprod(x, axis=a.get("axis", 0), exclusive=a.get(
        "exclusive", False), reverse=a.get("reverse", False)),
    "one_hot": lambda x, a: tf.one_hot(x, a["depth"], on_value=a.get("on_value", 1.0),
                                       off_value=a.get("off_value", 0.0), axis=a.get("axis", -1),
                                       dtype=a.get("dtype", tf.float32)),
    "reverse": lambda x, a: tf.reverse(x, a["axis"] if isinstance(a["axis"], list)
                                       else [a["axis"]]),
    "argmax": lambda x, a: tf.argmax(x, axis=a.get("axis", 0), output_type=tf.int32),
    "argmin": lambda x, a: tf.argmin(x, axis=a.get("axis", 0), output_type=tf.int32),
    "split": lambda x, a: tf.split(x, a["num_or_size_splits"], axis=a.get("axis", 0)),
}
MANY = {
    "add_n": lambda xs, a: tf.add_n(xs),
    "concat": lambda xs, a: tf.concat(xs, a.get("axis", 0)),
    "stack": lambda xs, a: tf.stack(xs, a.get("axis", 0)),
    "einsum": lambda xs, a: tf.einsum(a["equation"], *xs),
    "where": lambda xs, a: tf.where(*xs),
    "matmul": lambda xs, a: tf.linalg.matmul(xs[0], xs[1], transpose_a=a.get("transpose_a",
                                             False), transpose_b=a.get("transpose_b", False)),
    "tensordot": lambda xs, a: tf.tensordot(xs[0], xs[1], a["axes"]),
    "gather": lambda xs, a: tf.gather(xs[0], xs[1], axis=a.get("axis", 0),
                                      batch_dims=a.get("batch_dims", 0)),
    "softmax_cross_entropy_with_logits": lambda xs, a: tf.nn.softmax_cross_entropy_with_logits(
        labels=xs[0], logits=xs[1], axis=a.get("axis", -1)),
    "sparse_softmax_cross_entropy_with_logits":
        lambda xs, a: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=xs[0], logits=xs[1]),
    "conv2d": lambda xs, a: tf.nn.conv2d(xs[0], xs[1], strides=a.get("strides", 1),
                                         padding=a.get("padding", "VALID"),
                                         dilations=a.get("dilations", 1)),
    "depthwise_conv2d": lambda xs, a: tf.nn.depthwise_conv2d(
        xs[0], xs[1], strides=_four(a.get("strides", 1)), padding=a.get("padding", "VALID"),
        dilations=_two(a.get("dilations", 1))),
    "conv2d_transpose": lambda xs, a: tf.nn.conv2d_transpose(
        xs[0], xs[1], a["output_shape"], strides=a.get("strides", 1),
        padding=a.get("padding", "VALID")),
    "clip_by_value": lambda xs, a: tf.clip_by_value(*xs),
    "unsorted_segment_sum": lambda xs, a: tf.math.unsorted_segment_sum(xs[0], xs[1],
                                                                       a["num_segments"]),
    "unsorted_segment_max": lambda xs, a: tf.math.unsorted_segment_max(xs[0], xs[1],
                                                                       a["num_segments"]),
    "unsorted_segment_min": lambda xs, a: tf.math.unsorted_segment_min(xs[0], xs[1],
                                                                       a["num_segments"]),
    "batch_norm": lambda xs, a: tf.nn.batch_normalization(
        xs[0], xs[3], xs[4], xs[2], xs[1], a.get("epsilon", 1e-3)),
    "layer_norm": lambda xs, a: _layer_norm(xs, a),
}


def _two(v: Any) -> list[int]:
    return [v, v] if isinstance(v, int) else list(v)[-3:-1] if len(v) == 4 else list(v)


def _four(v: Any) -> list[int]:
    return [1, *_two(v), 1]


def _layer_norm(xs: list[Any], a: dict[str, Any]) -> Any:
    """keras' LayerNormalization: moments over ``axis``, then batch_normalization."""
    x, gamma, beta = xs
    axis = a.get("axis", -1)
    axes = axis if isinstance(axis, list) else [axis]
    mean, var = tf.nn.moments(x, axes, keepdims=True)
    return tf.nn.batch_normalization(x, mean, var, beta, gamma, a.get("epsilon", 1e-3))


def _range(a: dict[str, Any]) -> Any:
    return tf.range(a["start"], a["limit"], a.get("delta", 1), dtype=a.get("dtype", tf.float32))


class Built:
    """The TF tensors of one wire graph: ``ref("n:k")`` gives output k of node n."""

    def __init__(self, desc: dict[str, Any], bound: dict[str, Any] | None = None):
        self.values: dict[str, Any] = {}
        self.placeholders: dict[str, Any] = {}
        for node in desc["nodes"]:
            self.values[node["name"]] = self._node(node, bound or {})

    def ref(self, r: str) -> Any:
        name, _, k = r.partition(":")
        v = self.values[name]
        if isinstance(v, (list, tuple)):
            return v[int(k or 0)]
        return v

    def _node(self, node: dict[str, Any], bound: dict[str, Any]) -> Any:
        kind = node["op"].lower()
        dtype = node.get("dtype", "float32")
        if kind == "placeholder":
            if node["name"] in bound:
                return bound[node["name"]]
            p = v1.placeholder(dtype, node.get("shape"), name=node["name"])
            self.placeholders[node["name"]] = p
            return p
        if kind == "constant":
            return tf.constant(np.array(plain(node["value"]), dtype=dtype))
        if kind in ("variable", "parameter"):
            return v1.Variable(np.array(plain(node["value"]), dtype=dtype), name=node["name"],
                               use_resource=True)
        a = node.get("attrs", {})
        xs = [self.ref(i) for i in node.get("inputs", [])]
        if kind in UNARY:
            return UNARY[kind](xs[0])
        if kind in BINARY:
            return BINARY[kind](xs[0], xs[1])
        if kind in WITH_ATTRS:
            return WITH_ATTRS[kind](xs[0], a)
        if kind in MANY:
            return MANY[kind](xs, a)
        if kind == "range":
            return _range(a)
        if kind == "logical_not":
            return tf.logical_not(xs[0])
        if kind == "cond":
            return _cond(xs, a)
        if kind == "while_loop":
            return _while(xs, a)
        raise KeyError(f"no TensorFlow translation for op {kind!r}")


def _subgraph(desc: dict[str, Any], args: list[Any]) -> list[Any]:
    names = desc.get("inputs") or [n["name"] for n in desc["nodes"] if n["op"] == "placeholder"]
    built = Built(desc, dict(zip(names, args, strict=True)))
    outs = desc.get("outputs") or [desc["nodes"][-1]["name"]]
    return [built.ref(o) for o in outs]


def _cond(xs: list[Any], a: dict[str, Any]) -> list[Any]:
    pred, operands = xs[0], xs[1:]
    return tf.cond(pred, lambda: _subgraph(a["then_branch"], operands),
                   lambda: _subgraph(a["else_branch"], operands))


def _while(xs: list[Any], a: dict[str, Any]) -> list[Any]:
    n = a["loop_vars"]
    loop_vars, invariants = xs[:n], xs[n:]
    return list(tf.while_loop(
        lambda *lv: _subgraph(a["cond"], [*lv, *invariants])[0],
        lambda *lv: _subgraph(a["body"], [*lv, *invariants]),
        loop_vars, maximum_iterations=a["maximum_iterations"]))


def _feed(built: Built, desc: dict[str, Any], feeds: dict[str, Any]) -> dict[Any, Any]:
    dtypes = {n["name"]: n.get("dtype", "float32") for n in desc["nodes"]}
    out = {}
    for name, value in feeds.items():
        tensor = built.values[name]
        out[tensor] = np.array(plain(value), dtype=dtypes[name])
    return out


def _seed(built: Built, g: Any, y: Any) -> Any:
    if g is None:
        return None
    if isinstance(g, dict):
        return built.ref(g["node"])
    return tf.constant(np.array(plain(g), dtype=y.dtype.as_numpy_dtype))


AGG = {None: None, "add_n": 0, "experimental_tree": 1, "experimental_accumulate_n": 2}


def gradients(req: dict[str, Any], then: dict[str, Any] | None = None) -> list[Any]:
    """tf.gradients of the request (and, with ``then``, of its first answer's gradients)."""
    with tf.Graph().as_default():
        desc = req["graph"]
        built = Built(desc)
        ys = [built.ref(y) for y in req["ys"]]
        xs = [built.ref(x) for x in req["xs"]]
        gys = [_seed(built, g, y) for g, y in zip(req.get("grad_ys") or [None] * len(ys), ys,
                                                   strict=True)]
        grads = tf.gradients(ys, xs, gys, stop_gradients=[built.ref(s) for s in
                                                          req.get("stop_gradients", [])],
                             unconnected_gradients=req.get("unconnected_gradients", "none")
                             .lower(), aggregation_method=AGG[req.get("aggregation_method")])
        if then is not None:
            ys2 = [tf.convert_to_tensor(grads[y["gradient"]]) for y in then["ys"]]
            xs2 = [built.ref(x) for x in then["xs"]]
            gys2 = [_seed(built, g, y) for g, y in zip(then.get("grad_ys") or [None] * len(ys2),
                                                        ys2, strict=True)]
            grads = tf.gradients(ys2, xs2, gys2, unconnected_gradients=then.get(
                "unconnected_gradients", "none").lower())
        grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
                 for g in grads]  # a gather's gradient, densified as the wire answers it
        fetch = [g for g in grads if g is not None]
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            got = iter(sess.run(fetch, _feed(built, desc, req.get("feeds", {}))))
        return [next(got) if g is not None else None for g in grads]
