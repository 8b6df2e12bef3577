"""ONNX element types and ours, both ways: the dtypes the engine has, nothing else."""
from __future__ import annotations

from onnx import TensorProto

from .errors import OnnxError

TO_ENGINE: dict[int, str] = {
    TensorProto.FLOAT: "float32",
    TensorProto.DOUBLE: "float64",
    TensorProto.FLOAT16: "float16",
    TensorProto.INT32: "int32",
    TensorProto.INT64: "int64",
    TensorProto.BOOL: "bool",
}
TO_ONNX: dict[str, int] = {v: k for k, v in TO_ENGINE.items()}
SUPPORTED = ", ".join(TO_ENGINE.values())


def engine_dtype(elem_type: int, *, node: str | None = None, op_type: str | None = None) -> str:
    """Our dtype for an ONNX element type, or an OnnxError saying which ones we take."""
    dtype = TO_ENGINE.get(elem_type)
    if dtype is None:
        name = TensorProto.DataType.Name(elem_type) if elem_type in TensorProto.DataType.values() \
            else str(elem_type)
        raise OnnxError(f"element type {name} is not supported (supported: {SUPPORTED})",
                        node=node, op_type=op_type)
    return dtype
