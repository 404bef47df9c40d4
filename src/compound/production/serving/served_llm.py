"""LLMs behind a queue: concurrent requests never share a generation, and never wait forever.

An in-process model (llama.cpp) holds one context: two generations interleaved on it would
corrupt each other's output. :class:`LLMQueue` admits ``concurrency`` calls at a time (1 for
the embedded model) in arrival order; up to ``max_waiting`` more wait, and a request beyond
that is refused at once (503) rather than queued behind minutes of work. A waiting call whose
request has gone away leaves the queue without running.

:class:`ServedLLM` wraps any :class:`~compound.intelligence.llm.LLM` with a queue and streams
its text into the current request's :class:`~compound.production.serving.events.RunChannel`,
so a workflow's LLM steps stream tokens to a client without the workflow knowing it is
served. Generation stops at the next token once the client disconnects.

A call's ``timeout_s`` counts its wait in the queue: the deadline starts when the call does
(:mod:`~compound.intelligence.llm.deadline`), and a call waiting past it leaves the queue with
``LLMTimeout``. A served model runs its calls on its own threads, one per place and per
waiting call, so a stalled upstream holds only those, never the threads other models or the
event loop need; :meth:`LLMQueue.saturation` tells ``/readyz`` when the queue is full.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> llm = ServedLLM(ScriptedLLM(["Bonjour."]), LLMQueue("scripted", concurrency=1))
    >>> llm.complete("Say hello in French").text, llm.provider
    ('Bonjour.', 'scripted')
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from compound.errors import RuntimeFailure
from compound.intelligence.llm.base import LLM, RawResult
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.types import GenerationParams, Message
from compound.intelligence.llm.wrapped import WrappedLLM
from compound.production.serving.events import Cancelled, current_channel, current_step


class Overloaded(RuntimeFailure):
    """A model's queue is full, or a call waited longer than the queue allows."""

    retryable = False


class LLMQueue:
    """First come, first served admission to one model.

    Args:
        name: the model's name, for messages and metrics.
        concurrency: calls running at once.
        max_waiting: calls allowed to wait; one more is refused with :class:`Overloaded`.
        wait_timeout_s: the longest a call waits before it is refused.
        on_change: called with the number waiting whenever it changes (a metrics gauge).
    """

    def __init__(self, name: str, *, concurrency: int = 1, max_waiting: int = 32,
                 wait_timeout_s: float = 60.0,
                 on_change: Callable[[int], None] | None = None) -> None:
        self.name = name
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self.wait_timeout_s = wait_timeout_s
        self.on_change = on_change
        self.running = 0
        self._waiting: deque[object] = deque()
        self._cond = threading.Condition()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def saturation(self) -> str | None:
        """Why the model cannot take another call now (every place taken and the waiting
        line full, so the next call is refused), or None."""
        with self._cond:
            running, waiting = self.running, len(self._waiting)
        if running >= self.concurrency and waiting >= self.max_waiting:
            return (f"model '{self.name}' is saturated: {running} call(s) running (the "
                    f"concurrency) and {waiting} waiting (serve.llm_queue.max_waiting)")
        return None

    @contextmanager
    def slot(self, cancelled: threading.Event | None = None,
             call: Deadline | None = None) -> Iterator[None]:
        """Hold one of the model's places for the duration of the block.

        Raises:
            Overloaded: the queue is full, or the wait passed ``wait_timeout_s``.
            Cancelled: ``cancelled`` was set while waiting.
            LLMTimeout, LLMCancelled: the call's deadline ``call`` passed or was stopped.
        """
        ticket = object()
        deadline = time.monotonic() + self.wait_timeout_s
        with self._cond:
            if self.running >= self.concurrency and len(self._waiting) >= self.max_waiting:
                raise Overloaded(
                    f"model '{self.name}' is busy: {self.running} call(s) running and "
                    f"{len(self._waiting)} waiting (the limit, serve.llm_queue.max_waiting); "
                    "retry later")
            self._waiting.append(ticket)
            self._changed()
            try:
                while self._waiting[0] is not ticket or self.running >= self.concurrency:
                    if cancelled is not None and cancelled.is_set():
                        raise Cancelled(f"the request waiting for model '{self.name}' went away")
                    if call is not None:
                        call.check(model=self.name)
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Overloaded(
                            f"waited {self.wait_timeout_s:g}s for model '{self.name}' without "
                            "getting a turn; raise serve.llm_queue.wait_timeout_s or add "
                            "capacity")
                    self._cond.wait(min(left, 0.05))
                self.running += 1
            finally:
                self._waiting.remove(ticket)
                self._changed()
                self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self.running -= 1
                self._cond.notify_all()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(len(self._waiting))


class ServedLLM(WrappedLLM):
    """An LLM behind an :class:`LLMQueue` that streams its text to the current request.

    Args:
        inner: the model.
        queue: its queue (one per model, shared by every step using it).
    """

    def __init__(self, inner: LLM, queue: LLMQueue) -> None:
        super().__init__(inner)
        self.queue = queue

    @property  # type: ignore[override]
    def max_threads(self) -> int:  # one per place and per waiting call: no more are needed
        return self.queue.concurrency + self.queue.max_waiting + 1

    def _stream_raw(self, messages: tuple[Message, ...], params: GenerationParams
                    ) -> Iterator[str | RawResult]:
        channel = current_channel.get()
        cancelled = channel.cancelled if channel is not None else None
        step = current_step.get()
        with self.queue.slot(cancelled, Deadline.current()):
            pieces = self.inner._stream_raw(messages, params)
            try:
                for item in pieces:
                    if cancelled is not None and cancelled.is_set():
                        raise Cancelled(f"the client went away; stopped generating with "
                                        f"model '{self.model}'")
                    if channel is not None and channel.tokens and isinstance(item, str):
                        channel.publish("token", {"text": item, "step": step})
                    yield item
            finally:
                close = getattr(pieces, "close", None)
                if close is not None:
                    close()

    def _complete_raw(self, messages: tuple[Message, ...], params: GenerationParams
                      ) -> RawResult:
        channel = current_channel.get()
        if channel is not None:  # stream, so that tokens reach the client as they come
            return super()._complete_raw(messages, params)
        with self.queue.slot(None, Deadline.current()):
            return self.inner._complete_raw(messages, params)
