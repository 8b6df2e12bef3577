"""The recorded acceptance cases (semantics_tf/ms, seed_examples, ops_sample) run
in-process on the engine, through ``cases.py``: answers recorded from TensorFlow and
MindSpore, compared with each case's tolerances. Over HTTP they run in tests/service.
"""
from __future__ import annotations

from typing import Any

import pytest

from engine import EngineError

from .cases import compare, iter_cases, missing_ops, run_case


def _params(*files: str) -> list[Any]:
    out = []
    for case in iter_cases(*files):
        missing = missing_ops(case)
        marks = [pytest.mark.xfail(reason=f"ops not implemented yet: {missing}",
                                   strict=False)] if missing else []
        out.append(pytest.param(case, id=case["id"], marks=marks))
    return out


@pytest.mark.parametrize(
    "case", _params("semantics_tf", "semantics_ms", "seed_examples", "ops_sample"))
def test_recorded_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    if expect.get("status", 200) != 200:
        with pytest.raises(EngineError):
            run_case(case)
        return
    compare(run_case(case), expect["gradients"], expect.get("rtol", 1e-5),
            expect.get("atol", 1e-6))


