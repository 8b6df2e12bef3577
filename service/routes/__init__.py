"""One router per family of the FastAPI app's own endpoints (the compute endpoints are
answered by ``front`` and described from ``endpoints``)."""
from . import docs, health, models, ops, playground, render, tesseract

ROUTERS = (ops.router, models.router, tesseract.router, health.router, docs.router, render.router,
           playground.router)
