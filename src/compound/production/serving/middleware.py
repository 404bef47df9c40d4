"""Counting every HTTP request: an ASGI middleware recording status and latency by route.

Routes are labelled by their template (``/v1/runs/{run_id}``), never by the raw path, so that
the metrics' label sets stay bounded whatever clients send.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from compound.production.serving.limits import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from compound.production.monitoring.metrics import ServingMetrics


class RequestMetrics:
    """ASGI middleware: requests in flight, and status and latency per route.

    Args:
        app: the wrapped application.
        metrics: where the counts go.
    """

    def __init__(self, app: ASGIApp, *, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recorded(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        metrics = self.metrics
        metrics.inflight.inc()
        try:
            await self.app(scope, receive, recorded)
        finally:
            metrics.inflight.dec()
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            metrics.record_request(path, scope["method"], status, time.perf_counter() - start)
            if status >= 400:
                metrics.record_error("http", str(status))
