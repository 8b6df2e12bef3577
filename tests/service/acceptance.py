"""Judge a served answer against a recorded case (``expect``: status, gradients, answer).

With a status other than 200 only the status and the problem+json content type count.
Otherwise ``expect.gradients`` and every field of ``expect.answer`` are compared with the
answer's structure: objects with exactly the expected keys, lists of the expected length,
numbers within ``atol + rtol * |want|`` (NaN equals NaN, infinities equal themselves).
Answer tensors in the typed or base64 form are decoded by the service's own codec.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import httpx

from service import codec

NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
NO_LIMIT = 2**62


def post_case(url: str, case: Mapping[str, Any]) -> str | None:
    """Post the case's request to the server at ``url``; what is wrong, or None."""
    r = httpx.post(url + case["endpoint"], json=case["request"], timeout=120)
    return judge(r.status_code, r.headers.get("content-type", ""), r.content, case["expect"])


def judge(status: int, content_type: str, body: bytes, expect: Mapping[str, Any]) -> str | None:
    want_status = expect.get("status", 200)
    if status != want_status:
        return f"status {status}, expected {want_status}: {body[:300]!r}"
    if status != 200:
        return None if content_type == "application/problem+json" else \
            f"an error answered as {content_type!r}, not application/problem+json"
    answer = json.loads(body)
    rtol, atol = expect.get("rtol", 1e-5), expect.get("atol", 1e-6)
    wanted = dict(expect.get("answer", {}))
    if "gradients" in expect:
        wanted["gradients"] = expect["gradients"]
    for key, want in wanted.items():
        if key not in answer:
            return f"the answer has no {key!r} (it has {sorted(answer)})"
        miss = differ(answer[key], want, rtol, atol, key)
        if miss:
            return miss
    return None


def differ(got: Any, want: Any, rtol: float, atol: float, path: str) -> str | None:
    """Where ``got`` (an answer's JSON) departs from ``want`` (a recorded value)."""
    if _is_tensor_object(got):
        got = codec.decode(got, got["dtype"], NO_LIMIT).tolist()
    if want is None or got is None:
        return None if got is want else f"{path}: expected {want!r}, got {_short(got)}"
    if isinstance(want, dict):
        if not isinstance(got, dict) or set(got) != set(want):
            return f"{path}: expected keys {sorted(want)}, got {_short(got)}"
        return next((m for k in want
                     if (m := differ(got[k], want[k], rtol, atol, f"{path}.{k}"))), None)
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return f"{path}: expected {len(want)} entries, got {_short(got)}"
        return next((m for i, (g, w) in enumerate(zip(got, want, strict=True))
                     if (m := differ(g, w, rtol, atol, f"{path}[{i}]"))), None)
    if isinstance(want, str) and want not in NONFINITE:  # a name (return_ids, a weight)
        return None if got == want else f"{path}: expected {want!r}, got {_short(got)}"
    return _number_differs(got, NONFINITE.get(want, want), rtol, atol, path)


def _number_differs(got: Any, want: float, rtol: float, atol: float, path: str) -> str | None:
    got = NONFINITE.get(got, got) if isinstance(got, str) else got
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return f"{path}: expected the number {want}, got {_short(got)}"
    if math.isnan(want) or math.isnan(got):
        return None if math.isnan(want) and math.isnan(got) else \
            f"{path}: expected {want}, got {got}"
    if math.isinf(want) or math.isinf(got):
        return None if got == want else f"{path}: expected {want}, got {got}"
    return None if abs(got - want) <= atol + rtol * abs(want) else \
        f"{path}: expected {want}, got {got}"


def _is_tensor_object(v: Any) -> bool:
    return isinstance(v, dict) and "dtype" in v and ("data" in v or "b64" in v)


def _short(v: Any) -> str:
    return repr(v)[:80]
