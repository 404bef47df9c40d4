"""A slow or broken provider must not hang a call: every model call is bounded in total time
(connect, first byte, whole answer), stops (and closes its connection) when its caller goes
away, and turns garbage bytes into a typed InvalidResponse. Real HTTP servers on 127.0.0.1
(the shipped LocalOpenAIServer fake, in its trickle / stall / garbage modes)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from compound.intelligence.llm import (
    InvalidResponse,
    LLMError,
    LLMTimeout,
    ScriptedLLM,
    TextDelta,
)
from compound.intelligence.llm.deadline import Deadline
from compound.intelligence.llm.errors import LLMCancelled
from compound.intelligence.llm.local_server import LocalOpenAIServer
from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM
from compound.production.serving.served_llm import LLMQueue, ServedLLM
from compound.strategy.fallback import ChainOption, FallbackChain, FallbackExhausted

pytest.importorskip("openai")

ANSWER = "Paris is the capital of France."


@pytest.fixture
def upstream() -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer(ScriptedLLM([ANSWER], model="backend")) as running:
        yield running


def remote(server: LocalOpenAIServer, timeout_s: float = 2.0) -> OpenAICompatibleLLM:
    return OpenAICompatibleLLM(model="backend", base_url=server.base_url, timeout_s=timeout_s)


def wait_closed(server: LocalOpenAIServer, within_s: float = 5.0) -> float:
    """Seconds until the server has no connection open (fails after ``within_s``)."""
    start = time.monotonic()
    while server.open_connections and time.monotonic() - start < within_s:
        time.sleep(0.05)
    assert server.open_connections == 0, f"{server.open_connections} connection(s) still open"
    return time.monotonic() - start


def timed(function: object, *args: object) -> tuple[BaseException | None, float]:
    start = time.monotonic()
    try:
        function(*args)  # type: ignore[operator]
    except BaseException as exc:  # returned for the test to look at
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


# -- the deadline itself --------------------------------------------------------------------


def test_a_deadline_is_never_later_than_the_one_it_runs_under() -> None:
    with Deadline.scope(1.0, label="the outer limit") as outer:
        inner = Deadline(60.0, label="the inner limit")
        assert inner.expires_at == outer.expires_at and inner.remaining() <= 1.0
        assert "the outer limit" in str(inner.error())
        inner.finish()
    assert Deadline.current() is None


def test_cancelling_a_deadline_stops_the_ones_under_it_and_runs_their_closers() -> None:
    outer = Deadline(None, parent=None)
    inner = Deadline(30.0, parent=outer)
    closed = threading.Event()
    inner.on_stop(closed.set)
    outer.cancel("the request went away")
    assert closed.is_set() and inner.done()
    assert isinstance(inner.error(), LLMCancelled)
    assert "the request went away" in str(inner.error())


def test_the_watchdog_runs_closers_when_the_time_comes() -> None:
    deadline = Deadline(0.2, parent=None)
    closed = threading.Event()
    deadline.on_stop(closed.set)
    assert closed.wait(3.0), "the closer did not run at the deadline"
    assert isinstance(deadline.error(), LLMTimeout)


def test_a_scripted_delay_is_cut_at_the_models_timeout() -> None:
    error, took = timed(ScriptedLLM(["late"], delay_s=30, timeout_s=0.3).complete, "hi")
    assert isinstance(error, LLMTimeout), error
    assert "timeout_s of 0.3s" in str(error)
    assert took < 10


# -- a trickling, a stalled and a garbage-sending server ------------------------------------


@pytest.mark.parametrize("streamed", [False, True])
def test_a_trickling_server_is_given_up_at_the_deadline(upstream: LocalOpenAIServer,
                                                        streamed: bool) -> None:
    upstream.fault = "trickle:0.5"  # headers at once, then one byte every half second
    llm = remote(upstream, timeout_s=2.0)
    call = (lambda: list(llm.stream("capital?"))) if streamed else (lambda: llm.complete("?"))
    error, took = timed(call)
    assert isinstance(error, LLMTimeout), repr(error)
    assert "timeout_s of 2s" in str(error) and "whole answer" in str(error)
    assert took < 10  # about 2 s; the answer would take minutes at this rate
    wait_closed(upstream)


def test_a_server_that_stalls_before_its_headers_is_given_up(upstream: LocalOpenAIServer
                                                             ) -> None:
    upstream.fault = "stall:120"
    error, took = timed(remote(upstream, timeout_s=1.5).complete, "capital?")
    assert isinstance(error, LLMTimeout), repr(error)
    assert took < 10
    wait_closed(upstream)


def test_a_trickle_that_would_finish_in_time_still_answers(upstream: LocalOpenAIServer
                                                           ) -> None:
    upstream.fault = "trickle:0.0"
    assert remote(upstream, timeout_s=20).complete("capital?").text == ANSWER


@pytest.mark.parametrize("kind", ["utf8", "binary", "truncated", "sse"])
@pytest.mark.parametrize("streamed", [False, True])
def test_garbage_bytes_are_an_invalid_response(upstream: LocalOpenAIServer, kind: str,
                                               streamed: bool) -> None:
    upstream.fault = f"garbage:{kind}"
    llm = remote(upstream, timeout_s=10)
    call = (lambda: list(llm.stream("capital?"))) if streamed else (lambda: llm.complete("?"))
    error, _ = timed(call)
    assert isinstance(error, InvalidResponse), f"{type(error).__name__}: {error}"
    assert str(error).startswith("openai:backend: ")
    assert any(word in str(error) for word in ("UTF-8", "JSON", "shaped", "choices"))


# -- the caller going away ------------------------------------------------------------------


def test_a_cancelled_call_closes_its_connection_at_once(upstream: LocalOpenAIServer) -> None:
    upstream.fault = "trickle:1"
    llm = remote(upstream, timeout_s=120)

    async def cancel_after(seconds: float) -> None:
        task = asyncio.ensure_future(llm.acomplete("capital?"))
        await asyncio.sleep(seconds)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_after(1.5))
    assert wait_closed(upstream, within_s=5.0) < 5.0  # not at the 120 s timeout


def test_an_enclosing_deadline_bounds_the_call(upstream: LocalOpenAIServer) -> None:
    upstream.fault = "trickle:0.5"
    with Deadline.scope(1.5, label="the run's limit, serve.timeout_s of 1.5s"):
        error, took = timed(remote(upstream, timeout_s=120).complete, "capital?")
    assert isinstance(error, LLMTimeout) and "serve.timeout_s of 1.5s" in str(error)
    assert took < 10
    wait_closed(upstream)


def test_model_calls_do_not_take_the_event_loops_default_threads() -> None:
    llm = ScriptedLLM(["fine"])

    async def main() -> str:
        loop = asyncio.get_running_loop()
        blocker = ThreadPoolExecutor(1)
        loop.set_default_executor(blocker)
        hold = threading.Event()
        stuck = loop.run_in_executor(None, hold.wait, 30)  # the default pool is now busy
        try:
            completion = await asyncio.wait_for(llm.acomplete("hi"), 10)
        finally:
            hold.set()
            await stuck
        return completion.text

    assert asyncio.run(main()) == "fine"


# -- a served model's queue, and a fallback chain -------------------------------------------


def test_a_full_queue_reports_saturation_and_clears_after() -> None:
    queue = LLMQueue("slow", concurrency=1, max_waiting=1, wait_timeout_s=30)
    llm = ServedLLM(ScriptedLLM(["ok"], delay_s=1.0, timeout_s=30), queue)
    assert queue.saturation() is None
    with ThreadPoolExecutor(2) as pool:
        calls = [pool.submit(llm.complete, "hi") for _ in range(2)]
        deadline = time.monotonic() + 5
        while queue.saturation() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        reason = queue.saturation()
        assert reason is not None and "model 'slow' is saturated" in reason
        assert [c.result(timeout=10).text for c in calls] == ["ok", "ok"]
    assert queue.saturation() is None


def test_a_queued_call_waits_no_longer_than_its_deadline() -> None:
    queue = LLMQueue("slow", concurrency=1, max_waiting=4, wait_timeout_s=60)
    llm = ServedLLM(ScriptedLLM(["ok"], delay_s=5.0, timeout_s=30), queue)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(llm.complete, "hi")
        time.sleep(0.2)
        with Deadline.scope(0.5, label="the run's limit"):
            error, took = timed(llm.complete, "second")
        first.result(timeout=10)
    assert isinstance(error, LLMTimeout) and took < 3


def test_a_fallback_chain_respects_one_overall_deadline(upstream: LocalOpenAIServer) -> None:
    upstream.fault = "trickle:0.5"
    options = [ChainOption(remote(upstream, timeout_s=60), retries=3, name=f"slow{i}")
               for i in range(3)]
    chain = FallbackChain(options, timeout_s=2.0, name="answer", sleep=lambda s: None)
    error, took = timed(chain.run, "capital?")
    assert isinstance(error, FallbackExhausted), repr(error)
    assert "timeout_s of 2s" in str(error) and "before trying every option" in str(error)
    assert took < 10  # 3 options x 4 tries x 60 s without the overall deadline
    wait_closed(upstream)


def test_an_option_timeout_stops_the_call_instead_of_abandoning_it(
        upstream: LocalOpenAIServer) -> None:
    upstream.fault = "trickle:0.5"
    chain = FallbackChain([ChainOption(remote(upstream, timeout_s=60), timeout_s=1.0,
                                       name="slow"), ScriptedLLM(["backup"])])
    result = chain.run("capital?")
    assert result.completion.text == "backup" and result.attempts[0].reason == "timeout"
    wait_closed(upstream)


def test_a_streamed_fallback_option_is_stopped_at_its_timeout(upstream: LocalOpenAIServer
                                                              ) -> None:
    upstream.fault = "trickle:0.5"
    chain = FallbackChain([ChainOption(remote(upstream, timeout_s=60), timeout_s=1.0,
                                       name="slow"), ScriptedLLM(["backup"])])
    events = list(chain.stream("capital?"))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "backup"
    wait_closed(upstream)


def test_errors_of_the_class_are_llm_errors() -> None:
    assert issubclass(LLMCancelled, LLMError) and not LLMCancelled.retryable


# -- time limits around code that calls a model ---------------------------------------------


def test_a_step_timeout_stops_the_model_call_inside_it(upstream: LocalOpenAIServer) -> None:
    from compound.workflow import Step, Workflow

    upstream.fault = "trickle:0.5"
    llm = remote(upstream, timeout_s=120)

    def ask(question: str) -> str:
        return llm.complete(question).text

    flow = Workflow([Step(ask, timeout_s=1.0)], name="slow")
    error, took = timed(lambda: flow.run(question="capital?"))
    assert error is not None and "did not finish within 1s" in str(error), repr(error)
    assert took < 10
    wait_closed(upstream)  # the call stopped; before, it ran on for the model's 120 s


def test_a_tool_timeout_stops_the_model_call_inside_it(upstream: LocalOpenAIServer) -> None:
    from compound.orchestration.tools import Tool

    upstream.fault = "trickle:0.5"
    llm = remote(upstream, timeout_s=120)

    def lookup(query: str) -> str:
        """Look something up with a model."""
        return llm.complete(query).text

    result = Tool(lookup, timeout_s=1.0).call({"query": "capital?"})
    assert result.outcome == "timeout", result
    wait_closed(upstream)


# -- the embedded model: a deadline checked between tokens ----------------------------------


@pytest.mark.integration
def test_the_embedded_model_stops_at_the_deadline_and_is_free_after(embedded_llm: object
                                                                    ) -> None:
    llm: Any = embedded_llm
    with Deadline.scope(0.5, label="the run's limit"):
        error, took = timed(lambda: llm.complete("Tell a long story about the sea.",
                                                 max_tokens=400, stop=["<none>"]))
    assert isinstance(error, LLMTimeout) and "the run's limit" in str(error), repr(error)
    assert took < 10  # 400 tokens take far longer on this machine
    start = time.monotonic()
    assert llm.complete("What is the capital of France?", max_tokens=8).text
    assert time.monotonic() - start < 30  # the lock was released


@pytest.mark.integration
def test_a_cancelled_embedded_generation_stops_at_its_next_token(embedded_llm: object) -> None:
    llm: Any = embedded_llm
    scope = Deadline(None, parent=None)
    seen: list[str] = []
    outcome: list[BaseException] = []

    def generate() -> None:
        with scope.entered():
            try:
                for event in llm.stream("Tell a long story about the sea.", max_tokens=400,
                                        stop=["<none>"]):
                    if isinstance(event, TextDelta):
                        seen.append(event.text)
            except BaseException as exc:  # looked at below
                outcome.append(exc)

    worker = threading.Thread(target=generate)
    worker.start()
    while not seen and worker.is_alive():
        time.sleep(0.01)
    scope.cancel("the client went away")
    worker.join(10)
    assert not worker.is_alive() and outcome and isinstance(outcome[0], LLMCancelled), outcome
    assert len(seen) < 100


# -- Anthropic's provider: the same transport, the same bounds ------------------------------


def anthropic_llm(server: LocalOpenAIServer, timeout_s: float) -> Any:
    pytest.importorskip("anthropic")
    from compound.intelligence.llm.anthropic import AnthropicLLM

    return AnthropicLLM(base_url=server.base_url.removesuffix("/v1"), timeout_s=timeout_s)


@pytest.mark.parametrize("fault", ["trickle:0.5", "stall:120"])
@pytest.mark.parametrize("streamed", [False, True])
def test_anthropic_calls_are_bounded_too(upstream: LocalOpenAIServer, fault: str,
                                         streamed: bool, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    upstream.fault = fault
    llm = anthropic_llm(upstream, timeout_s=1.5)
    call = (lambda: list(llm.stream("capital?"))) if streamed else (lambda: llm.complete("?"))
    error, took = timed(call)
    assert isinstance(error, LLMTimeout), repr(error)
    assert str(error).startswith("anthropic:") and took < 10
    wait_closed(upstream)


@pytest.mark.parametrize("kind", ["utf8", "binary", "truncated", "sse"])
def test_anthropic_garbage_is_an_invalid_response(upstream: LocalOpenAIServer, kind: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    upstream.fault = f"garbage:{kind}"
    llm = anthropic_llm(upstream, timeout_s=10)
    for call in (lambda: llm.complete("?"), lambda: list(llm.stream("?"))):
        error, _ = timed(call)
        assert isinstance(error, InvalidResponse), f"{kind}: {type(error).__name__}: {error}"


# -- other outbound HTTP: a Qdrant server -----------------------------------------------------


@pytest.mark.parametrize("fault", ["trickle:0.5", "stall:120"])
def test_a_slow_qdrant_server_is_given_up_at_the_timeout(upstream: LocalOpenAIServer,
                                                         fault: str) -> None:
    pytest.importorskip("qdrant_client")
    from compound.errors import RuntimeFailure
    from compound.orchestration.retrieval.qdrant import QdrantVectorIndex

    upstream.fault = fault
    index = QdrantVectorIndex(collection="docs", url=upstream.base_url.removesuffix("/v1"),
                              timeout_s=1.5)
    error, took = timed(index.open, 8)
    assert isinstance(error, RuntimeFailure) and "Qdrant timeout_s of 1.5s" in str(error), error
    assert took < 10
    wait_closed(upstream)


def test_the_feedback_client_gives_a_trickling_server_up(upstream: LocalOpenAIServer) -> None:
    from compound.errors import RuntimeFailure
    from compound.production.feedback import FeedbackClient

    upstream.fault = "trickle:0.5"
    client = FeedbackClient(upstream.base_url.removesuffix("/v1"), timeout_s=1.5)
    error, took = timed(lambda: client.thumbs("ab" * 16, up=True))
    assert isinstance(error, RuntimeFailure) and "within 1.5s" in str(error), repr(error)
    assert took < 10
    wait_closed(upstream)


def test_step_retries_stop_at_the_deadline_they_run_under() -> None:
    from compound.workflow import Step, Workflow

    calls: list[float] = []

    def flaky(text: str) -> str:
        calls.append(time.monotonic())
        raise LLMTimeout("slow")

    flow = Workflow([Step(flaky, retries=50, retry_delay_s=0.2)], name="flaky")
    with Deadline.scope(1.0, label="the run's limit"):
        error, took = timed(lambda: flow.run(text="hi"))
    assert error is not None and took < 5
    assert 1 <= len(calls) <= 4  # 0.2 + 0.4 s of waits fit in 1 s; 50 retries would not


@pytest.mark.parametrize("awaited", [False, True])
def test_a_rail_past_its_timeout_has_its_model_call_stopped(upstream: LocalOpenAIServer,
                                                           awaited: bool) -> None:
    from compound.production.rails.base import BaseRail
    from compound.production.rails.engine import Guard

    upstream.fault = "trickle:0.5"
    judge = remote(upstream, timeout_s=120)

    class AskJudge(BaseRail):
        type = "ask_judge"

        def check(self, subject: Any, ctx: Any = None) -> Any:
            judge.complete(f"Is this safe? {subject.text}")
            return self.allow(subject, "the judge said so")

    guard = Guard([AskJudge(name="judge", timeout_s=1.0)])
    if awaited:
        result = asyncio.run(guard.acheck(guard_input("hello")))
    else:
        result = guard.check(guard_input("hello"))
    verdict = result.verdicts[0]  # the rail's time limit, or its model's deadline, came first
    assert verdict.action == "escalate" and verdict.details["error"] in ("timeout", "LLMTimeout")
    wait_closed(upstream)  # the judge's call stopped with the rail; before, it ran 120 s


def guard_input(text: str) -> Any:
    from compound.production.rails.verdict import RailInput

    return RailInput(text, stage="input")


def test_parallel_steps_inherit_the_deadline_they_run_under(upstream: LocalOpenAIServer
                                                            ) -> None:
    from compound.workflow import Step, Workflow

    upstream.fault = "trickle:0.5"
    llm = remote(upstream, timeout_s=120)

    def first(question: str) -> str:
        return llm.complete(question).text

    def second(question: str) -> str:
        return llm.complete(question).text

    flow = Workflow([Step(first, needs=[]), Step(second, needs=[])], name="both")
    with Deadline.scope(1.5, label="the caller's limit of 1.5s"):
        error, took = timed(lambda: flow.run(question="capital?"))
    assert error is not None and "the caller's limit of 1.5s" in str(error), repr(error)
    assert took < 10
    wait_closed(upstream)
