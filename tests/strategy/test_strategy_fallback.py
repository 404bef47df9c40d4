"""Fault injection: providers that time out, raise, return malformed output or drop the
stream midway. The chain recovers where an option remains and says why when none does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compound.errors import UserError
from compound.intelligence.llm import (
    Completion,
    ContextOverflow,
    InvalidResponse,
    MissingCredentials,
    ProviderUnavailable,
    RateLimited,
    ScriptedLLM,
    TextDelta,
)
from compound.store import MemoryStore
from compound.strategy.budgets import PeriodBudget
from compound.strategy.fallback import ChainOption, FallbackChain, FallbackExhausted
from compound.strategy.retry import Backoff
from compound.strategy.streaming import FallbackNotice
from compound.workflow import Budget, ListSink, RunContext, Tracer


class Sleeps:
    """Records backoff waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def chain(*options: Any, **kw: Any) -> FallbackChain:
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("seed", 0)
    return FallbackChain(list(options), **kw)


def test_timeout_moves_on_to_the_next_option() -> None:
    slow = ChainOption(ScriptedLLM(["late"], delay_s=2.0, model="slow"), timeout_s=0.1)
    result = chain(slow, ScriptedLLM(["on time"], model="fast")).run("q")
    assert result.completion.text == "on time"
    assert [(a.option, a.reason) for a in result.attempts] == [("slow", "timeout"), ("fast", None)]
    assert result.attempts[0].latency_s < 1.0
    assert result.fell_back


def test_retryable_failures_are_retried_with_backoff_before_falling_back() -> None:
    flaky = ChainOption(ScriptedLLM([ProviderUnavailable("503"), ProviderUnavailable("503"),
                                     "third time"], model="flaky"), retries=2)
    sleeps = Sleeps()
    result = chain(flaky, ScriptedLLM(["backup"]), sleep=sleeps,
                   backoff=Backoff(base_s=0.5, factor=2, max_s=8, jitter=False)).run("q")
    assert result.completion.text == "third time" and result.option == "flaky"
    assert sleeps.waits == [0.5, 1.0]
    assert [a.waited_s for a in result.attempts] == [0.0, 0.5, 1.0]


def test_jitter_keeps_waits_within_the_exponential_cap() -> None:
    import random

    backoff = Backoff(base_s=0.5, factor=2, max_s=3, jitter=True)
    rng = random.Random(1)
    waits = [backoff.delay(n, rng=rng) for n in range(6) for _ in range(50)]
    assert all(0 <= w <= 3 for w in waits) and len(set(waits)) > 100


def test_rate_limit_honours_retry_after_or_moves_on_when_it_is_too_long() -> None:
    sleeps = Sleeps()
    short = ChainOption(ScriptedLLM([RateLimited("429", retry_after_s=2.0), "ok"]), retries=1)
    assert chain(short, sleep=sleeps).run("q").completion.text == "ok"
    assert sleeps.waits == [pytest.approx(2.0, abs=0.6)] and sleeps.waits[0] >= 2.0
    sleeps = Sleeps()
    long = ChainOption(ScriptedLLM([RateLimited("429", retry_after_s=600)], model="busy"),
                       retries=3)
    result = chain(long, ScriptedLLM(["other"], model="other"), sleep=sleeps).run("q")
    assert result.option == "other" and sleeps.waits == []


def test_context_overflow_is_not_retried_but_falls_back() -> None:
    small = ChainOption(ScriptedLLM([ContextOverflow("too long", limit=2048)], model="small"),
                        retries=3)
    result = chain(small, ScriptedLLM(["fits"], model="large")).run("q")
    assert result.completion.text == "fits"
    assert [a.reason for a in result.attempts] == ["context_overflow", None]


def test_malformed_output_is_rejected_by_validation_and_falls_back() -> None:
    def must_be_json(completion: Completion) -> None:
        try:
            json.loads(completion.text)
        except ValueError:
            raise InvalidResponse(f"not JSON: {completion.text!r}") from None

    result = chain(ScriptedLLM(["{oops"], model="sloppy"), ScriptedLLM(['{"a": 1}']),
                   validate=must_be_json).run("q")
    assert result.completion.text == '{"a": 1}'
    assert result.attempts[0].reason == "invalid_response"


def test_schema_mismatch_from_the_provider_falls_back() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
    result = chain(ScriptedLLM(['{"x": "no"}'], model="a"),
                   ScriptedLLM(['{"x": 3}'], model="b")).run("q", json_schema=schema)
    assert result.completion.data == {"x": 3} and result.attempts[0].reason == "invalid_response"


def test_low_confidence_moves_on_and_the_surest_answer_wins_when_all_are_low() -> None:
    def confidence(completion: Completion) -> float:
        return float(completion.text.split(":")[1])

    result = chain(ScriptedLLM(["a:0.4"], model="a"), ScriptedLLM(["b:0.95"], model="b"),
                   confidence=confidence, min_confidence=0.8).run("q")
    assert result.option == "b" and not result.low_confidence
    assert result.attempts[0].outcome == "low_confidence"
    result = chain(ScriptedLLM(["a:0.6"], model="a"), ScriptedLLM(["b:0.3"], model="b"),
                   confidence=confidence, min_confidence=0.8).run("q")
    assert result.option == "a" and result.low_confidence and result.confidence == 0.6


def test_when_every_option_fails_the_error_says_what_each_did() -> None:
    with pytest.raises(FallbackExhausted) as caught:
        chain(ChainOption(ScriptedLLM([ProviderUnavailable("HTTP 503")], model="a"), retries=1),
              ChainOption(ScriptedLLM(["slow"], delay_s=1, model="b"), timeout_s=0.05),
              name="answer").run("q")
    message = str(caught.value)
    assert "fallback chain 'answer'" in message
    assert "a try 1: unavailable" in message and "a try 2: unavailable" in message
    assert "b try 1: timeout" in message and "embedded model" in message
    assert [a.reason for a in caught.value.attempts] == ["unavailable", "unavailable", "timeout"]


def test_mistakes_are_not_routed_around() -> None:
    missing = ScriptedLLM([MissingCredentials("set OPENAI_API_KEY")], model="a")
    with pytest.raises(MissingCredentials):
        chain(missing, ScriptedLLM(["never"])).run("q")
    buggy = ScriptedLLM([ZeroDivisionError("bug")], model="a")
    with pytest.raises(ZeroDivisionError):
        chain(buggy, ScriptedLLM(["never"])).run("q")
    with pytest.raises(UserError):
        FallbackChain([ScriptedLLM()], on=["timeout", "tomeout"])


def test_reasons_outside_on_propagate() -> None:
    with pytest.raises(ContextOverflow):
        chain(ScriptedLLM([ContextOverflow("too long")]), ScriptedLLM(["x"]),
              on=["timeout", "unavailable"]).run("q")


def test_every_fallback_is_in_the_trace_with_its_reason() -> None:
    sink = ListSink()
    ctx = RunContext(tracer=Tracer(sink), run_id="cd" * 16)
    chain(ScriptedLLM([ProviderUnavailable("503")], model="a"), ScriptedLLM(["ok"], model="b"),
          name="answer").run("q", ctx)
    ctx.tracer.flush()
    span = next(s for s in sink.spans if s["name"] == "fallback answer")
    assert span["kind"] == "strategy"
    attributes = span["attributes"]
    assert attributes["compound.fallback.used"] == "b"
    assert attributes["compound.fallback.count"] == 1
    assert [(a["option"], a["reason"]) for a in attributes["compound.fallback.attempts"]] == \
        [("a", "unavailable"), ("b", None)]
    models = [s for s in sink.spans if s["kind"] == "model"]
    assert [m["status"] for m in models] == ["error", "ok"]
    assert all(m["parent_id"] == span["span_id"] for m in models)


def test_budgets_skip_an_option_that_would_overspend() -> None:
    pricey = ScriptedLLM(["pricey"], model="pricey")
    pricey.price_per_mtok = {"input": 1000.0, "output": 1000.0}
    ctx = RunContext(budget=Budget(max_cost_usd=0.01))
    result = chain(pricey, ScriptedLLM(["free"], model="free")).run("q", ctx, max_tokens=10)
    assert result.completion.text == "free" and result.attempts[0].reason == "budget"
    assert not pricey.calls


def test_period_budget_is_shared_through_the_store_and_charged() -> None:
    store = MemoryStore()
    daily = PeriodBudget(period="day", max_tokens=30)
    ctx = RunContext(store=store)
    a = chain(ScriptedLLM(["one two three"], model="a"), budgets=[daily])
    a.run("hello", ctx, max_tokens=5)
    assert daily.spent(store)[0] == 4
    with pytest.raises(FallbackExhausted, match="day budget default"):
        for _ in range(10):
            a.run("hello", ctx, max_tokens=5)


# -- streaming --------------------------------------------------------------------------------


def test_a_stream_dropped_midway_restarts_on_the_next_option_with_a_notice() -> None:
    flaky = ScriptedLLM(["The answer is forty two."], drop_stream_after=3, model="flaky")
    events = list(chain(flaky, ScriptedLLM(["42."], model="steady")).stream("q"))
    notices = [e for e in events if isinstance(e, FallbackNotice)]
    assert len(notices) == 1
    assert notices[0].reason == "invalid_response" and notices[0].discarded == "The answer is "
    after = events[events.index(notices[0]) + 1:]
    assert "".join(e.text for e in after if isinstance(e, TextDelta)) == "42."
    assert isinstance(events[-1], Completion) and events[-1].text == "42."


def test_hide_mode_never_shows_withdrawn_text() -> None:
    flaky = ScriptedLLM(["The answer is forty two."], drop_stream_after=3, model="flaky")
    events = list(chain(flaky, ScriptedLLM(["42."]), partial="hide").stream("q"))
    assert not any(isinstance(e, FallbackNotice) for e in events)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "42."


def test_a_stalled_stream_times_out_and_falls_back() -> None:
    stalled = ChainOption(ScriptedLLM(["a b c d e f"], token_delay_s=0.5, model="stalled"),
                          timeout_s=0.3)
    events = list(chain(stalled, ScriptedLLM(["quick"], model="quick")).stream("q"))
    assert isinstance(events[-1], Completion) and events[-1].text == "quick"
    assert [e.reason for e in events if isinstance(e, FallbackNotice)] in ([], ["timeout"])


def test_a_stream_that_fails_everywhere_raises_with_reasons() -> None:
    a = ScriptedLLM(["one two three"], drop_stream_after=1, model="a")
    b = ScriptedLLM([ProviderUnavailable("down")], model="b")
    with pytest.raises(FallbackExhausted, match="a try 1: invalid_response"):
        list(chain(a, b).stream("q"))


# -- over real HTTP ---------------------------------------------------------------------------

openai = pytest.importorskip("openai")


@pytest.mark.integration
@pytest.mark.parametrize("fault", ["status:429", "status:500", "malformed", "no-choices"])
def test_openai_compatible_faults_over_http_fall_back(fault: str) -> None:
    from compound.intelligence.llm.local_server import LocalOpenAIServer
    from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM

    with LocalOpenAIServer(ScriptedLLM(["never seen"]), fault=fault) as server:
        remote = OpenAICompatibleLLM(model="remote", base_url=server.base_url, timeout_s=5)
        result = chain(remote, ScriptedLLM(["local answer"], model="local")).run("q")
    assert result.completion.text == "local answer"
    assert result.attempts[0].reason in {"rate_limit", "unavailable", "invalid_response"}


@pytest.mark.integration
def test_openai_compatible_slow_server_times_out_and_falls_back() -> None:
    from compound.intelligence.llm.local_server import LocalOpenAIServer
    from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM

    with LocalOpenAIServer(ScriptedLLM(["late"]), fault="slow:3") as server:
        remote = OpenAICompatibleLLM(model="remote", base_url=server.base_url, timeout_s=10)
        result = chain(ChainOption(remote, timeout_s=0.3),
                       ScriptedLLM(["local"], model="local")).run("q")
    assert result.completion.text == "local" and result.attempts[0].reason == "timeout"


@pytest.mark.integration
def test_openai_compatible_dropped_stream_falls_back_over_http() -> None:
    from compound.intelligence.llm.local_server import LocalOpenAIServer
    from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM

    with LocalOpenAIServer(ScriptedLLM(["one two three four"]), fault="drop-stream") as server:
        remote = OpenAICompatibleLLM(model="remote", base_url=server.base_url, timeout_s=5)
        events = list(chain(remote, ScriptedLLM(["local answer"], model="local")).stream("q"))
    notices = [e for e in events if isinstance(e, FallbackNotice)]
    assert notices and notices[0].option == "remote" and notices[0].discarded == "one "
    assert isinstance(events[-1], Completion) and events[-1].text == "local answer"
