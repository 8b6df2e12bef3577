"""Fused against unfused: one plan run both ways must give the same answers to rounding."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from engine import Graph, Plan, fusion
from engine.graph import Ref


def fused_and_unfused(graph: Graph, fetches: Sequence[Ref], feeds: Mapping[str, np.ndarray],
                      monkeypatch: pytest.MonkeyPatch) -> tuple[list[np.ndarray],
                                                                list[np.ndarray], int]:
    """The fetches unfused (the step loop) and with every fusible step in a kernel (groups
    of one allowed, whatever a step costs in a kernel), and how many kernels that made."""
    monkeypatch.setattr(fusion, "MIN_GROUP", 1)
    monkeypatch.setattr(fusion, "CALL_NS", float("inf"))
    plain = Plan(graph, fetches).run(feeds)
    plan = Plan(graph, fetches)
    kernels = plan.fuse()
    return plain, plan.run(feeds), kernels


def assert_same(plain: Sequence[np.ndarray], fused: Sequence[np.ndarray], label: str) -> None:
    """Same dtypes and shapes; values equal to a few units of rounding, NaN where NaN."""
    for a, b in zip(plain, fused, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert (a.dtype, a.shape) == (b.dtype, b.shape), label
        if a.dtype.kind != "f":
            np.testing.assert_array_equal(a, b, err_msg=label)
            continue
        tol = 1e-5 if a.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(b, a, rtol=tol, atol=tol * 1e-2, err_msg=label)
