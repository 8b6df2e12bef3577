"""GET /models, GET/PUT/DELETE /models/{name}: the registered models (API.md section 8).

The registry lives in this (the parent) process; PUT and DELETE change it and bump its
generation, and the pool brings each worker up to date before its next job. A PUT body is
judged here, off the event loop, exactly as a repository file is (``repository.py``).
"""
from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..front import read_body
from ..problems import ProblemError
from ..repository import MEDIA_TYPES, Model, ModelError, Registry, load_model

router = APIRouter(tags=["models"])


class TensorInfo(BaseModel):
    name: str
    shape: list[int | None]
    dtype: str


class ModelInfo(BaseModel):
    name: str
    version: str = Field(description="A hash of the model's content.")
    source: str = Field(description="The file kind it came from: graph.json or model.onnx.")
    inputs: list[TensorInfo] = Field(description="Its placeholders, in positional order.")
    outputs: list[TensorInfo]
    variables: list[TensorInfo] = Field(description="Its trainable variables (xs, weights).")


_NOT_FOUND = {404: {"description": "No model of that name."}}
_WRITE = {403: {"description": "The server runs without --allow-model-upload."}}


def _registry(request: Request) -> Registry:
    return request.app.state.models


def _found(request: Request, name: str) -> Model:
    model = _registry(request).get(name)
    if model is None:
        raise ProblemError("not-found", f"no model named {name!r} is registered",
                           [(["path", "name"], "unknown model")])
    return model


def _may_write(request: Request) -> None:
    if not request.app.state.settings.allow_model_upload:
        raise ProblemError("forbidden", "changing models needs the server to run with "
                           "--allow-model-upload")


@router.get("/models", summary="The registered models")
async def list_models(request: Request) -> list[ModelInfo]:
    """Every model: name, version, source, and its inputs and outputs."""
    return [ModelInfo(**m.info()) for m in _registry(request).all()]


@router.get("/models/{name}", summary="One model", responses=_NOT_FOUND)
async def get_model(request: Request, name: str) -> ModelInfo:
    return ModelInfo(**_found(request, name).info())


@router.put("/models/{name}", summary="Register or replace a model",
            responses={**_WRITE, 201: {"description": "Registered."},
                       415: {"description": "Neither application/json nor application/onnx."},
                       422: {"description": "The model does not build."}},
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/GraphSpec"}},
                # ONNX has no registered media type: application/onnx (what API.md names)
                # or application/octet-stream, which OpenAPI client generators understand
                "application/octet-stream": {"schema": {"type": "string",
                                                        "format": "binary"}}}}})
async def put_model(request: Request, name: str) -> JSONResponse:
    """A graph as JSON (with inputs and outputs), or ONNX bytes with Content-Type
    application/onnx (or application/octet-stream). Changes this process's in-memory
    models, seen by every worker."""
    _may_write(request)
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    source = MEDIA_TYPES.get(media.lower())
    if source is None:
        raise ProblemError("unsupported-media-type", f"a model is application/json or "
                           f"application/onnx, not {media!r}")
    settings = request.app.state.settings
    body = await read_body(request.headers.raw, request.receive, settings.max_body_bytes)
    try:
        model = await asyncio.to_thread(load_model, name, source, body, settings.max_nodes,
                                        settings.max_elements)
    except ModelError as exc:
        raise ProblemError("invalid-graph", str(exc), [(["body", *exc.loc], exc.message)],
                           node=exc.node) from None
    created = _registry(request).put(model)
    return JSONResponse(ModelInfo(**model.info()).model_dump(), status_code=201 if created
                        else 200)


@router.delete("/models/{name}", summary="Remove a model", status_code=204,
               responses={**_NOT_FOUND, **_WRITE})
async def delete_model(request: Request, name: str) -> Response:
    _may_write(request)
    _found(request, name)
    _registry(request).delete(name)
    return Response(status_code=204)
