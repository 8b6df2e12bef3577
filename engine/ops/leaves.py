"""Leaves: placeholder, variable (alias parameter), constant. Their fields are top-level
node fields (shape, dtype, value, initializer, trainable), read by ``graph.py``."""
from __future__ import annotations

from .registry import defop

# vmap maps a leaf itself, by growing its shape at the axis in_axes gives it.
_LEAF = "a leaf: vmap maps it itself (in_axes), no rule rewrites it"


def _no_infer(specs, attrs):  # leaves are inferred from their own fields in graph.py
    raise AssertionError("leaves are not inferred from inputs")


defop("placeholder", infer=_no_infer, forward=None, inputs=0, leaf=True, unbatchable=_LEAF,
      doc="A value fed with each request.")
defop("variable", aliases=("parameter", "Variable", "VariableV2"), infer=_no_infer,
      forward=None, inputs=0, leaf=True, unbatchable=_LEAF,
      doc="A value held by the graph (value or initializer); may be overridden by a feed.")
defop("constant", aliases=("Const",), infer=_no_infer, forward=None, inputs=0, leaf=True,
      unbatchable=_LEAF, doc="A fixed value.")
