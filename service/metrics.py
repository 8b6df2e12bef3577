"""Prometheus metrics of one app: requests, latencies, queue depth, restarts, cache hits.

Each app has its own registry, so several apps (tests) never clash.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .endpoints import BY_PATH

# every compute endpoint of the table, and the app's own routes
_ENDPOINTS = frozenset({*BY_PATH, "/healthz", "/readyz", "/metrics", "/ops", "/docs",
                        "/openapi.json"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("gradserve_requests_total", "HTTP requests answered",
                                ["endpoint", "status"], registry=r)
        self.latency = Histogram("gradserve_request_seconds", "HTTP request latency",
                                 ["endpoint", "status"], registry=r,
                                 buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
                                          2.5, 5, 10, 30, 60))
        self.queue_depth = Gauge("gradserve_queue_depth", "Requests waiting for a worker",
                                 registry=r)
        self.busy_workers = Gauge("gradserve_busy_workers", "Workers computing", registry=r)
        self.restarts = Counter("gradserve_worker_restarts_total", "Workers replaced",
                                ["reason"], registry=r)
        self.plan_cache = Counter("gradserve_plan_cache_total",
                                  "Engine plan-cache lookups by workers", ["result"], registry=r)
        self.graph_cache = Counter("gradserve_graph_cache_total",
                                   "Built-graph cache lookups by workers", ["result"],
                                   registry=r)
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._plan_cache = {hit: self.plan_cache.labels("hit" if hit else "miss")
                            for hit in (True, False)}
        self._graph_cache = {hit: self.graph_cache.labels("hit" if hit else "miss")
                             for hit in (True, False)}

    def observe(self, path: str, status: int, seconds: float) -> None:
        """Count and time one answer (label children cached: this runs per request)."""
        key = (path, status)
        children = self._children.get(key)
        if children is None:
            labels = (endpoint_label(path), str(status))
            children = (self.requests.labels(*labels), self.latency.labels(*labels))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def cache_flags(self, plan_hit: bool | None, graph_hit: bool | None) -> None:
        """Count a worker's cache lookups (their label children made once: per answer)."""
        if plan_hit is not None:
            self._plan_cache[plan_hit].inc()
        if graph_hit is not None:
            self._graph_cache[graph_hit].inc()


def endpoint_label(path: str) -> str:
    if path in _ENDPOINTS:
        return path
    if path.startswith("/ops/"):
        return "/ops/{name}"
    if path.startswith("/docs/"):
        return "/docs/static"
    return "other"


class MetricsMiddleware:
    """Pure ASGI: counts and times every HTTP answer by endpoint and status."""

    def __init__(self, app: Callable[..., Any], metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe(scope["path"], status[0], time.perf_counter() - start)
