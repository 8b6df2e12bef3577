"""The acceptance cases in ``tests/cases`` are the shared ones, byte for byte, when
``../shared`` sits beside the repo; and the gate that holds back unbuilt v2 cases lets
every v1 case through (so it cannot hide a case that should run)."""
from __future__ import annotations

import pytest

from service.app import create_app
from service.settings import Settings

from .case_files import CASES_DIR, SHARED_CASES_DIR, V1_FILES, V2_FILES, iter_cases, unserved


def test_the_repo_carries_every_case_file() -> None:
    assert sorted(p.stem for p in CASES_DIR.glob("*.json")) == sorted(V1_FILES + V2_FILES)


@pytest.mark.skipif(not SHARED_CASES_DIR.is_dir(),
                    reason=f"no shared cases beside the repo ({SHARED_CASES_DIR})")
def test_the_copies_equal_the_shared_cases() -> None:
    shared = sorted(p.name for p in SHARED_CASES_DIR.glob("*.json"))
    assert shared == sorted(p.name for p in CASES_DIR.glob("*.json"))
    for name in shared:
        assert (CASES_DIR / name).read_bytes() == (SHARED_CASES_DIR / name).read_bytes(), \
            f"tests/cases/{name} differs from {SHARED_CASES_DIR / name}: copy it again"


def test_the_gate_lets_every_v1_case_through() -> None:
    openapi = create_app(Settings(workers=1)).openapi()
    held = {c["id"]: unserved(c, openapi) for c in iter_cases(*V1_FILES)}
    assert {k: v for k, v in held.items() if v} == {}


def test_the_gate_names_what_is_missing() -> None:
    openapi = create_app(Settings(workers=1)).openapi()
    case = {"endpoint": "/gradients",
            "request": {"graph": {"nodes": [], "onnx": "AA=="}, "ys": "y", "xs": "x"}}
    assert unserved(case, openapi) == "POST /gradients does not take body.graph.onnx yet"
    case = {"endpoint": "/no-such-thing", "request": {}}
    assert unserved(case, openapi) == "POST /no-such-thing is not served yet"
