"""Answer wire-format /grad-operation requests with real MindSpore (PyNative mode, CPU):
a Cell whose ``construct`` walks the wire graph, differentiated by ops.GradOperation."""
from __future__ import annotations

from typing import Any

import mindspore as ms
import numpy as np
from mindspore import Parameter, ParameterTuple, Tensor, nn, ops

from .wire import plain

ms.set_context(mode=ms.PYNATIVE_MODE)
ms.set_device("CPU")

P = ops.operations


def _axis(a: dict[str, Any]) -> Any:
    ax = a.get("axis")
    return () if ax is None else tuple(ax) if isinstance(ax, list) else ax


def _red(prim):
    return lambda xs, a: prim(keep_dims=a.get("keepdims", False))(xs[0], _axis(a))


def _mstype(name: str) -> Any:
    return getattr(ms, name)


OPS = {
    "neg": lambda xs, a: ops.neg(xs[0]), "abs": lambda xs, a: ops.abs(xs[0]),
    "sign": lambda xs, a: ops.sign(xs[0]), "exp": lambda xs, a: ops.exp(xs[0]),
    "expm1": lambda xs, a: ops.expm1(xs[0]), "log": lambda xs, a: ops.log(xs[0]),
    "log1p": lambda xs, a: ops.log1p(xs[0]), "sqrt": lambda xs, a: ops.sqrt(xs[0]),
    "rsqrt": lambda xs, a: ops.rsqrt(xs[0]), "square": lambda xs, a: ops.square(xs[0]),
    "reciprocal": lambda xs, a: ops.reciprocal(xs[0]), "sin": lambda xs, a: ops.sin(xs[0]),
    "cos": lambda xs, a: ops.cos(xs[0]), "tan": lambda xs, a: ops.tan(xs[0]),
    "tanh": lambda xs, a: ops.tanh(xs[0]), "sigmoid": lambda xs, a: ops.sigmoid(xs[0]),
    "relu": lambda xs, a: ops.relu(xs[0]), "relu6": lambda xs, a: ops.relu6(xs[0]),
    "elu": lambda xs, a: ops.elu(xs[0]), "softplus": lambda xs, a: ops.softplus(xs[0]),
    "floor": lambda xs, a: ops.floor(xs[0]), "ceil": lambda xs, a: ops.ceil(xs[0]),
    "round": lambda xs, a: ops.round(xs[0]), "identity": lambda xs, a: xs[0] * 1,
    "stop_gradient": lambda xs, a: ops.stop_gradient(xs[0]),
    "cast": lambda xs, a: ops.cast(xs[0], _mstype(a["dtype"])),
    "add": lambda xs, a: ops.add(xs[0], xs[1]), "sub": lambda xs, a: ops.sub(xs[0], xs[1]),
    "mul": lambda xs, a: ops.mul(xs[0], xs[1]), "div": lambda xs, a: ops.div(xs[0], xs[1]),
    "pow": lambda xs, a: ops.pow(xs[0], xs[1]),
    "maximum": lambda xs, a: ops.maximum(xs[0], xs[1]),
    "minimum": lambda xs, a: ops.minimum(xs[0], xs[1]),
    "squared_difference": lambda xs, a: P.SquaredDifference()(xs[0], xs[1]),
    "add_n": lambda xs, a: ops.addn(list(xs)),
    "sum": _red(P.ReduceSum), "mean": _red(P.ReduceMean), "max": _red(P.ReduceMax),
    "min": _red(P.ReduceMin), "prod": _red(P.ReduceProd),
    "softmax": lambda xs, a: ops.softmax(xs[0], a.get("axis", -1)),
    "log_softmax": lambda xs, a: ops.log_softmax(xs[0], a.get("axis", -1)),
    "softmax_cross_entropy_with_logits":
        lambda xs, a: P.SoftmaxCrossEntropyWithLogits()(xs[1], xs[0]),
    "less": lambda xs, a: ops.less(xs[0], xs[1]),
    "matmul": lambda xs, a: P.MatMul(a.get("transpose_a", False),
                                     a.get("transpose_b", False))(xs[0], xs[1]),
    # v2 ops
    "div_no_nan": lambda xs, a: P.DivNoNan()(xs[0], xs[1]),
    "mul_no_nan": lambda xs, a: P.MulNoNan()(xs[0], xs[1]),
    "xlogy": lambda xs, a: P.Xlogy()(xs[0], xs[1]),
    "xdivy": lambda xs, a: P.Xdivy()(xs[0], xs[1]),
    "floor_mod": lambda xs, a: P.FloorMod()(xs[0], xs[1]),
    "floor_div": lambda xs, a: P.FloorDiv()(xs[0], xs[1]),
    "leaky_relu": lambda xs, a: nn.LeakyReLU(a.get("alpha", 0.2))(xs[0]),
    "silu": lambda xs, a: ops.silu(xs[0]),
    "clip_by_value": lambda xs, a: ops.clip_by_value(xs[0], xs[1], xs[2]),
    "cumsum": lambda xs, a: P.CumSum(a.get("exclusive", False), a.get("reverse", False))(
        xs[0], a.get("axis", 0)),
    "cumprod": lambda xs, a: P.CumProd(a.get("exclusive", False), a.get("reverse", False))(
        xs[0], a.get("axis", 0)),
    "unsorted_segment_sum": lambda xs, a: ops.unsorted_segment_sum(xs[0], xs[1],
                                                                   a["num_segments"]),
    "unsorted_segment_max": lambda xs, a: ops.unsorted_segment_max(xs[0], xs[1],
                                                                   a["num_segments"]),
    "unsorted_segment_min": lambda xs, a: ops.unsorted_segment_min(xs[0], xs[1],
                                                                   a["num_segments"]),
    "reverse": lambda xs, a: P.ReverseV2(a["axis"] if isinstance(a["axis"], list)
                                         else [a["axis"]])(xs[0]),
    "gather": lambda xs, a: ops.gather(xs[0], xs[1], a.get("axis", 0), a.get("batch_dims", 0)),
}


def _build(desc: dict[str, Any]) -> tuple[nn.Cell, dict[str, Parameter]]:
    nodes = desc["nodes"]
    inputs = desc.get("inputs") or [n["name"] for n in nodes if n["op"] == "placeholder"]
    outputs = desc.get("outputs") or [nodes[-1]["name"]]
    params = {n["name"]: Parameter(Tensor(np.array(plain(n["value"]), dtype=n.get(
        "dtype", "float32"))), name=n["name"], requires_grad=n.get("trainable", True))
        for n in nodes if n["op"].lower() in ("variable", "parameter")}

    class Net(nn.Cell):
        def __init__(self) -> None:
            super().__init__()
            for k, p in params.items():
                setattr(self, f"p_{k}", p)

        def construct(self, *args: Any) -> Any:
            outs = _walk(nodes, inputs, outputs, args, lambda k: getattr(self, f"p_{k}"))
            return outs[0] if len(outs) == 1 else tuple(outs)

    return Net(), params


def _walk(nodes: list[dict[str, Any]], inputs: list[str], outputs: list[str],
          args: Any, param: Any) -> list[Any]:
    """The wire graph's nodes in order; cond and while_loop as MindSpore's own Python if
    and while (PyNative traces them, and GradOperation differentiates through them)."""
    env: dict[str, Any] = dict(zip(inputs, args, strict=True))
    for n in nodes:
        kind = n["op"].lower()
        if kind in ("variable", "parameter"):
            env[n["name"]] = param(n["name"])
        elif kind == "constant":
            env[n["name"]] = Tensor(np.array(plain(n["value"]), dtype=n.get(
                "dtype", "float32")))
        elif kind != "placeholder":
            xs = [_ref(env, i) for i in n.get("inputs", [])]
            a = n.get("attrs", {})
            env[n["name"]] = (_cond(xs, a, param) if kind == "cond" else
                              _while(xs, a, param) if kind == "while_loop" else
                              OPS[kind](xs, a))
    return [_ref(env, o) for o in outputs]


def _sub(g: dict[str, Any], args: Any, param: Any) -> list[Any]:
    return _walk(g["nodes"], g["inputs"], g["outputs"], args, param)


def _cond(xs: list[Any], a: dict[str, Any], param: Any) -> tuple[Any, ...]:
    if xs[0]:
        return tuple(_sub(a["then_branch"], xs[1:], param))
    return tuple(_sub(a["else_branch"], xs[1:], param))


def _while(xs: list[Any], a: dict[str, Any], param: Any) -> tuple[Any, ...]:
    n = a["loop_vars"]
    carry, invariants = list(xs[:n]), list(xs[n:])
    steps = 0
    while steps < a["maximum_iterations"] and _sub(a["cond"], carry + invariants, param)[0]:
        carry = _sub(a["body"], carry + invariants, param)
        steps += 1
    return tuple(carry)


def _ref(env: dict[str, Any], r: str) -> Any:
    name, _, k = r.partition(":")
    v = env[name]
    return v[int(k or 0)] if isinstance(v, tuple) else v


def _np(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_np(x) for x in v]
    return v.asnumpy()


def grad_operation(req: dict[str, Any]) -> tuple[Any, str]:
    desc = req["network"]
    net, params = _build(desc)
    dtypes = {n["name"]: n.get("dtype", "float32") for n in desc["nodes"]}
    inputs = desc.get("inputs") or [n["name"] for n in desc["nodes"] if n["op"] == "placeholder"]
    args = [Tensor(np.array(plain(a), dtype=dtypes[n])) for a, n in zip(req["args"], inputs,
                                                                         strict=True)]
    flags = {k: bool(req.get(k)) for k in ("get_all", "get_by_list", "sens_param")}
    grad = ops.GradOperation(**flags)
    if flags["get_by_list"]:
        names = req.get("weights")
        chosen = [p for k, p in params.items() if (k in names if names is not None
                                                    else p.requires_grad)]
        fn = grad(net, ParameterTuple(chosen))
    else:
        fn = grad(net)
    if flags["sens_param"]:
        s = req["sens"]
        outs = desc.get("outputs") or [desc["nodes"][-1]["name"]]
        sens = Tensor(np.array(plain(s), np.float32)) if len(outs) == 1 else tuple(
            Tensor(np.array(plain(v), np.float32)) for v in s)
        got = fn(*args, sens)
    else:
        got = fn(*args)
    how = (f"mindspore {ms.__version__} PYNATIVE_MODE, ops.GradOperation(get_all="
           f"{flags['get_all']}, get_by_list={flags['get_by_list']}, sens_param="
           f"{flags['sens_param']}) on CPU")
    return _np(got), how
