"""Retries with exponential backoff and jitter, and calls bounded by a time limit.

:class:`Backoff` computes waits: ``base_s * factor**attempt`` capped at ``max_s``, with "full
jitter" (a uniform draw between 0 and that) so that many clients retrying together spread
out. A provider's ``Retry-After`` is honoured: the wait is at least what it asked for.

:func:`call_with_timeout` runs a blocking call under a
:class:`~compound.intelligence.llm.deadline.Deadline` of the limit (never later than the one
the caller runs under), on a worker thread the caller stops waiting for at the limit. A model
call under that deadline stops by itself: its connection is closed, or its generation stopped
at the next token, so nothing keeps running behind a timed-out option. Python cannot kill a
thread, so a function that ignores deadlines is abandoned instead, and runs to its end.

Example:
    >>> import random
    >>> Backoff(base_s=0.5, factor=2, max_s=8, jitter=False).delay(3, rng=random.Random(0))
    4.0
"""

from __future__ import annotations

import contextvars
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import LLMTimeout

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before retry number ``attempt`` (0-based).

    Args:
        base_s: the first wait.
        factor: growth per retry.
        max_s: the cap on one wait.
        jitter: draw uniformly in ``[0, wait]`` (full jitter) instead of waiting exactly.
    """

    base_s: float = 0.5
    factor: float = 2.0
    max_s: float = 8.0
    jitter: bool = True

    def delay(self, attempt: int, *, rng: random.Random, retry_after_s: float | None = None
              ) -> float:
        """Seconds to wait before retry ``attempt``; at least ``retry_after_s`` when given."""
        wait = min(self.max_s, self.base_s * self.factor ** attempt)
        if self.jitter:
            wait = rng.uniform(0.0, wait)
        if retry_after_s is not None:
            wait = max(wait, retry_after_s)
        return wait


def call_with_timeout(function: Callable[[], T], timeout_s: float | None, *, what: str,
                      provider: str = "", model: str = "") -> T:
    """Run ``function`` and return its result, or raise :class:`LLMTimeout` after
    ``timeout_s`` seconds (None: wait as long as it takes, on this thread).

    Exceptions from ``function`` are re-raised here.
    """
    if timeout_s is None:
        return function()
    scope = Deadline(timeout_s, label=f"the option timeout of {what} ({timeout_s:g}s)")
    if scope.done():  # an enclosing deadline has passed already
        scope.finish()
        raise scope.error(provider=provider, model=model)
    box: dict[str, Any] = {}
    done = threading.Event()
    context = contextvars.copy_context()

    def work() -> None:
        try:
            with scope.entered():
                box["value"] = function()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=context.run, args=(work,), name=f"compound-timeout-{what}",
                              daemon=True)
    worker.start()
    try:
        if not done.wait(scope.remaining()) and not done.wait(0.5):
            # a call under the deadline has stopped itself by now; one that has not ignores
            # deadlines and is abandoned
            raise LLMTimeout(f"{what} did not answer within {timeout_s:g}s (option timeout); "
                             "the call was stopped", provider=provider, model=model)
    finally:
        scope.finish()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
