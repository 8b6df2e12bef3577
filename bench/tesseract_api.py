"""The W1 seed function as a Tesseract (tesseract-core's runtime), with a numpy VJP.

Served by ``tesseract-runtime serve`` with ``TESSERACT_API_PATH`` pointing here, from its
own virtualenv (bench/.peers/tesseract): out = matmul(x * z, y), and the VJP of ``out``
with respect to any of x, y, z, written by hand in numpy as a Tesseract author would.
Imported by the Tesseract runtime only, never by Gradserve.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel
from tesseract_core.runtime import Array, Differentiable, Float32


class InputSchema(BaseModel):
    x: Differentiable[Array[(None, None), Float32]]
    y: Differentiable[Array[(None, None), Float32]]
    z: Differentiable[Array[(1,), Float32]]


class OutputSchema(BaseModel):
    out: Differentiable[Array[(None, None), Float32]]


def apply(inputs: InputSchema) -> OutputSchema:
    return OutputSchema(out=(inputs.x * inputs.z) @ inputs.y)


def vector_jacobian_product(inputs: InputSchema, vjp_inputs: set[str], vjp_outputs: set[str],
                            cotangent_vector: dict[str, Any]) -> dict[str, Any]:
    x, y, z = inputs.x, inputs.y, inputs.z
    g = np.asarray(cotangent_vector["out"], dtype=np.float32)
    dxz = g @ y.T
    grads = {"x": dxz * z, "y": (x * z).T @ g,
             "z": np.sum(dxz * x, keepdims=True).reshape(z.shape)}
    return {name: grads[name] for name in vjp_inputs}
