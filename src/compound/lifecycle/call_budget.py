"""A budget of model calls, stated before the first call and never exceeded.

The prompt optimiser (:mod:`compound.lifecycle.prompt_opt`) plans its work as a number of
model calls, prints it, and then makes them through :class:`CountedLLM`, which takes one call
from a :class:`CallBudget` before each real call and refuses the call (:class:`CallBudgetSpent`)
once the budget is spent: a plan that underestimated stops, it does not overspend. Answers a
cache gives cost nothing: put the counter inside the cache.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> budget = CallBudget(2)
    >>> llm = CountedLLM(ScriptedLLM(["4"]), budget)
    >>> llm.complete("2+2?").text, llm.complete("2+2?").text, budget.used
    ('4', '4', 2)
    >>> llm.complete("2+2?")
    Traceback (most recent call last):
    ...
    compound.lifecycle.call_budget.CallBudgetSpent: the budget of 2 model calls is spent...
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from compound.errors import RuntimeFailure
from compound.intelligence.llm.wrapped import WrappedLLM

if TYPE_CHECKING:
    from compound.intelligence.llm.base import LLM
    from compound.intelligence.llm.types import Completion, Prompt, StreamEvent


class CallBudgetSpent(RuntimeFailure):
    """A model call the budget has no room for; it was not made."""


class CallBudget:
    """At most ``limit`` model calls, shared by every model that takes from it.

    Args:
        limit: the most calls.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    @property
    def left(self) -> int:
        """Calls still allowed."""
        return self.limit - self.used

    def take(self) -> None:
        """Count one call.

        Raises:
            CallBudgetSpent: the budget is spent; the call must not be made.
        """
        with self._lock:
            if self.used >= self.limit:
                raise CallBudgetSpent(
                    f"the budget of {self.limit} model calls is spent; the call was not made "
                    "(raise --budget to allow more)")
            self.used += 1


class CountedLLM(WrappedLLM):
    """An LLM whose every call is taken from a :class:`CallBudget` first.

    Attributes the cache keys read (the prompt format, the context size) are the wrapped
    model's, so a cache in front of it keys answers as it would the model's.

    Args:
        llm: the model.
        budget: the budget each call takes from.
    """

    def __init__(self, llm: LLM, budget: CallBudget) -> None:
        super().__init__(llm)
        self.budget = budget

    def __getattr__(self, name: str) -> Any:
        # only here, not in WrappedLLM: a cache in front of this counter must key answers as
        # it would the model's, while a cache or a queue keys by what it is itself
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    def complete(self, prompt: Prompt, **overrides: Any) -> Completion:  # type: ignore[override]
        self.budget.take()
        return self.inner.complete(prompt, **overrides)

    def stream(self, prompt: Prompt, **overrides: Any) -> Iterator[StreamEvent]:  # type: ignore[override]
        self.budget.take()
        yield from self.inner.stream(prompt, **overrides)
