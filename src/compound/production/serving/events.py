"""Live events of a run (step started/finished, model tokens), and their Server-Sent-Events form.

A streaming request makes a :class:`RunChannel` and sets it as the current channel
(:data:`current_channel`, a context variable) while its run executes. Two things publish into
it without knowing about HTTP: the serving tracer, when a step's span starts and ends, and the
served LLM wrapper, for each piece of generated text. The variable is copied into the threads
that model calls run on (``asyncio.to_thread`` copies the context), so tokens generated on a
worker thread find their request's channel.

The channel also carries cancellation the other way: when the client goes away the request
sets :attr:`RunChannel.cancelled`, and the model stops generating at its next token.

A channel with a :attr:`RunChannel.screen` hands its ``token`` events to it instead of the
stream: the screen (:class:`~compound.production.serving.screening.TokenScreen`) passes on
what the output rails let through, with :meth:`RunChannel.emit`.

Example:
    >>> sse("step", {"step": "classify", "status": "started"})
    b'event: step\\ndata: {"step":"classify","status":"started"}\\n\\n'
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from contextvars import ContextVar
from typing import Any, Protocol


class Cancelled(Exception):
    """The request this work was for has gone away."""


class Screen(Protocol):
    """What checks a run's tokens before the client sees them."""

    def take(self, data: dict[str, Any]) -> None: ...


class RunChannel:
    """Events of one run, from any thread, to the request streaming them.

    Args:
        run_id: the run whose events this channel carries (spans of other runs are ignored).
        tokens: whether model calls should stream their text here.
    """

    def __init__(self, run_id: str, *, tokens: bool = True) -> None:
        self.run_id = run_id
        self.tokens = tokens
        self.cancelled = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.screen: Screen | None = None

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Queue an event for the stream (safe from any thread); a token goes through the
        screen first, when there is one."""
        if event == "token" and self.screen is not None:
            self.screen.take(data)
            return
        self.emit(event, data)

    def emit(self, event: str, data: dict[str, Any]) -> None:
        """Queue an event for the stream as it is (safe from any thread)."""
        if threading.get_ident() == self._thread:
            self.queue.put_nowait((event, data))
        else:
            # a closed loop (RuntimeError) means nobody is listening any more
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self.queue.put_nowait, (event, data))


current_channel: ContextVar[RunChannel | None] = ContextVar("compound_run_channel",
                                                            default=None)
#: the step whose span started last in this context (token events name it)
current_step: ContextVar[str | None] = ContextVar("compound_current_step", default=None)


def sse(event: str, data: Any) -> bytes:
    """One Server-Sent-Events message."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()
