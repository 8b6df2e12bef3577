"""Control-flow scenarios (OPS.md "v2: control flow"): cond, while_loop, an RNN."""
from __future__ import annotations

from typing import Any

def control_flow_scenarios(lib: str) -> dict[str, list[dict[str, Any]]]:
    return {}
