"""Write onnx-mlp/model.onnx: a 4-8-3 tanh MLP as a PyTorch exporter would name it, built
with the onnx package's helpers (no torch needed). Run once; the file is committed.

    .venv/bin/python examples/models/make_onnx_mlp.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent / "onnx-mlp" / "model.onnx"


def build() -> onnx.ModelProto:
    rng = np.random.default_rng(11)
    weights = {"fc1.weight": (8, 4), "fc1.bias": (8,), "fc2.weight": (3, 8), "fc2.bias": (3,)}
    inits = [numpy_helper.from_array(np.round(rng.standard_normal(s) * 0.5, 2)
                                     .astype(np.float32), name) for name, s in weights.items()]
    nodes = [helper.make_node("Gemm", ["input", "fc1.weight", "fc1.bias"], ["/fc1/Gemm_output_0"],
                              name="/fc1/Gemm", transB=1),
             helper.make_node("Tanh", ["/fc1/Gemm_output_0"], ["/act/Tanh_output_0"],
                              name="/act/Tanh"),
             helper.make_node("Gemm", ["/act/Tanh_output_0", "fc2.weight", "fc2.bias"],
                              ["output"], name="/fc2/Gemm", transB=1)]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="gradserve-examples")
    onnx.checker.check_model(model)
    return model


if __name__ == "__main__":
    OUT.write_bytes(build().SerializeToString())
    print(f"wrote {OUT}")
