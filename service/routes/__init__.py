"""One router per family of the FastAPI app's own endpoints (the compute endpoints are
answered by ``front`` and described from ``endpoints``)."""
from . import docs, health, ops, playground, render

ROUTERS = (ops.router, health.router, docs.router, render.router, playground.router)
