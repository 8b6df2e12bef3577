"""The op catalogue: one module per family, each op declared once with ``defop``.

Importing the package loads every family (their ``defop`` calls fill the registry), so
``registry.lookup`` never has to import anything. The families build their derivative
rules with ``engine.fn``, which needs only the registry, so there is no import cycle.
"""
from __future__ import annotations

# Declaration order is the catalogue's order (GET /ops lists it), so no sorting here.
# isort: off
from . import registry
from . import leaves, creation, elementwise, reduce, linalg, constants  # noqa: F401
from . import broadcasting, reshaping, joining, slicing, gathering  # noqa: F401
from . import padding, tiling, nn, patches  # noqa: F401
from . import safe_math, scans, segments, diagonals, convolutions  # noqa: F401
from . import normalization  # noqa: F401
from . import control  # noqa: F401
# isort: on

__all__ = ["registry"]
