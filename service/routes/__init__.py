"""One router per family of the FastAPI app's own endpoints (the compute endpoints are
answered by ``front`` and described from ``endpoints``)."""
from . import docs, health, models, ops

ROUTERS = (ops.router, models.router, health.router, docs.router)
