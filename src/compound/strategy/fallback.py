"""Fallback chains: options tried in order until one answers, every failure recorded.

An option is a model with its own time limit and retries. On a typed failure (``timeout``,
``rate_limit``, ``context_overflow``, ``invalid_response``, ``unavailable``, ``error``), on a
refusal by a budget (``budget``) or on an answer below ``min_confidence``
(``low_confidence``), the chain retries the option when the failure is retryable and retries
remain (waiting with exponential backoff and jitter, at least what ``Retry-After`` asked),
then moves on to the next option. Every attempt is kept in :attr:`ChainResult.attempts` and in
the trace (``compound.fallback.attempts``). When no option remains,
:class:`FallbackExhausted` says what each option did.

The whole chain, retries and waits included, runs under one deadline: ``timeout_s`` when
set, never later than the deadline it runs under (a served run's ``serve.timeout_s``). No
retry or option starts once it has passed, and no backoff waits past it.

Mistakes in the program or the spec (a :class:`~compound.errors.UserError` such as missing
credentials, or a plain bug) are not failures to route around: they propagate at once.

Streaming (:meth:`FallbackChain.stream`) is in :mod:`compound.strategy.streaming`; the
options and the record of each try in :mod:`compound.strategy.attempts`.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM, ProviderUnavailable
    >>> down = ScriptedLLM([ProviderUnavailable("HTTP 503")], model="primary")
    >>> chain = FallbackChain([down, ScriptedLLM(["Paris."], model="backup")])
    >>> result = chain.run("Capital of France?")
    >>> result.completion.text, result.option, [a.reason for a in result.attempts]
    ('Paris.', 'backup', ['unavailable', None])
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

from compound.errors import UserError
from compound.intelligence.llm.base import LLM
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import RateLimited
from compound.intelligence.llm.types import Completion, Prompt, as_messages
from compound.strategy.attempts import (
    Attempt,
    ChainOption,
    ChainResult,
    FallbackExhausted,
    failure_reason,
)
from compound.strategy.budgets import BudgetExceeded, PeriodBudget, check_request, estimate
from compound.strategy.retry import Backoff, call_with_timeout
from compound.strategy.spec import ALL_REASONS
from compound.strategy.streaming import ChainEvent, stream_chain
from compound.strategy.trace import decision_span, note

if TYPE_CHECKING:
    from compound.store import Store
    from compound.workflow.context import RunContext

class FallbackChain:
    """Try options in order; see the module docstring.

    Args:
        options: the models, best first (an :class:`LLM` or a :class:`ChainOption`).
        name: names the chain in traces and messages.
        on: the failure reasons that move on; others propagate.
        backoff: waits between retries of one option.
        confidence: reads a confidence in [0, 1] from a completion (e.g. from its JSON).
        min_confidence: answers below this move on (reason ``low_confidence``).
        validate: checks a completion; raise ``InvalidResponse`` to reject it.
        budgets: period budgets every option is charged to (kept in ``ctx.store``, else in
            ``store``, else in this process's memory).
        store: where period budgets are kept for calls made without a run context.
        partial: for streams, ``restart`` (text flows as it comes; a failure emits a
            :class:`~compound.strategy.streaming.FallbackNotice` and the next option starts
            over) or ``hide`` (each option's text is held until it finishes).
        sleep: waits between retries (tests pass a fake).
        seed: seeds the jitter, for reproducible waits.
        timeout_s: the longest the whole chain may take, every option, retry and wait
            included; None: only the deadline the chain runs under, if any.
    """

    def __init__(
        self,
        options: Sequence[LLM | ChainOption],
        *,
        name: str = "fallback",
        on: Sequence[str] = ALL_REASONS,
        backoff: Backoff | None = None,
        confidence: Callable[[Completion], float | None] | None = None,
        min_confidence: float | None = None,
        validate: Callable[[Completion], None] | None = None,
        budgets: Sequence[PeriodBudget] = (),
        partial: Literal["restart", "hide"] = "restart",
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        store: Store | None = None,
        timeout_s: float | None = None,
    ) -> None:
        if not options:
            raise UserError(f"fallback chain '{name}' needs at least one option")
        unknown = sorted(set(on) - set(ALL_REASONS))
        if unknown:
            raise UserError(f"fallback chain '{name}': unknown reasons {unknown}; known: "
                            f"{', '.join(ALL_REASONS)}")
        if min_confidence is not None and confidence is None:
            raise UserError(f"fallback chain '{name}': min_confidence needs a 'confidence' "
                            "function that reads the confidence from a completion")
        self.options = [o if isinstance(o, ChainOption) else ChainOption(o) for o in options]
        self.name = name
        self.on = frozenset(on)
        self.backoff = backoff or Backoff()
        self.confidence = confidence
        self.min_confidence = min_confidence
        self.validate = validate
        self.budgets = list(budgets)
        self.partial = partial
        self.sleep = sleep
        self.rng = random.Random(seed)
        self._memory_store: Store | None = store
        self.timeout_s = timeout_s
        self._threads: ThreadPoolExecutor | None = None

    # -- shared pieces (used by streaming too) ----------------------------------------------

    def budget_store(self, ctx: RunContext | None) -> Store:
        """Where period budgets are kept: the run context's store, else the chain's."""
        if ctx is not None and ctx.store is not None:
            return ctx.store
        if self._memory_store is None:
            from compound.store import MemoryStore

            self._memory_store = MemoryStore()
        return self._memory_store

    def admit(self, option: ChainOption, prompt: Prompt, params: dict[str, Any],
              ctx: RunContext | None) -> None:
        """Raise :class:`BudgetExceeded` when this option's call would break a budget."""
        if not self.budgets and (ctx is None or (ctx.budget.max_tokens is None
                                                 and ctx.budget.max_cost_usd is None)):
            return
        cost = estimate(option.llm, prompt, max_tokens=params.get("max_tokens"))
        problem = check_request(ctx.budget, cost) if ctx is not None else None
        store = self.budget_store(ctx)
        for budget in self.budgets:
            problem = problem or budget.check(store, cost)
        if problem:
            raise BudgetExceeded(f"{option.label}: {problem}")

    def charge(self, completion: Completion, ctx: RunContext | None) -> None:
        """Charge the period budgets with what a call used."""
        store = self.budget_store(ctx) if self.budgets else None
        for budget in self.budgets:
            assert store is not None
            budget.charge(store, tokens=completion.usage.total_tokens,
                          cost_usd=completion.cost_usd)

    def judge(self, completion: Completion) -> float | None:
        """Validate ``completion`` (raising ``InvalidResponse``) and read its confidence."""
        if self.validate is not None:
            self.validate(completion)
        return self.confidence(completion) if self.confidence is not None else None

    def retry_wait(self, error: BaseException, attempt: int, option: ChainOption) -> float | None:
        """Seconds to wait before retrying after ``error``, or None to move on (also when
        the wait would run past the chain's deadline)."""
        if attempt >= option.retries or not getattr(error, "retryable", False):
            return None
        retry_after = error.retry_after_s if isinstance(error, RateLimited) else None
        if retry_after is not None and retry_after > self.backoff.max_s:
            return None  # the provider asks for longer than we wait: the next option answers
        wait = self.backoff.delay(attempt, rng=self.rng, retry_after_s=retry_after)
        deadline = Deadline.current()
        if deadline is not None and wait >= deadline.remaining():
            return None
        return wait

    def deadline(self) -> Deadline:
        """The deadline of one run of the chain (see the module docstring)."""
        return Deadline(self.timeout_s, label=(
            f"fallback chain '{self.name}' timeout_s of {self.timeout_s:g}s"
            if self.timeout_s is not None else "the chain's time limit"))

    def record(self, span: Any, attempts: Sequence[Attempt], used: str | None) -> None:
        note(span, "compound.fallback.chain", self.name)
        note(span, "compound.fallback.attempts", [a.to_dict() for a in attempts])
        note(span, "compound.fallback.count",
             len({a.option for a in attempts}) - (1 if used is not None else 0))
        if used is not None:
            note(span, "compound.fallback.used", used)

    # -- one call ---------------------------------------------------------------------------

    def _call(self, option: ChainOption, prompt: Prompt, params: dict[str, Any],
              ctx: RunContext | None) -> Completion:
        self.admit(option, prompt, params, ctx)

        def call() -> Completion:
            if ctx is not None:
                return ctx.complete(option.llm, prompt, **params)
            return option.llm.complete(prompt, **params)

        completion = call_with_timeout(call, option.timeout_s, what=option.label,
                                       provider=option.llm.provider, model=option.llm.model)
        self.charge(completion, ctx)
        return completion

    def run(self, prompt: Prompt, ctx: RunContext | None = None, **params: Any) -> ChainResult:
        """Answer ``prompt`` with the first option that succeeds.

        Args:
            prompt: a string or messages, as for :meth:`LLM.complete`.
            ctx: the run context: model calls are traced and charged to its budget.
            **params: generation settings for every option (``max_tokens``, ...).

        Raises:
            FallbackExhausted: no option answered.
        """
        as_messages(prompt)  # a malformed prompt is the caller's mistake, not a failure
        deadline = self.deadline()
        try:
            with deadline.entered():
                return self._run(prompt, ctx, params, deadline)
        finally:
            deadline.finish()

    def _run(self, prompt: Prompt, ctx: RunContext | None, params: dict[str, Any],
             deadline: Deadline) -> ChainResult:
        attempts: list[Attempt] = []
        best: tuple[float, Completion, str] | None = None
        with decision_span(ctx, f"fallback {self.name}") as span:
            for option in self.options:
                waited = 0.0
                for attempt in range(option.retries + 1):
                    if deadline.done():
                        break  # no option or retry starts past the chain's deadline
                    start = time.perf_counter()
                    try:
                        completion = self._call(option, prompt, params, ctx)
                        confidence = self.judge(completion)
                    except Exception as exc:
                        reason = failure_reason(exc)
                        if reason is None or reason not in self.on:
                            attempts.append(Attempt(option.label, attempt, "failed",
                                                    reason or "error", str(exc),
                                                    time.perf_counter() - start, waited))
                            self.record(span, attempts, None)
                            raise
                        attempts.append(Attempt(option.label, attempt, "failed", reason,
                                                str(exc), time.perf_counter() - start, waited))
                        wait = self.retry_wait(exc, attempt, option)
                        if wait is None:
                            break
                        self.sleep(wait)
                        waited = wait
                        continue
                    latency = time.perf_counter() - start
                    if (self.min_confidence is not None and confidence is not None
                            and confidence < self.min_confidence
                            and "low_confidence" in self.on):
                        attempts.append(Attempt(option.label, attempt, "low_confidence",
                                                "low_confidence", None, latency, waited,
                                                confidence))
                        if best is None or confidence > best[0]:
                            best = (confidence, completion, option.label)
                        break
                    attempts.append(Attempt(option.label, attempt, "ok", None, None, latency,
                                            waited, confidence))
                    self.record(span, attempts, option.label)
                    return ChainResult(completion, option.label, tuple(attempts), confidence)
            if best is not None:
                self.record(span, attempts, best[2])
                note(span, "compound.fallback.low_confidence", True)
                return ChainResult(best[1], best[2], tuple(attempts), best[0],
                                   low_confidence=True)
            self.record(span, attempts, None)
            late = (f"The chain stopped at {deadline.label}, before trying every option."
                    if deadline.done() else "")
            raise FallbackExhausted(self.name, attempts, late=late)

    def complete(self, prompt: Prompt, ctx: RunContext | None = None, **params: Any
                 ) -> Completion:
        """:meth:`run`, returning only the completion."""
        return self.run(prompt, ctx, **params).completion

    async def arun(self, prompt: Prompt, ctx: RunContext | None = None, **params: Any
                   ) -> ChainResult:
        """:meth:`run` without blocking the event loop; cancelling the awaiting task stops
        the option being tried."""
        scope = Deadline(None, label="the caller's time limit")

        def run() -> ChainResult:
            with scope.entered():
                return self.run(prompt, ctx, **params)

        if self._threads is None:  # its own threads: a stalled chain leaves the loop's alone
            self._threads = ThreadPoolExecutor(32, thread_name_prefix=f"compound-chain-{self.name}")
        context = contextvars.copy_context()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, context.run,
                                                                    run)
        except asyncio.CancelledError:
            scope.cancel("the request was cancelled or timed out")
            raise
        finally:
            scope.finish()

    def stream(self, prompt: Prompt, ctx: RunContext | None = None, **params: Any
               ) -> Iterator[ChainEvent]:
        """Stream the first option that succeeds; see :mod:`compound.strategy.streaming`."""
        return stream_chain(self, prompt, ctx, params)
