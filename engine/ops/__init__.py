"""The op catalogue: one module per family, each op declared once with ``defop``."""
from __future__ import annotations

import importlib

FAMILIES = ("leaves", "creation", "elementwise", "reduce", "linalg", "shape", "nn")


def load_all() -> None:
    """Import every family so its ``defop`` calls register (done lazily, once)."""
    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}")
