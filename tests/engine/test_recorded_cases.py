"""The recorded acceptance cases (semantics_tf/ms, seed_examples, ops_sample) run
in-process on the engine, through ``cases.py``: answers recorded from TensorFlow and
MindSpore, compared with each case's tolerances. Over HTTP they run in tests/service.
"""
from __future__ import annotations

from typing import Any

import pytest

from .cases import check_case, iter_cases, missing_ops


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
    check_case(case)


