"""``create_app(settings)``: the FastAPI app, its worker pool (in the lifespan), errors,
metrics, docs and the OpenAPI schema."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from . import openapi
from .front import ComputeFront
from .metrics import Metrics, MetricsMiddleware
from .pool import Pool
from .problems import PROBLEM_JSON, ProblemError, crash_body, problem_body
from .repository import Registry, load_repository
from .routes import ROUTERS, docs
from .settings import Settings
from .shell import Shell, cors_options

log = logging.getLogger("gradserve")
API_VERSION = "1.0"  # the wire contract's version (API.md v1), not the package's
DESCRIPTION = ("Gradients of computation graphs sent as JSON: `POST /gradients` "
               "(TensorFlow 1.x tf.gradients) and `POST /grad-operation` (MindSpore "
               "GradOperation), on one numpy reverse-mode engine.")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; its lifespan starts the worker pool and stops it gracefully. The models of
    ``settings.model_repository`` are loaded here, once (``RepositoryError`` if one does
    not load)."""
    settings = settings or Settings()
    metrics = Metrics()
    registry = Registry(load_repository(settings.model_repository, settings.max_nodes,
                                        settings.max_elements)
                        if settings.model_repository else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = Pool(settings, metrics, registry)
        app.state.pool = pool
        await pool.start()
        log.info("gradserve ready: %d workers, %d models", settings.workers,
                 len(registry.all()))
        try:
            yield
        finally:
            await pool.stop()

    app = FastAPI(title="Gradserve", version=API_VERSION, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.models = registry
    for router in ROUTERS:
        app.include_router(router)
    app.mount(docs.STATIC_PATH, StaticFiles(directory=docs.ASSETS), name="swagger-ui")
    _add_error_handlers(app)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(ComputeFront, metrics=metrics)  # the compute fast path
    app.add_middleware(Shell, settings=settings, metrics=metrics)  # ids, keys, JSON only
    cors = cors_options(settings)
    if cors is not None:  # outermost: preflights are answered before keys are asked for
        app.add_middleware(CORSMiddleware, **cors)
    app.openapi = lambda: openapi.describe(app)  # type: ignore[method-assign]
    return app


def _problem(exc: ProblemError) -> Response:
    return Response(exc.body(), status_code=exc.status, media_type=PROBLEM_JSON,
                    headers=exc.headers or None)


def _add_error_handlers(app: FastAPI) -> None:
    async def on_problem(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return _problem(exc)

    async def on_http(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        problem_type = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code,
                                                                         "internal")
        body = problem_body(problem_type, str(exc.detail), status=exc.status_code)
        return Response(body, status_code=exc.status_code, media_type=PROBLEM_JSON,
                        headers=exc.headers)

    async def on_invalid(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        items = [(list(e["loc"]), e["msg"]) for e in exc.errors()]
        return _problem(ProblemError("invalid-request", "the request is not valid", items))

    async def on_crash(_: Request, exc: Exception) -> Response:
        return Response(crash_body(exc), status_code=500, media_type=PROBLEM_JSON)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(Exception, on_crash)
