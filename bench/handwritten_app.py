"""What a user would write instead of Gradserve for the seed request: a FastAPI endpoint
that reads the nested lists and computes the W1 gradient with numpy by hand.

It takes the very body the seed's ``/grad-operation`` request carries (network, args) and
answers the gradient with respect to the first input, as GradOperation does. Served by
uvicorn exactly as the service is; ``/healthz`` and ``/constant`` give this app's own
framework ceiling.
"""
from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from fastapi import Body, FastAPI

app = FastAPI(title="hand-written W1 gradient")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/grad-operation")
async def grad_operation(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """d sum(matmul(x*z, y)) / dx = ones @ y^T * z, from the request's nested lists."""
    x = np.asarray(body["args"][0], dtype=np.float32)
    y = np.asarray(body["args"][1], dtype=np.float32)
    z_node = next(n for n in body["network"]["nodes"] if n["name"] == "z")
    z = np.asarray(z_node["value"], dtype=np.float32)
    seed = np.ones((x.shape[0], y.shape[1]), dtype=np.float32)
    return {"gradients": ((seed @ y.T) * z).tolist()}
