"""Every limit and knob of the service, read once from ``GRADSERVE_*`` variables and flags.

Flags given to ``python -m service`` win over environment variables, which win over the
defaults below. The same object is handed to the worker processes, so a limit is one number
everywhere.
"""
from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import container
from .container import cpu_count

__all__ = ["ENV_PREFIX", "Settings", "cpu_count", "knob", "memory_cap_bytes"]
ENV_PREFIX = "GRADSERVE_"


class Settings(BaseSettings):
    """Server settings; each field is also a ``--kebab-case`` flag of ``python -m service``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", description="Address to listen on.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to listen on.")
    workers: int = Field(default_factory=cpu_count, ge=1, le=256,
                         description="Worker processes computing gradients (default: the CPUs of "
                                     "the cgroup quota or affinity set).")
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
    shutdown_timeout: float = Field(8.0, ge=0, description=(
        "Seconds a stopping server (SIGTERM) drains: not ready, no new connections, every "
        "accepted request answered. Keep it under the runtime's grace period (docker stop: "
        "10 s unless --time; Kubernetes: terminationGracePeriodSeconds)."))
    worker_start_timeout: float = Field(60.0, gt=0,
                                        description="Seconds a new worker may take to start.")
    worker_memory_mb: int = Field(0, ge=0, description=(
        "Address space a worker may use, in MiB (a request past it gets 503); 0: 80 percent "
        "of the memory (the cgroup limit, else the host's RAM) shared among the workers."))
    model_repository: str | None = Field(None, description=(
        "A folder of models, NAME/graph.json or NAME/model.onnx, loaded at start (a model "
        "that does not load stops the start) and called by name (\"model\": \"NAME\")."))
    allow_model_upload: bool = Field(False, description="Allow PUT and DELETE /models/NAME "
                                     "(this process's in-memory models; 403 otherwise).")
    blas_threads: int = Field(0, ge=0, description=(
        "BLAS threads per worker; 0: the worker's share of the CPUs (OMP_NUM_THREADS and "
        "friends, when set, win)."))
    log_level: str = Field("info", description="uvicorn log level.")
    access_log: bool = Field(False, description="Log a line per request (uvicorn's access "
                             "log; off by default: /metrics counts every request).")
    request_log: bool = Field(False, description=(
        "Log one JSON line per request: request id, method, path, status, duration."))
    cors_origins: str = Field("", description=(
        "Comma-separated origins allowed cross-origin (CORS); empty: no CORS headers."))
    api_key_hashes: str = Field("", description=(
        "Comma-separated SHA-256 hex digests of the accepted API keys (sent as "
        "'Authorization: Bearer KEY' or 'X-API-Key: KEY'); empty: no keys needed."))


    @field_validator("api_key_hashes")
    @classmethod
    def _digests(cls, text: str) -> str:
        for digest in filter(None, (d.strip() for d in text.split(","))):
            if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                raise ValueError("each API key hash is 64 hex digits (SHA-256 of the key, "
                                 "e.g. `printf %s KEY | sha256sum`), never the key itself")
        return text


def memory_cap_bytes(settings: Settings) -> int:
    """The address-space cap of one worker: as configured, or its share of 80% of memory."""
    if settings.worker_memory_mb:
        return settings.worker_memory_mb * 2**20
    return int(container.memory_bytes() * 0.8 / max(1, settings.workers))


def knob(name: str) -> str:
    """How to raise a setting, for messages that hit its limit."""
    return f"{ENV_PREFIX}{name.upper()} or --{name.replace('_', '-')}"
