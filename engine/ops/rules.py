"""Shape and dtype rules shared by many ops, and the VJP context rules are written against."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..shapes import broadcast
from .registry import OpTypeError, TensorSpec, check_dtypes


def unary(allowed: str = "float", out_dtype: str | None = None):
    """Same shape out; the input's dtype (or ``out_dtype``)."""

    def infer(specs: tuple[TensorSpec, ...], attrs: Mapping[str, Any]) -> TensorSpec:
        dt = check_dtypes(specs, allowed)
        return TensorSpec(specs[0].shape, out_dtype or dt)

    return infer


def broadcasting(allowed: str = "numeric", out_dtype: str | None = None):
    """numpy broadcasting of all inputs, which must share one dtype."""

    def infer(specs: tuple[TensorSpec, ...], attrs: Mapping[str, Any]) -> TensorSpec:
        dt = check_dtypes(specs, allowed)
        try:
            shape = broadcast(*(s.shape for s in specs))
        except ValueError as exc:
            raise OpTypeError(str(exc)) from None
        return TensorSpec(shape, out_dtype or dt)

    return infer


class VJPContext:
    """What a VJP rule sees: input and output handles, upstream gradients, attrs, dialect.

    ``g``/``x``/``y``/``out`` are shorthands for the first gradient, the first and second
    inputs and the first output. ``tf`` is true in the TensorFlow dialect, false in
    MindSpore's: the few rules that differ switch on it.
    """

    __slots__ = ("attrs", "dialect", "given", "gs", "inputs", "node", "outputs")

    def __init__(self, node: Any, inputs: Sequence[Any], outputs: Sequence[Any],
                 gs: Sequence[Any], dialect: str, given: Sequence[bool] | None = None):
        self.node = node
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.gs = tuple(gs)
        # Which outputs really received a gradient (the others' ``gs`` are zeros), so that
        # a multi-output rule can skip the terms of an output nobody differentiates.
        self.given = tuple(given) if given is not None else (True,) * len(self.gs)
        self.attrs = node.attrs
        self.dialect = dialect

    @property
    def g(self) -> Any:
        return self.gs[0]

    @property
    def x(self) -> Any:
        return self.inputs[0]

    @property
    def y(self) -> Any:
        return self.inputs[1]

    @property
    def out(self) -> Any:
        return self.outputs[0]

    @property
    def tf(self) -> bool:
        return self.dialect == "tensorflow"
