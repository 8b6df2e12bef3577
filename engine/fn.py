"""Every registered op as a function of graph handles: ``fn.exp(x)``, ``fn.sum(x, axis=1)``.

    from engine import GraphBuilder, fn
    y = fn.tanh(x @ w) * 2.0

The module itself is the namespace (PEP 562 ``__getattr__``): an op name is looked up in
the registry when asked for, so aliases (``fn.reduce_sum``, ``fn.MatMul``) work too.
"""
from __future__ import annotations

from typing import Any as _Any

from .ops.registry import lookup as _lookup


def __getattr__(name: str) -> _Any:
    opdef = _lookup(name)
    if opdef is None or opdef.leaf or name.startswith("__"):
        raise AttributeError(f"no op named {name!r}")

    def call(*inputs: _Any, **attrs: _Any) -> _Any:
        builder = getattr(inputs[0], "builder", None) if inputs else None
        if builder is None:
            raise TypeError(f"{opdef.name} needs Tensor inputs")
        return builder.emit(opdef.name, list(inputs), attrs)

    call.__name__ = opdef.name
    globals()[name] = call  # made once: the next ``fn.<name>`` is a plain module attribute
    return call
