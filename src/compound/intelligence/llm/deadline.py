"""One deadline for a whole model call: connecting, the first byte and the whole answer.

A client timeout such as ``httpx``'s bounds each *read*, so a server that trickles one byte
every two seconds never trips it. Every model call therefore runs under a :class:`Deadline`:
the provider checks it between pieces (bytes, SSE events, tokens), and when it passes, or the
caller goes away, whatever was registered with :meth:`Deadline.on_stop` runs at once (the
HTTP transport shuts its socket, which wakes a read blocked on it).

Deadlines nest: a call's deadline is never later than the one it runs under (a served run's
``serve.timeout_s``, a fallback chain's or an option's limit), and stopping a deadline stops
every deadline under it. The current one travels in a context variable, as asyncio's own
timeouts do, because the provider interface (``_stream_raw``) predates it and thread pools
copy context variables to their threads.

Example:
    >>> with Deadline.scope(30.0, label="the run's limit") as run:
    ...     with Deadline.scope(5.0, label="timeout_s=5") as call:
    ...         round(call.remaining()) <= 5, Deadline.current() is call
    (True, True)
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from compound.intelligence.llm.errors import LLMCancelled, LLMError, LLMTimeout

_CURRENT: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "compound_deadline", default=None)
_INF = float("inf")
_LOCK = threading.Lock()  # guards every deadline's children and closers (cheap, rarely held)


class Deadline:
    """When a call must be over, and whether it was stopped sooner.

    Args:
        timeout_s: seconds from now; None: no limit of its own (only the parent's).
        label: names the limit, with its length, in the timeout message (``"the model's
            timeout_s of 5s"``).
        parent: the deadline this one runs under (default: the current one).
    """

    __slots__ = ("_children", "_closers", "_parent", "expires_at", "label", "reason",
                 "stopped", "timeout_s")

    def __init__(self, timeout_s: float | None, *, label: str = "the time limit",
                 parent: Deadline | bool | None = True) -> None:
        if parent is True:
            parent = _CURRENT.get()
        self._parent: Deadline | None = parent or None
        self.timeout_s = timeout_s
        self.label = label
        own = time.monotonic() + timeout_s if timeout_s is not None else _INF
        self.expires_at = own
        if self._parent is not None and self._parent.expires_at < own:
            self.expires_at = self._parent.expires_at
            self.label = self._parent.label
            self.timeout_s = self._parent.timeout_s
        self.stopped: str | None = None  # "timeout" or "cancelled" once stopped
        self.reason = ""
        self._children: set[Deadline] = set()
        self._closers: dict[int, Callable[[], None]] = {}
        if self._parent is not None:
            with _LOCK:
                inherited = self._parent.stopped
                if inherited is None:
                    self._parent._children.add(self)
            if inherited is not None:
                self.stopped, self.reason = inherited, self._parent.reason

    # -- reading ----------------------------------------------------------------------------

    @staticmethod
    def current() -> Deadline | None:
        """The deadline the caller runs under, if any."""
        return _CURRENT.get()

    def remaining(self) -> float:
        """Seconds left (0 once stopped or passed; ``inf`` without a limit)."""
        if self.stopped is not None:
            return 0.0
        return max(0.0, self.expires_at - time.monotonic())

    def done(self) -> bool:
        """Whether the call must stop now (the time passed, or it was cancelled)."""
        if self.stopped is None and time.monotonic() >= self.expires_at:
            self._stop("timeout", "")
        return self.stopped is not None

    def error(self, *, provider: str = "", model: str = "") -> LLMError:
        """The error that says why the call stopped."""
        if self.stopped == "cancelled":
            return LLMCancelled(f"the call was stopped: {self.reason or 'its caller went away'}",
                                provider=provider, model=model)
        return LLMTimeout(
            f"the call did not finish within {self.label}, counting connection, first byte "
            "and the whole answer; it was stopped and its connection closed. Raise the limit, "
            "or check the provider (a slow or stalled server)",
            provider=provider, model=model)

    def check(self, *, provider: str = "", model: str = "") -> None:
        """Raise :meth:`error` when the call must stop."""
        if self.done():
            raise self.error(provider=provider, model=model)

    def wait(self, seconds: float, *, provider: str = "", model: str = "") -> None:
        """Sleep ``seconds``, or raise :meth:`error` if the deadline comes (or the call is
        cancelled) first."""
        woken = threading.Event()
        unregister = self.on_stop(woken.set)
        left = self.remaining()
        try:
            woken.wait(min(seconds, left))
        finally:
            unregister()
        if seconds >= left:
            self._stop("timeout", "")
        self.check(provider=provider, model=model)

    # -- stopping ---------------------------------------------------------------------------

    def cancel(self, reason: str = "") -> None:
        """Stop the call (and every call under it) now: its caller no longer waits."""
        self._stop("cancelled", reason)

    def on_stop(self, closer: Callable[[], None]) -> Callable[[], None]:
        """Run ``closer`` when this deadline stops (at once if it has); returns a function
        that unregisters it. Closers run on the thread that stops the deadline."""
        key = id(closer)
        with _LOCK:
            stopped = self.stopped is not None
            first = not self._closers
            if not stopped:
                self._closers[key] = closer
        if stopped:
            _run(closer)
        elif first and self.expires_at != _INF:
            _WATCHDOG.watch(self)  # only deadlines with something to close need waking

        def unregister() -> None:
            with _LOCK:
                self._closers.pop(key, None)

        return unregister

    def finish(self) -> None:
        """The call is over: detach from the parent; anything still under it is stopped."""
        with _LOCK:
            children = list(self._children)
            self._children.clear()
            self._closers.clear()
            if self._parent is not None:
                self._parent._children.discard(self)
        for child in children:
            child.cancel("the call it was part of ended")

    def _stop(self, kind: str, reason: str) -> None:
        with _LOCK:
            if self.stopped is not None:
                return
            self.stopped, self.reason = kind, reason
            closers = list(self._closers.values())
            self._closers.clear()
            children = list(self._children)
        for closer in closers:
            _run(closer)
        for child in children:
            child._stop(kind, reason)

    # -- scoping ----------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def scope(cls, timeout_s: float | None, *, label: str = "the time limit"
              ) -> Iterator[Deadline]:
        """A deadline that is current inside the block and finished after it."""
        deadline = cls(timeout_s, label=label)
        token = _CURRENT.set(deadline)
        try:
            yield deadline
        finally:
            _CURRENT.reset(token)
            deadline.finish()

    @contextmanager
    def entered(self) -> Iterator[Deadline]:
        """Make this deadline current inside the block (without finishing it)."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}, stopped={self.stopped!r})"


def _run(closer: Callable[[], None]) -> None:
    with contextlib.suppress(Exception):  # one that fails must not stop the others
        closer()


class _Watchdog:
    """One daemon thread that stops deadlines when their time comes, so that a read blocked
    on a socket is woken at the deadline rather than at its next byte."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._cond = threading.Condition()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.expires_at, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="compound-deadlines",
                                                daemon=True)
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                _, _, deadline = heapq.heappop(self._heap)
            if deadline.stopped is None and deadline._closers:
                deadline.done()


_WATCHDOG = _Watchdog()
