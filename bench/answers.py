"""When two HTTP answers to the same request are the same answer.

Byte for byte, except that a 200's numbers may differ by float rounding: a plan that has
run 20 times runs fused (engine/fusion.py; docs/settings.md, ``GRADSERVE_FUSION``), and a
fused kernel's exp and tanh round like LLVM's, not numpy's. Anything else (a status, a
problem body, a shape, a key, a value beyond rounding) is a difference. The soak and the
replicas test judge answers by this one rule.
"""
from __future__ import annotations

import json
from typing import Any

RTOL = 1e-5  # float32 rounding over a few fused ops, with room


def same_answer(got: tuple[int, bytes], want: tuple[int, bytes]) -> bool:
    if got == want:
        return True
    if got[0] != want[0] or got[0] != 200:
        return False
    try:
        return _close(json.loads(got[1]), json.loads(want[1]))
    except ValueError:
        return False


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= RTOL * max(abs(a), abs(b)) + 1e-12
    return a == b
