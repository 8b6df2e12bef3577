"""Every limit and knob of the service, read once from ``GRADSERVE_*`` variables and flags.

Flags given to ``python -m service`` win over environment variables, which win over the
defaults below. The same object is handed to the worker processes, so a limit is one number
everywhere.
"""
from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Server settings; each field is also a ``--kebab-case`` flag of ``python -m service``."""

    model_config = SettingsConfigDict(env_prefix="GRADSERVE_", frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on.")
    workers: int = Field(default_factory=cpu_count, ge=1, le=256,
                         description="Worker processes computing gradients (default: CPUs).")
    timeout: float = Field(30.0, gt=0, description="Seconds one computation may take (504).")
    queue_size: int = Field(64, ge=0, description="Requests waiting for a free worker (429).")
    retry_after: int = Field(1, ge=0, description="Retry-After seconds sent with a 429.")
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1, description="Request body limit (413).")
    max_nodes: int = Field(200_000, ge=1, description="Nodes per graph (413).")
    max_elements: int = Field(16 * 1024 * 1024, ge=1,
                              description="Elements per tensor, checked from shapes (413).")
    graph_cache_size: int = Field(128, ge=0, description="Built graphs kept per worker.")
    plan_cache_size: int = Field(256, ge=0,
                                 description="Differentiated plans kept per worker.")
    shutdown_timeout: float = Field(30.0, ge=0,
                                    description="Seconds to finish in-flight work on stop.")
    worker_start_timeout: float = Field(60.0, gt=0,
                                        description="Seconds a new worker may take to start.")
    worker_memory_mb: int = Field(0, ge=0, description=(
        "Address space a worker may use, in MiB (a request past it gets 503); 0: 80 percent "
        "of the machine's memory shared among the workers."))
    model_repository: str | None = Field(None, description=(
        "A folder of models, NAME/graph.json or NAME/model.onnx, loaded at start (a model "
        "that does not load stops the start) and called by name (\"model\": \"NAME\")."))
    allow_model_upload: bool = Field(False, description="Allow PUT and DELETE /models/NAME "
                                     "(this process's in-memory models; 403 otherwise).")
    log_level: str = Field("info", description="uvicorn log level.")
    access_log: bool = Field(False, description="Log a line per request (uvicorn's access "
                             "log; off by default: /metrics counts every request).")


def memory_cap_bytes(settings: Settings) -> int:
    """The address-space cap of one worker: as configured, or its share of 80% of RAM."""
    if settings.worker_memory_mb:
        return settings.worker_memory_mb * 2**20
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(total * 0.8 / max(1, settings.workers))
