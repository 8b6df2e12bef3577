"""POST /render: a graph as SVG or DOT (API.md section 10; drawing in service/render.py).

Drawing (building the graph, differentiating it, running Graphviz) runs in a worker like
every computation, never on the event loop or in a thread of the parent's (the GIL)."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response

from .. import render as drawing
from ..front import read_body
from ..worker import RENDER_TAG

router = APIRouter(tags=["pictures"])


@router.post("/render", summary="A graph (with its gradient nodes) as SVG or DOT",
             response_class=Response, openapi_extra={"requestBody": {
                 "required": True, "content": {"application/json": {
                     "schema": drawing.RenderRequest.model_json_schema()}}}},
             responses={200: {"description": "The picture.", "content": {
                 "image/svg+xml": {}, "text/vnd.graphviz": {}}},
                 422: {"description": "Not a valid graph; the problem names the node."},
                 503: {"description": "SVG asked for and Graphviz's dot is not installed."}})
async def render(request: Request) -> Response:
    """The graph drawn by Graphviz: name scopes as boxes, gradient nodes (with `ys` and
    `xs`) in their own cluster and colour. `format`: `svg` (default) or `dot`."""
    body = await read_body(request.headers.raw, request.receive,
                           request.app.state.settings.max_body_bytes)
    reply = await request.app.state.pool.submit(RENDER_TAG, body)
    return Response(reply.body, status_code=reply.status, media_type=reply.content_type)
