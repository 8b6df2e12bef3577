"""One router per endpoint family."""
from . import docs, grad_operation, gradients, health, ops, playground, render

ROUTERS = (gradients.router, grad_operation.router, ops.router, health.router, docs.router,
           render.router, playground.router)
