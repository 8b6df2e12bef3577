"""Gradserve's engine: a numpy-only graph IR, op catalogue and reverse-mode autodiff.

    from engine import Graph, gradients, grad_operation, run, compute_gradients

Nothing here knows of HTTP or JSON: graphs come in as plain descriptions (or are built
with ``GraphBuilder``), arrays go in and out as numpy arrays.
"""
from . import fn
from .api import PROGRAMS, GradientsOutput, compute_grad_operation, compute_gradients, run
from .autodiff import Gradients, gradients
from .builder import GraphBuilder, Tensor
from .errors import ComputeError, EngineError, FeedError, GraphError, LimitError
from .grad_operation import GradOperation, grad_operation
from .graph import Graph, Node
from .plan import Plan

__all__ = [
    "PROGRAMS",
    "ComputeError",
    "EngineError",
    "FeedError",
    "GradOperation",
    "Gradients",
    "GradientsOutput",
    "Graph",
    "GraphBuilder",
    "GraphError",
    "LimitError",
    "Node",
    "Plan",
    "Tensor",
    "compute_grad_operation",
    "compute_gradients",
    "fn",
    "grad_operation",
    "gradients",
    "run",
]
