"""Retries with exponential backoff and jitter, and calls bounded by a time limit.

:class:`Backoff` computes waits: ``base_s * factor**attempt`` capped at ``max_s``, with "full
jitter" (a uniform draw between 0 and that) so that many clients retrying together spread
out. A provider's ``Retry-After`` is honoured: the wait is at least what it asked for.

:func:`call_with_timeout` runs a blocking call on a worker thread and stops waiting after the
limit. Python cannot kill a thread, so a timed-out call is abandoned, not cancelled: it runs
to its end in the background and its result is dropped. Providers with their own client
timeout (the OpenAI-compatible one) also stop on their side.

Example:
    >>> import random
    >>> Backoff(base_s=0.5, factor=2, max_s=8, jitter=False).delay(3, rng=random.Random(0))
    4.0
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

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
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["value"] = function()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name=f"compound-timeout-{what}", daemon=True)
    worker.start()
    if not done.wait(timeout_s):
        raise LLMTimeout(f"{what} did not answer within {timeout_s:g}s (option timeout); "
                         "the call was abandoned", provider=provider, model=model)
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
