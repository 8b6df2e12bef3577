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

from ..engine.cases import check_case, iter_cases, missing_ops

CASES = Path(__file__).resolve().parent / "cases"

# case id -> what each library gives vs what we give, and the rule at fault (none left:
# the nine of round 1 were fixed at their rules in the round-2 ops work)
DISAGREEMENTS: dict[str, str] = {}


def _params() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.json")):
        for case in iter_cases(path):
            marks = []
            missing = missing_ops(case)
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
    check_case(case)
