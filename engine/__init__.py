"""Gradserve's engine: a numpy-only graph IR, op catalogue and reverse-mode autodiff.

    from engine import Graph, gradients, grad_operation, run, compute_gradients
    from engine import jvp, vjp, jacobian, hessian, hvp, vmap, evaluate   # JAX-style
    from engine import grad, value_and_grad                              # MindSpore 2.x

Nothing here knows of HTTP or JSON: graphs come in as plain descriptions (or are built
with ``GraphBuilder``), arrays go in and out as numpy arrays, and refusals are
``EngineError``s located in the engine's own words (argument, index, node, attr). The
caches are per process: bound them with ``configure_caches``, read them with
``cache_stats``; ``LRUCache`` (with ``NODE_BUDGET``) is the same bounded cache for a
caller's own (the service keeps built graphs in one).
"""
from . import fn
from .api import (
    NODE_BUDGET,
    GradientsOutput,
    cache_stats,
    compute_grad_operation,
    compute_gradients,
    configure_caches,
    run,
)
from .autodiff import Gradients, gradients
from .builder import GraphBuilder, Tensor
from .cache import LRUCache
from .errors import ComputeError, EngineError, FeedError, GraphError, LimitError
from .functional import evaluate, hessian, hvp, jacobian, jvp, vjp
from .grad_operation import GradOperation, grad_operation
from .graph import Graph, Node
from .mindspore2 import grad, value_and_grad
from .plan import Plan
from .transforms import vmap

__all__ = [
    "NODE_BUDGET", "ComputeError", "EngineError", "FeedError", "GradOperation", "Gradients",
    "GradientsOutput", "Graph", "GraphBuilder", "GraphError", "LRUCache", "LimitError", "Node",
    "Plan", "Tensor", "cache_stats", "compute_grad_operation", "compute_gradients",
    "configure_caches", "evaluate", "fn", "grad", "grad_operation", "gradients", "hessian",
    "hvp", "jacobian", "jvp", "run", "value_and_grad", "vjp", "vmap",
]
