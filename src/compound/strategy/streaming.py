"""Streamed answers that fall back too, including after a stream drops midway.

What the consumer sees of a partial answer is a choice, made per chain with ``partial``:

* ``restart`` (default): text flows as it arrives. When an option fails after it has sent
  text (a dropped connection, a timeout between pieces), the stream yields a
  :class:`FallbackNotice` naming the failure and carrying the ``discarded`` text, and the next
  option's answer starts from the beginning. A consumer that shows text clears what it showed
  on a notice. The final :class:`~compound.intelligence.llm.Completion` holds only the
  answer that finished: partial text is never glued to another model's continuation.
* ``hide``: each option's text is held back until that option finishes, then released; a
  consumer never sees text that is later withdrawn, at the price of time to first token.

The per-option time limit bounds the whole streamed answer of one try. A timed-out or dropped
stream is closed, so its provider stops generating.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM, TextDelta
    >>> from compound.strategy.fallback import FallbackChain
    >>> flaky = ScriptedLLM(["The capital is Paris."], drop_stream_after=2, model="flaky")
    >>> chain = FallbackChain([flaky, ScriptedLLM(["Paris."], model="backup")])
    >>> events = list(chain.stream("Capital of France?"))
    >>> [type(e).__name__ for e in events]
    ['TextDelta', 'TextDelta', 'FallbackNotice', 'TextDelta', 'Completion']
    >>> events[2].discarded, events[-1].text
    ('The capital ', 'Paris.')
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import InvalidResponse, LLMTimeout
from compound.intelligence.llm.types import Completion, Prompt, TextDelta
from compound.strategy.attempts import Attempt, ChainOption, FallbackExhausted, failure_reason
from compound.strategy.trace import decision_span, note

if TYPE_CHECKING:
    from compound.workflow.context import RunContext


class StreamingChain(Protocol):
    """What streaming asks of a fallback chain. The chain
    (:class:`compound.strategy.fallback.FallbackChain`) is the one implementation; its
    :meth:`~compound.strategy.fallback.FallbackChain.stream` calls :func:`stream_chain`, so
    this module names what it needs instead of importing the chain back."""

    name: str
    options: Sequence[ChainOption]
    on: frozenset[str]
    partial: str
    min_confidence: float | None
    sleep: Callable[[float], Any]

    def deadline(self) -> Deadline: ...

    def admit(self, option: ChainOption, prompt: Prompt, params: dict[str, Any],
              ctx: RunContext | None) -> None: ...

    def charge(self, completion: Completion, ctx: RunContext | None) -> None: ...

    def judge(self, completion: Completion) -> float | None: ...

    def retry_wait(self, error: BaseException, attempt: int, option: ChainOption
                   ) -> float | None: ...

    def record(self, span: Any, attempts: Sequence[Attempt], used: str | None) -> None: ...


@dataclass(frozen=True, slots=True)
class FallbackNotice:
    """A streamed option failed; the next one starts over.

    Attributes:
        option: the option that failed.
        reason: why (``timeout``, ``invalid_response`` for a dropped stream, ...).
        error: the error message.
        discarded: the text of the failed try already streamed (withdrawn now).
        retrying: True when the same option is tried again, False when the next one is.
    """

    option: str
    reason: str
    error: str
    discarded: str
    retrying: bool = False


ChainEvent = TextDelta | FallbackNotice | Completion


def _pump(option: ChainOption, prompt: Prompt, params: dict[str, Any],
          timeout_s: float | None, chain: Deadline) -> Iterator[TextDelta | Completion]:
    """The option's stream, read on a worker thread so that a time limit can cut it; the
    model call runs under a deadline of that limit (within the chain's), so it stops too."""
    events: queue.Queue[tuple[str, Any]] = queue.Queue()
    stop = threading.Event()
    scope = Deadline(timeout_s, parent=chain, label=(
        f"the option timeout of {option.label} ({timeout_s:g}s)" if timeout_s is not None
        else "the chain's time limit"))

    def work() -> None:
        with scope.entered():
            stream = option.llm.stream(prompt, **params)
            try:
                for event in stream:
                    if stop.is_set():
                        return
                    events.put(("event", event))
                events.put(("end", None))
            except BaseException as exc:  # handed to the reader below
                events.put(("error", exc))
            finally:
                stream.close()

    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(work,), name=f"compound-stream-{option.label}",
                     daemon=True).start()
    try:
        while True:
            remaining = scope.remaining()
            try:
                kind, item = events.get(timeout=None if remaining == float("inf")
                                        else remaining + 0.5)
            except queue.Empty:
                raise LLMTimeout(
                    f"the stream did not finish within {scope.label}",
                    provider=option.llm.provider, model=option.llm.model,
                ) from None
            if kind == "error":
                raise item
            if kind == "end":
                raise InvalidResponse("the stream ended without a final result",
                                      provider=option.llm.provider, model=option.llm.model)
            yield item
            if isinstance(item, Completion):
                return
    finally:
        stop.set()
        scope.cancel("the fallback chain stopped reading this option")
        scope.finish()


def stream_chain(chain: StreamingChain, prompt: Prompt, ctx: RunContext | None,
                 params: dict[str, Any]) -> Iterator[ChainEvent]:
    """The events of :meth:`FallbackChain.stream` (see the module docstring)."""
    deadline = chain.deadline()
    try:
        yield from _stream_chain(chain, prompt, ctx, params, deadline)
    finally:
        deadline.finish()


def _stream_chain(chain: StreamingChain, prompt: Prompt, ctx: RunContext | None,
                  params: dict[str, Any], deadline: Deadline) -> Iterator[ChainEvent]:
    attempts: list[Attempt] = []
    best: tuple[float, Completion, str, list[TextDelta]] | None = None
    showing: tuple[str, str] | None = None  # (option, text) on the consumer's screen
    with decision_span(ctx, f"fallback {chain.name}") as span:
        note(span, "compound.fallback.streamed", True)
        for index, option in enumerate(chain.options):
            waited = 0.0
            for attempt in range(option.retries + 1):
                if deadline.done():
                    break  # no option or retry starts past the chain's deadline
                start = time.perf_counter()
                shown: list[str] = []
                held: list[TextDelta] = []
                try:
                    chain.admit(option, prompt, params, ctx)
                    completion: Completion | None = None
                    for event in _pump(option, prompt, params, option.timeout_s, deadline):
                        if isinstance(event, Completion):
                            completion = event
                        elif chain.partial == "hide":
                            held.append(event)
                        else:
                            shown.append(event.text)
                            yield event
                    assert completion is not None
                    if ctx is not None:
                        ctx.budget.charge(tokens=completion.usage.total_tokens,
                                          cost_usd=completion.cost_usd)
                    chain.charge(completion, ctx)
                    confidence = chain.judge(completion)
                except Exception as exc:
                    reason = failure_reason(exc)
                    latency = time.perf_counter() - start
                    attempts.append(Attempt(option.label, attempt, "failed", reason or "error",
                                            str(exc), latency, waited))
                    if reason is None or reason not in chain.on:
                        chain.record(span, attempts, None)
                        raise
                    with deadline.entered():
                        wait = chain.retry_wait(exc, attempt, option)
                    if shown:
                        yield FallbackNotice(option.label, reason, str(exc), "".join(shown),
                                             retrying=wait is not None)
                    if wait is None:
                        break
                    chain.sleep(wait)
                    waited = wait
                    continue
                latency = time.perf_counter() - start
                low = (chain.min_confidence is not None and confidence is not None
                       and confidence < chain.min_confidence and "low_confidence" in chain.on)
                if low:
                    assert confidence is not None
                    attempts.append(Attempt(option.label, attempt, "low_confidence",
                                            "low_confidence", None, latency, waited, confidence))
                    if best is None or confidence > best[0]:
                        best = (confidence, completion, option.label, held)
                    if shown and index < len(chain.options) - 1:
                        yield FallbackNotice(option.label, "low_confidence",
                                             f"confidence {confidence:.3f} below "
                                             f"{chain.min_confidence}", "".join(shown))
                    elif shown:
                        showing = (option.label, "".join(shown))
                    break
                attempts.append(Attempt(option.label, attempt, "ok", None, None, latency,
                                        waited, confidence))
                chain.record(span, attempts, option.label)
                yield from held
                yield completion
                return
        if best is not None:
            chain.record(span, attempts, best[2])
            note(span, "compound.fallback.low_confidence", True)
            if chain.partial == "hide":
                yield from best[3]
            elif showing is not None and showing[0] != best[2]:
                # the last option's text is on screen, but an earlier answer was surer
                yield FallbackNotice(showing[0], "low_confidence", "a surer answer came earlier",
                                     showing[1])
                yield TextDelta(best[1].text)
            yield best[1]
            return
        chain.record(span, attempts, None)
        late = (f"The chain stopped at {deadline.label}, before trying every option."
                if deadline.done() else "")
        raise FallbackExhausted(chain.name, attempts, late=late)
