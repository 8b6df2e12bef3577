"""One router per endpoint family."""
from . import docs, grad_operation, gradients, health, ops

ROUTERS = (gradients.router, grad_operation.router, ops.router, health.router, docs.router)
