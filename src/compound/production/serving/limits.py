"""Request limits: body size (an ASGI middleware), per-key rate (token buckets), and failed
authentication per client address (an ASGI middleware over the same buckets).

The body limit refuses a request whose ``Content-Length`` is too large before reading it, and
counts the bytes of a body sent without one (chunked), refusing it as soon as it passes the
limit, so an oversized upload never sits in memory whole.

Example:
    >>> limiter = RateLimiter(requests_per_s=1.0, burst=2)
    >>> [limiter.take("key-1", now=0.0) for _ in range(3)]
    [0.0, 0.0, 1.0]
    >>> limiter.take("key-1", now=1.0)
    0.0
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """The request body passed the limit. An HTTPException, so that FastAPI's body reader
    passes it on instead of turning it into a generic 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes; "
                              "send less, or raise 'serve.max_body_bytes' in the spec")


def _error_body(status: int, kind: str, message: str) -> bytes:
    return json.dumps({"error": {"type": kind, "message": message, "status": status}}).encode()


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with 413.

    Args:
        app: the wrapped application.
        max_bytes: the largest body accepted.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await _reply(send, 400, "bad_request",
                                 f"Content-Length must be a number; received {value[:20]!r}")
                    return
                if declared > limit:
                    await _reply(send, 413, "body_too_large", BodyTooLarge(limit).detail)
                    return
                await self.app(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


async def _reply(send: Send, status: int, kind: str, message: str,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = _error_body(status, kind, message)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class AuthFailureLimit:
    """ASGI middleware rate-limiting failed authentication per client address.

    Every 401 answered to an address spends a token of that address's bucket in ``limiter``
    (apart from the buckets of keys); an address whose bucket is empty is answered 429 before
    its request is read, whatever key it sends, so keys cannot be guessed at full speed.

    Args:
        app: the wrapped application.
        limiter: the buckets (the server's rate limit; addresses are prefixed ``address:``).
    """

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        host = str(client[0]) if client else "unknown"
        caller = f"address:{host}"
        wait = self.limiter.wait(caller)
        if wait > 0:
            await _reply(send, 429, "rate_limited", (
                f"too many requests with a missing, unknown or revoked API key from {host} "
                f"({self.limiter.rate:g}/s, burst {self.limiter.burst:g}); retry in "
                f"{wait:.2f}s with a valid key"),
                headers=[(b"retry-after", str(max(1, math.ceil(wait))).encode())])
            return

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.limiter.take(caller)
            await send(message)

        await self.app(scope, receive, watched)


class RateLimiter:
    """One token bucket per caller: ``burst`` requests at once, ``requests_per_s`` sustained.

    Args:
        requests_per_s: the refill rate.
        burst: the bucket's size.
        max_callers: buckets kept; past this the idlest half is forgotten (a forgotten
            caller starts again with a full bucket).
    """

    def __init__(self, *, requests_per_s: float, burst: int, max_callers: int = 100_000
                 ) -> None:
        self.rate = requests_per_s
        self.burst = float(burst)
        self.max_callers = max_callers
        self._buckets: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def take(self, caller: str, *, now: float | None = None) -> float:
        """Spend one token; returns 0.0 when allowed, else the seconds until one is free."""
        if now is None:
            import time

            now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(caller)
            if bucket is None:
                if len(self._buckets) >= self.max_callers:
                    self._forget_idle()
                bucket = self._buckets[caller] = [self.burst, now]
            tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
            if tokens >= 1.0:
                bucket[0] = tokens - 1.0
                return 0.0
            bucket[0] = tokens
            return (1.0 - tokens) / self.rate

    def wait(self, caller: str, *, now: float | None = None) -> float:
        """The seconds until ``caller`` has a token (0.0: now), spending nothing."""
        if now is None:
            import time

            now = time.monotonic()
        with self._lock:
            bucket = self._buckets.get(caller)
            if bucket is None:
                return 0.0
            tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
            return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def _forget_idle(self) -> None:
        by_age = sorted(self._buckets.items(), key=lambda kv: kv[1][1])
        for caller, _ in by_age[: len(by_age) // 2]:
            del self._buckets[caller]
