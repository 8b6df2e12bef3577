"""The recorded acceptance cases of API.md sections 6 and 7 (and /gradients with vmap),
posted through the client's JAX- and MindSpore-style methods rather than as raw JSON.

Each test skips only while the server answers 404 for its endpoint; the endpoints are
being built, and these turn on when they land.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradserve as gs
import numpy as np
import pytest

from ..case_files import iter_cases
from ..service.acceptance import differ
from ..service.helpers import Server
from .conftest import require_endpoint, require_field


def _cases() -> list[dict[str, Any]]:
    return [c for c in iter_cases("functional_sample", "ms2_sample")
            if "onnx" not in c["request"].get("graph", {})]


def plain(v: Any) -> Any:
    """Arrays (nested in lists, tuples and dicts) as the JSON the cases record."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [plain(x) for x in v]
    return v


def _functional(method: str, *keys: str) -> Callable[..., dict[str, Any]]:
    def call(c: gs.Client, r: dict[str, Any]) -> dict[str, Any]:
        extra = {k: r.pop(k) for k in ("tangents", "cotangents", "vectors") if k in r}
        got = getattr(c, method)(r.pop("graph"), r.pop("feeds", None), *extra.values(),
                                 **{k: r.pop(k) for k in list(r)})
        return dict(zip(keys, got if len(keys) > 1 else [got], strict=True))
    return call


def _ms2(method: str) -> Callable[..., dict[str, Any]]:
    def call(c: gs.Client, r: dict[str, Any]) -> dict[str, Any]:
        args, has_aux = r.pop("args"), r.pop("has_aux", False)
        fn = getattr(c, method)(r.pop("network"), r.pop("grad_position", 0),
                                r.pop("weights", None), has_aux, r.pop("return_ids", False),
                                **{k: r.pop(k) for k in list(r)})
        got = fn(*args)
        if method == "value_and_grad":
            return {"value": got[0], "gradients": got[1]}
        return {"gradients": got[0], "aux": got[1]} if has_aux else {"gradients": got}
    return call


def _gradients(c: gs.Client, r: dict[str, Any]) -> dict[str, Any]:
    got = c.gradients(r.pop("ys"), r.pop("xs"), r.pop("grad_ys", None), graph=r.pop("graph"),
                      feeds=r.pop("feeds", None), vmap=r.pop("vmap", None))
    return {"gradients": got}


CALLS: dict[str, Callable[..., dict[str, Any]]] = {
    "/evaluate": _functional("evaluate", "values"),
    "/jvp": _functional("jvp", "values", "tangents"),
    "/vjp": _functional("vjp", "values", "cotangents"),
    "/jacobian": _functional("jacobian", "jacobian"),
    "/hessian": _functional("hessian", "hessian"),
    "/hvp": _functional("hvp", "hvp"),
    "/grad": _ms2("grad"),
    "/value-and-grad": _ms2("value_and_grad"),
    "/gradients": _gradients,
}


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["id"])
def test_case_through_the_client(server: Server, client: gs.Client, case: dict[str, Any]
                                 ) -> None:
    require_endpoint(server, case["endpoint"])
    if "vmap" in case["request"]:
        require_field(server, case["endpoint"], "vmap")
    request = dict(case["request"])
    expect = case["expect"]
    call = CALLS[case["endpoint"]]
    if expect["status"] != 200:
        with pytest.raises(gs.GradserveError) as err:
            call(client, request)
        assert err.value.status == expect["status"]
        return
    got = call(client, request)
    assert not request, f"fields the client did not send: {sorted(request)}"
    rtol, atol = expect.get("rtol", 1e-6), expect.get("atol", 1e-6)
    want = expect.get("answer", {"gradients": expect.get("gradients")})
    compared = 0
    for key, value in got.items():
        if key in want:
            assert differ(plain(value), want[key], rtol, atol, key) is None
            compared += 1
    assert compared, f"nothing to compare: the client gave {sorted(got)}, the case {sorted(want)}"
