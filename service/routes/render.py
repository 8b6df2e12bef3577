"""POST /render: a graph as SVG or DOT (API.md section 10; drawing in service/render.py)."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from .. import render as drawing
from ..front import read_body
from ..graph_cache import GraphCache

router = APIRouter(tags=["pictures"])


def _graphs(request: Request) -> GraphCache:
    """One graph cache per app for pictures (built graphs are reused while editing)."""
    state = request.app.state
    if not hasattr(state, "render_graphs"):
        s = state.settings
        state.render_graphs = GraphCache(32, s.max_nodes, s.max_elements)
    return state.render_graphs


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
    picture = await run_in_threadpool(drawing.render, body, _graphs(request),
                                      getattr(request.app.state, "models", None))
    return Response(picture.body, media_type=picture.media_type)
