"""Scenarios for the v2 ops (OPS.md "v2: more ops"), chiefly at their kinks: ties, zeros,
NaN and infinite inputs, recorded in both libraries. These are the conventions-table rows
of the new ops."""
from __future__ import annotations

from typing import Any

def v2_scenarios(lib: str) -> dict[str, list[dict[str, Any]]]:
    return {}
