"""The one error onnxio raises: what was refused, at which ONNX node, and what is supported."""
from __future__ import annotations


class OnnxError(ValueError):
    """An ONNX model (or an export) that onnxio cannot take.

    ``node`` is the ONNX node's name (or the value / initializer name where no node is at
    fault), ``op_type`` its ONNX op type (or, on export, the engine op); the message says
    what is supported. The service answers it with a 422 naming both. ``needs`` names a
    graph input the refusal would lift for, were its value known at import (an op reads
    it as an axis, a shape, a count): ``to_description`` binds it from ``fed`` if it can.
    ``fed``: the fault is the value fed for the input ``node``, not the model.
    """

    def __init__(self, message: str, *, node: str | None = None, op_type: str | None = None,
                 needs: str | None = None, fed: bool = False):
        super().__init__(message)
        self.message = message
        self.node = node
        self.op_type = op_type
        self.needs = needs
        self.fed = fed

    def __str__(self) -> str:
        where = ", ".join(p for p in (f"node {self.node!r}" if self.node is not None else "",
                                      f"op_type {self.op_type}" if self.op_type else "") if p)
        return f"{where}: {self.message}" if where else self.message
