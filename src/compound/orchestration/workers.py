"""Calling a blocking function with a time limit.

Python cannot stop a running function from outside, so a call that must finish within a
limit runs on a worker thread while the caller waits at most that long. Workers are daemon
threads kept for reuse (starting a thread per call costs more than the orchestration around
it); a worker whose call overran is left to finish on its own and is not waited for, not
even at interpreter exit, so a tool that hangs forever cannot hang the process.

The call runs in a copy of the caller's context variables, under a
:class:`~compound.intelligence.llm.deadline.Deadline` of its limit (never later than the
caller's): a model call it makes stops, and closes its connection, when the limit passes,
instead of running on behind the timeout.

Example:
    >>> workers = Workers()
    >>> workers.call(sum, ([1, 2, 3],), timeout_s=1.0)
    6
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import Any

from compound.errors import RuntimeFailure
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import LLMTimeout


class CallTimeout(RuntimeFailure):
    """A call did not finish within its time limit (it may still be running)."""

    def __init__(self, what: str, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        super().__init__(f"{what} did not finish within {timeout_s:g}s")


class _Job:
    __slots__ = ("args", "callback", "done", "error", "fn", "kwargs", "result")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                 callback: Callable[[], None] | None) -> None:
        self.fn, self.args, self.kwargs, self.callback = fn, args, kwargs, callback
        self.done = threading.Lock()
        self.done.acquire()
        self.result: Any = None
        self.error: BaseException | None = None


class _Worker:
    __slots__ = ("job", "pool", "ready")

    def __init__(self, pool: Workers) -> None:
        self.pool = pool
        self.ready = threading.Lock()
        self.ready.acquire()
        self.job: _Job | None = None
        threading.Thread(target=self._loop, name="compound-worker", daemon=True).start()

    def _loop(self) -> None:
        while True:
            self.ready.acquire()
            job = self.job
            if job is None:
                return
            try:
                job.result = job.fn(*job.args, **job.kwargs)
            except BaseException as exc:
                job.error = exc
            self.job = None
            self.pool._idle.append(self)  # before waking the caller, so its next call reuses us
            job.done.release()
            if job.callback is not None:
                job.callback()


class Workers:
    """A pool of reusable daemon threads for calls with a time limit.

    Args:
        max_workers: most threads alive at once, counting ones stuck in calls that overran.
    """

    def __init__(self, *, max_workers: int = 64) -> None:
        self.max_workers = max_workers
        self._idle: list[_Worker] = []
        self._count = 0
        self._lock = threading.Lock()

    def _submit(self, job: _Job) -> None:
        try:
            worker = self._idle.pop()
        except IndexError:
            with self._lock:
                if self._count >= self.max_workers:
                    raise RuntimeFailure(
                        f"{self._count} calls are still running past their time limit; "
                        "fix the tool or step that hangs (see its timeout errors in the trace)"
                    ) from None
                self._count += 1
            worker = _Worker(self)
        worker.job = job
        worker.ready.release()

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...] = (),
             kwargs: dict[str, Any] | None = None, *, timeout_s: float,
             what: str = "the call") -> Any:
        """``fn(*args, **kwargs)`` on a worker; raises :class:`CallTimeout` after ``timeout_s``."""
        scope = _scope(timeout_s, what)
        job = _Job(_under(scope, fn), args, kwargs or {}, None)
        self._submit(job)
        try:
            if not job.done.acquire(timeout=timeout_s):
                scope.cancel(f"{what} passed its time limit of {timeout_s:g}s")
                raise CallTimeout(what, timeout_s)
        finally:
            scope.finish()
        if job.error is not None:
            _raise(job.error, scope, what, timeout_s)
        return job.result

    async def acall(self, fn: Callable[..., Any], args: tuple[Any, ...] = (),
                    kwargs: dict[str, Any] | None = None, *, timeout_s: float | None,
                    what: str = "the call") -> Any:
        """Like :meth:`call`, awaited without blocking the event loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_resolve, future)

        scope = _scope(timeout_s, what)
        job = _Job(_under(scope, fn), args, kwargs or {}, wake)
        self._submit(job)
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            scope.cancel(f"{what} passed its time limit of {timeout_s or 0.0:g}s")
            raise CallTimeout(what, timeout_s or 0.0) from None
        except asyncio.CancelledError:
            scope.cancel("the request was cancelled")
            raise
        finally:
            scope.finish()
        if job.error is not None:
            _raise(job.error, scope, what, timeout_s)
        return job.result


def _raise(error: BaseException, scope: Deadline, what: str, timeout_s: float | None) -> None:
    """Raise ``error``; a model call stopped by this limit is the limit's timeout."""
    if isinstance(error, LLMTimeout) and scope.done() and scope.stopped == "timeout":
        raise CallTimeout(what, timeout_s or 0.0) from error
    raise error


def _scope(timeout_s: float | None, what: str) -> Deadline:
    label = (f"the time limit of {what} ({timeout_s:g}s)" if timeout_s is not None and
             timeout_s < 1e8 else "the caller's time limit")
    return Deadline(timeout_s if timeout_s is not None and timeout_s < 1e8 else None,
                    label=label)


def _under(scope: Deadline, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run in a copy of the caller's context, with ``scope`` current."""
    context = contextvars.copy_context()

    def call(*args: Any, **kwargs: Any) -> Any:
        with scope.entered():
            return fn(*args, **kwargs)

    return lambda *args, **kwargs: context.run(call, *args, **kwargs)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
