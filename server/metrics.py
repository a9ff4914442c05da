"""Prometheus metrics, one registry per app so several apps can share a process (tests)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge(
            "ua_ws_connections", "Open websocket connections", ["protocol"], registry=r
        )
        self.updates = Counter(
            "ua_updates_total", "Document updates accepted and committed", registry=r
        )
        self.closes = Counter(
            "ua_ws_closes_total", "Connections closed by the server", ["code"], registry=r
        )
        self.persistence_lag = Histogram(
            "ua_persistence_lag_seconds",
            "Time from receiving an update to its commit",
            buckets=_LAG_BUCKETS,
            registry=r,
        )

        self.export_seconds = Histogram(
            "ua_export_render_seconds", "Time to render an export", ["format"], registry=r
        )

        self.generations = Counter(
            "ua_generations_total", "AI generations by outcome", ["status"], registry=r
        )
        self.first_token = Histogram(
            "ua_ai_first_token_seconds", "Time from request to the first AI token", registry=r
        )
        self.ai_tokens = Counter("ua_ai_tokens_total", "AI tokens streamed", registry=r)

    def committed(self, lag_s: float) -> None:
        """One accepted update reached Postgres, `lag_s` after it was received."""
        self.updates.inc()
        self.persistence_lag.observe(lag_s)

    def watch(self, name: str, doc: str, read: Callable[[], float]) -> None:
        """A gauge read at scrape time from a counter kept elsewhere (pub/sub, catch-ups)."""
        Gauge(name, doc, registry=self.registry).set_function(read)


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
