"""Control-flow scenarios (OPS.md "v2: control flow"): cond and while_loop in our wire
form (subgraphs as attrs), and an RNN: a tanh cell over a 50-step sequence as a while_loop,
answered by TensorFlow's cond_v2 / while_v2."""
from __future__ import annotations

from typing import Any

import numpy as np

from .wire import F64, const, grad_operation_case, gradients_case, graph, op, ph

TF_CF = "tensorflow/python/kernel_tests/control_flow/control_flow_ops_py_test.py"
TF_WV2 = "tensorflow/python/ops/while_v2_test.py"
TF_CV2 = "tensorflow/python/ops/cond_v2_test.py"
MS_CF = "mindspore tests/st/control (control flow in PyNative Cells)"


def _cond_graph(pred: bool) -> list[dict[str, Any]]:
    then = graph([ph("a", [3]), ph("b", [3]), op("ab", "mul", "a", "b")], ["a", "b"], ["ab"])
    other = graph([ph("a", [3]), ph("b", [3]), op("sb", "sin", "b"), op("s", "add", "sb", "sb")],
                  ["a", "b"], ["s"])
    return [ph("x", [3]), ph("y", [3]), const("p", pred, "bool"),
            op("c", "cond", "p", "x", "y", then_branch=then, else_branch=other),
            op("l", "sum", "c:0")]


def _power_loop(n_max: int) -> list[dict[str, Any]]:
    """x -> x*x while i < 3 (x**8), i an int32 loop variable; w an invariant multiplier."""
    cond = graph([ph("i", [], "int32"), ph("v", [2]), ph("w", [2]), const("three", 3, "int32"),
                  op("go", "less", "i", "three")], ["i", "v", "w"], ["go"])
    body = graph([ph("i", [], "int32"), ph("v", [2]), ph("w", [2]), const("one", 1, "int32"),
                  op("i1", "add", "i", "one"), op("vv", "mul", "v", "v"),
                  op("vw", "mul", "vv", "w")], ["i", "v", "w"], ["i1", "vw"])
    return [ph("x", [2]), ph("w", [2]), const("i0", 0, "int32"),
            op("loop", "while_loop", "i0", "x", "w", loop_vars=2, cond=cond, body=body,
               maximum_iterations=n_max),
            op("l", "sum", "loop:1")]


def _rnn(steps: int = 50, batch: int = 2, d_in: int = 3, d_h: int = 4
         ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A tanh cell over a ``steps``-step sequence as a while_loop, and its inputs."""
    rng = np.random.default_rng(50)
    xs = rng.standard_normal((steps, batch, d_in)) * 0.5
    h0 = rng.standard_normal((batch, d_h)) * 0.5
    w = rng.standard_normal((d_h, d_h)) * 0.4
    u = rng.standard_normal((d_in, d_h)) * 0.4
    b = rng.standard_normal((d_h,)) * 0.1
    inv = [ph("xs", [steps, batch, d_in]), ph("W", [d_h, d_h]), ph("U", [d_in, d_h]),
           ph("b", [d_h])]
    lv = [ph("t", [], "int32"), ph("h", [batch, d_h])]
    cond = graph([*lv, *inv, const("n", steps, "int32"), op("go", "less", "t", "n")],
                 ["t", "h", "xs", "W", "U", "b"], ["go"])
    body = graph([*lv, *inv, const("one", 1, "int32"),
                  op("xt", "gather", "xs", "t"), op("hw", "matmul", "h", "W"),
                  op("xu", "matmul", "xt", "U"), op("s", "add", "hw", "xu"),
                  op("sb", "add", "s", "b"), op("h1", "tanh", "sb"), op("t1", "add", "t", "one")],
                 ["t", "h", "xs", "W", "U", "b"], ["t1", "h1"])
    nodes = [ph("h0", [batch, d_h]), *inv, const("t0", 0, "int32"),
             op("rnn", "while_loop", "t0", "h0", "xs", "W", "U", "b", loop_vars=2, cond=cond,
                body=body, maximum_iterations=steps),
             const("target", rng.standard_normal((batch, d_h))),
             op("err", "squared_difference", "rnn:1", "target"), op("loss", "sum", "err")]
    return nodes, {"h0": h0, "xs": xs, "W": w, "U": u, "b": b}


def rnn(steps: int = 50) -> dict[str, Any]:
    nodes, feeds = _rnn(steps)
    return gradients_case(
        "cf-tf-rnn-tanh-50-steps", f"{TF_WV2} WhileV2Test (a tanh RNN cell over a "
        f"{steps}-step sequence as tf.while_loop; cf. testGradientTapeOfWhileLoop)", nodes,
        feeds, ["loss"], ["h0", "W", "U", "b", "xs"])


def _ms_case(cid: str, source: str, nodes: list[dict[str, Any]],
             feeds: dict[str, Any]) -> dict[str, Any]:
    """GradOperation(get_all=True) of the scalar output ``l``/``loss`` (the last node)
    over the placeholders, in the order given."""
    return grad_operation_case(cid, source, nodes, list(feeds.values()), list(feeds),
                               [nodes[-1]["name"]], get_all=True)


def ms_control_flow() -> list[dict[str, Any]]:
    """The same graphs under MindSpore: a Cell whose construct uses Python if / while over
    tensors (PyNative), differentiated by ops.GradOperation."""
    x, y = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.3, -0.7])
    out = [_ms_case(f"cf-ms-cond-{'then' if p else 'else'}", f"{MS_CF} (if on a tensor "
                    "predicate in a Cell; the branch not taken gives zeros)",
                    _cond_graph(p), {"x": x, "y": y}) for p in (True, False)]
    xv, wv = np.array([1.1, -0.9]), np.array([0.8, 1.2])
    out += [_ms_case(f"cf-ms-while-power-{tag}", f"{MS_CF} (while over a tensor "
                     f"condition, maximum_iterations={n})", _power_loop(n), {"x": xv, "w": wv})
            for n, tag in ((10, "bounded-by-cond"), (2, "bounded-by-maximum-iterations"))]
    nodes, feeds = _rnn()
    out.append(_ms_case("cf-ms-rnn-tanh-50-steps", f"{MS_CF} (a tanh RNN cell over 50 steps "
                        "in a Python while)", nodes, feeds))
    return out


def control_flow_scenarios(lib: str) -> dict[str, list[dict[str, Any]]]:
    if lib == "ms":
        return {"control_flow_ms": ms_control_flow()}
    x, y = np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.3, -0.7])
    out = []
    for pred in (True, False):
        t = "then" if pred else "else"
        out.append(gradients_case(f"cf-tf-cond-{t}", f"{TF_CV2} CondV2Test.testDefunInCond / "
                                  f"{TF_CF} ControlFlowTest.testCondGrad_1 ({t} branch taken; "
                                  "an operand the branch ignores gets zeros)",
                                  _cond_graph(pred), {"x": x, "y": y}, ["l"], ["x", "y"]))
        out.append(gradients_case(f"cf-tf-cond-{t}-second-order",
                                  f"{TF_CV2} CondV2Test.testSecondDerivative ({t} branch)",
                                  _cond_graph(pred), {"x": x, "y": y}, ["l"], ["x", "y"],
                                  then={"ys": [{"gradient": 1}], "xs": ["x", "y"],
                                        "unconnected_gradients": "zero"}))
    xv, wv = np.array([1.1, -0.9]), np.array([0.8, 1.2])
    for n_max, tag in ((10, "bounded-by-cond"), (2, "bounded-by-maximum-iterations")):
        out.append(gradients_case(f"cf-tf-while-power-{tag}", f"{TF_CF} ControlFlowTest."
                                  "testWhileGrad_Square / testWhileGrad_Mul (maximum_iterations"
                                  f"={n_max})", _power_loop(n_max), {"x": xv, "w": wv}, ["l"],
                                  ["x", "w"]))
    out.append(gradients_case("cf-tf-while-power-second-order",
                              f"{TF_WV2} WhileV2Test.testDoubleDerivative",
                              _power_loop(10), {"x": xv, "w": wv}, ["l"], ["x", "w"],
                              then={"ys": [{"gradient": 0}], "xs": ["x", "w"]}))
    out.append(rnn())
    return {"control_flow_tf": out}


__all__ = ["F64", "control_flow_scenarios", "rnn"]
