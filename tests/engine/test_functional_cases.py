"""Every case of ``functional_sample.json`` evaluated in-process (API.md section 6, and
/gradients with vmap). Answers are compared with the recorded ones (JAX float64); a case
that expects a 422 must raise the engine's error with that status, never anything else.
"""
from __future__ import annotations

from typing import Any

import pytest

from engine import EngineError, LimitError

from .cases import compare, load, missing_ops, run_case

CASES = [pytest.param(c, id=c["id"]) for c in load("functional_sample")]


@pytest.mark.parametrize("case", CASES)
def test_case(case: dict[str, Any]) -> None:
    check_case(case)


def check_case(case: dict[str, Any]) -> None:
    """The engine's answer to one recorded case matches it (or it is refused alike)."""
    missing = missing_ops(case)
    assert not missing, f"ops not registered: {missing}"
    expect = case["expect"]
    if expect["status"] != 200:
        with pytest.raises(EngineError) as info:
            run_case(case)
        assert isinstance(info.value, LimitError) == (expect["status"] == 413)
        return
    want = expect["answer"] if "answer" in expect else expect["gradients"]
    got = run_case(case)
    compare(got, want, expect.get("rtol", 1e-5), expect.get("atol", 1e-7), "answer")
