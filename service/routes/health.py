"""GET /healthz (the process answers), /readyz (every worker is up), /metrics."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: all workers up",
            responses={503: {"description": "Not every worker is up."}})
async def readyz(request: Request) -> JSONResponse:
    pool = request.app.state.pool
    ready = pool.ready
    body: dict[str, Any] = {"status": "ready" if ready else "not ready",
                            "workers": pool.describe()}
    return JSONResponse(body, status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
