"""GET /playground: one page (service/static/, vanilla JS, no CDN) to write or load a
graph, compute its gradients (POST /gradients) and see it drawn (POST /render)."""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ..problems import ProblemError

STATIC = Path(__file__).resolve().parent.parent / "static"
FILES = {"playground.js": "text/javascript", "playground.css": "text/css",
         "examples.json": "application/json"}

router = APIRouter(include_in_schema=False)


@router.get("/playground")
async def playground() -> FileResponse:
    return FileResponse(STATIC / "playground.html", media_type="text/html")


@router.get("/playground/{name}")
async def playground_file(name: str) -> FileResponse:
    if name not in FILES:
        raise ProblemError("not-found", f"no playground file {name!r}",
                           [(["path", "name"], "unknown file")])
    return FileResponse(STATIC / name, media_type=FILES[name])
