"""ONNX in and out: ONNX models as our graph descriptions, our gradient graphs as ONNX.

    description = onnxio.to_description(model_bytes)      # API.md sections 2 and 9
    description, bound = onnxio.bound_description(model_bytes, fed)  # inputs read as axes
    graph = engine.Graph.build(description["nodes"], description["inputs"],
                               description["outputs"])
    onnxio.supported_ops()                                # for GET /onnx/ops
    model_bytes = onnxio.to_onnx(graph, ["gradients/x_grad", ...])

Every refusal is an ``OnnxError`` naming the ONNX node and op_type and what is supported.
The engine itself never imports onnx.
"""
from __future__ import annotations

from typing import Any

from .errors import OnnxError
from .exporter import to_onnx
from .import_ops import TABLE
from .importer import FIRST_OPSET, LAST_OPSET, bound_description, to_description


def supported_ops() -> list[dict[str, Any]]:
    """Each supported ONNX op: its type, the versions handled, attributes read, lowering."""
    return [{"op_type": e.op_type, "domain": "", "versions": list(e.versions),
             "attributes": sorted(e.attrs), "lowering": e.doc,
             "folded_only": e.lower is None}
            for e in sorted(TABLE.values(), key=lambda e: e.op_type)]


__all__ = ["FIRST_OPSET", "LAST_OPSET", "OnnxError", "bound_description", "supported_ops",
           "to_description", "to_onnx"]
