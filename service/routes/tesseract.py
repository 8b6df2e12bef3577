"""/models/NAME/...: each registered model as a Tesseract (``protocols/tesseract.py``).

The parent only looks the model up, picks the answer's encoding from ``Accept`` and reads
the body; the job runs in a worker, like every computation, never on the event loop.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ..front import read_body
from ..protocols import tesseract
from .models import _found

router = APIRouter(tags=["tesseract"])
_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "Tesseract's request body (GET /models/{name}/"
    "openapi.json describes it for the model)."}}}}}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Tesseract's answer; arrays as {object_type, shape, dtype, data}."},
    404: {"description": "No model of that name."},
    406: {"description": "Accept names no format we produce (json, json+base64)."},
    422: {"description": "Tesseract's validation error: {detail: [{type, loc, msg}]}."}}


def _route(endpoint: str) -> Any:
    async def run(request: Request, name: str) -> Response:
        _found(request, name)
        output_format = tesseract.negotiate(request.headers.get("accept"))
        body = await read_body(request.headers.raw, request.receive,
                               request.app.state.settings.max_body_bytes)
        reply = await request.app.state.pool.submit(
            tesseract.tag(endpoint, output_format, name), body)
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)

    run.__name__ = f"tesseract_{endpoint}"
    run.__doc__ = (f"Tesseract's `{endpoint}` of the model (tesseract-core 1.x runtime "
                   "protocol; `Accept: application/json+base64` for base64 arrays).")
    return run


for _endpoint in tesseract.ENDPOINTS:
    router.add_api_route(f"/models/{{name}}/{_endpoint}", _route(_endpoint), methods=["POST"],
                         summary=f"Tesseract {_endpoint}", openapi_extra=_BODY,
                         responses=_ANSWERS, response_class=Response)


@router.get("/models/{name}/health", summary="Tesseract health")
async def tesseract_health(request: Request, name: str) -> dict[str, str]:
    _found(request, name)
    return {"status": "ok"}


@router.get("/models/{name}/openapi.json", summary="The model's Tesseract OpenAPI schema")
async def tesseract_openapi(request: Request, name: str) -> dict[str, Any]:
    """What tesseract-core's client reads: the endpoints, inputs, outputs and encodings."""
    m = _found(request, name)
    return tesseract.describe(m.name, m.inputs, m.variables, m.outputs)
