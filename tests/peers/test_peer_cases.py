"""The peers' own tests, ported (``tests/peers/scenarios_*.py``) and answered once by real
TensorFlow 2.21 / MindSpore 2.10 (``tests/peers/record.py``), run in-process on the engine
through the recorded-case runner of ``tests/engine/cases.py``.

v1 files (``tf_*``, ``ms_*``) must agree, except the disagreements listed in
``DISAGREEMENTS`` (strict xfails: fixing the rule at fault turns one into a failure, and
then its line here is removed). v2-op and control-flow files run too; a case whose op is not
registered yet is skipped, so each turns on as its op lands.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import EngineError, Graph, GraphError

from ..engine.cases import compare, iter_cases, missing_ops, run_case

CASES = Path(__file__).resolve().parent / "cases"

# case id -> what each library gives vs what we give, and the rule at fault
_RELU6 = ("TF's relu6 second derivative is connected zeros (Relu6Grad's gradient is "
          "zeros_like); ours is unconnected (null): relu6's VJP, TF dialect")
_XENT_TF = ("TF's logits gradient is the kernel's backprop softmax - labels; ours is "
            "softmax * sum(labels) - labels: softmax_cross_entropy_with_logits VJP, TF dialect")
_XENT_MS = ("MindSpore's SoftmaxCrossEntropyWithLogits bprop gives labels zeros (and logits "
            "softmax - labels); ours gives labels -log_softmax(logits): the VJP, MS dialect")
_MAXMIN_MS = ("MindSpore's maximum/minimum gradient at a NaN input gives 1 to both inputs "
              "(ties stay 0.5/0.5); ours gives 0 to both: the mask of maximum/minimum's VJP, "
              "MS dialect")
DISAGREEMENTS: dict[str, str] = {
    "tf-ng-relu6-gradgrad-interior": _RELU6,
    "tf-ng-relu6-gradgrad-kinks": _RELU6,
    "tf-xent-unnormalized-labels": _XENT_TF,
    "ms-xent-unnormalized-labels": _XENT_MS,
    "ms-xent-normalized-labels": _XENT_MS,
    "ms-kink-maximum-nan": _MAXMIN_MS,
    "ms-kink-minimum-nan": _MAXMIN_MS,
    "ms-kink-max-nan": ("MindSpore's ReduceMax gradient with a NaN in the slice goes to the "
                        "largest non-NaN element ([1, NaN, 3] -> [0, 0, 1]); ours makes the "
                        "slice NaN (the TF column): max/min reduction VJP, MS dialect"),
    "ms-no-inputs-flags-none": ("MindSpore's GradOperation() on a network with no inputs "
                                "answers an empty tuple; ours is an error (and get_all gives "
                                "[]): grad_operation's structure rule"),
}


def _gather_batch_dims() -> bool:
    try:
        Graph.build([{"name": "x", "op": "placeholder", "shape": [2, 2], "dtype": "float64"},
                     {"name": "i", "op": "constant", "value": [[0], [1]], "dtype": "int32"},
                     {"name": "g", "op": "gather", "inputs": ["x", "i"],
                      "attrs": {"axis": 1, "batch_dims": 1}}])
    except GraphError:
        return False
    return True


def _missing_features(case: dict[str, Any]) -> list[str]:
    """v2 attrs of v1 ops that a case needs and the engine refuses so far."""
    req = case["request"]
    nodes = (req.get("graph") or req.get("network"))["nodes"]
    uses = any(n["op"] == "gather" and n.get("attrs", {}).get("batch_dims") for n in nodes)
    return ["gather batch_dims"] if uses and not _gather_batch_dims() else []


def _params() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.json")):
        for case in iter_cases(path):
            marks = []
            missing = missing_ops(case) + _missing_features(case)
            if missing:
                marks.append(pytest.mark.skip(
                    reason=f"op {', '.join(missing)} not in the catalogue yet"))
            elif case["id"] in DISAGREEMENTS:
                marks.append(pytest.mark.xfail(reason=DISAGREEMENTS[case["id"]], strict=True))
            out.append(pytest.param(case, id=f"{path.stem}/{case['id']}", marks=marks))
    return out


PARAMS = _params()


def test_every_case_file_has_cases() -> None:
    stems = {p.stem for p in CASES.glob("*.json")}
    assert {"tf_gradients_test", "tf_math_grad_test", "tf_nn_grad_test"} <= stems
    assert all(list(iter_cases(p)) for p in CASES.glob("*.json"))


def test_every_disagreement_names_a_case() -> None:
    ids = {p.values[0]["id"] for p in PARAMS}
    assert set(DISAGREEMENTS) <= ids


@pytest.mark.parametrize("case", PARAMS)
def test_peer_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    if expect.get("status", 200) != 200:
        with pytest.raises(EngineError):
            run_case(case)
        return
    compare(run_case(case), expect["gradients"], expect.get("rtol", 1e-5),
            expect.get("atol", 1e-6))
