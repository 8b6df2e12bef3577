"""Gradserve's Python client: derivatives of computation graphs from a Gradserve server.

    import numpy as np
    import gradserve as gs

    g = gs.Graph()
    x = g.placeholder([None, 3], name="x")
    w = g.variable(np.ones((3, 2), np.float32), name="w")
    loss = gs.sum(gs.tanh(x @ w))
    with gs.Client("http://127.0.0.1:8000") as client:
        dw, = client.gradients(loss, [w], feeds={x: np.ones((4, 3))})
"""
from .client import AsyncClient, Client, NamedArrays, onnx_file
from .errors import (
    ComputeTimeout,
    Forbidden,
    GradserveError,
    InvalidRequest,
    NotFound,
    QueueFull,
    ServerError,
    TooLarge,
    Unavailable,
)
from .graph import Graph, Tensor
from .ops import *  # noqa: F403 - the op functions are the package's vocabulary
from .ops import __all__ as _ops
from .tensors import decode, encode
from .transport import RetryPolicy

__all__ = [
    "AsyncClient", "Client", "ComputeTimeout", "Forbidden", "Graph", "GradserveError",
    "InvalidRequest", "NamedArrays", "NotFound", "QueueFull", "RetryPolicy", "ServerError",
    "Tensor", "TooLarge", "Unavailable", "decode", "encode", "onnx_file", *_ops,
]
