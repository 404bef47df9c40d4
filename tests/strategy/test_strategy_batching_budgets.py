"""Batching gathers concurrent requests into one call; budgets refuse what would overspend."""

from __future__ import annotations

import threading

import pytest

from compound.intelligence.llm import ProviderUnavailable, ScriptedLLM
from compound.intelligence.llm.pricing import PRICES, cost_usd
from compound.intelligence.llm.types import Usage
from compound.store import MemoryStore
from compound.strategy.batching import MicroBatcher, complete_many
from compound.strategy.budgets import PeriodBudget, check_request, estimate
from compound.workflow import Budget, RunContext


def test_concurrent_single_requests_share_batches() -> None:
    seen: list[int] = []

    def double(items: list[int]) -> list[int]:
        seen.append(len(items))
        return [i * 2 for i in items]

    results: dict[int, int] = {}
    with MicroBatcher(double, max_batch=16, max_wait_s=0.05) as batcher:
        start = threading.Barrier(40)

        def call(i: int) -> None:
            start.wait()
            results[i] = batcher.submit(i, timeout_s=10)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == {i: i * 2 for i in range(40)}
    assert max(seen) <= 16 and len(seen) < 40 and batcher.batches == len(seen)


def test_a_failing_batch_fails_each_of_its_callers() -> None:
    def broken(items: list[int]) -> list[int]:
        raise ProviderUnavailable("down")

    with MicroBatcher(broken, max_wait_s=0.0) as batcher, pytest.raises(ProviderUnavailable):
        batcher.submit(1, timeout_s=5)


def test_complete_many_uses_a_batch_endpoint_when_the_provider_has_one() -> None:
    class BatchLLM(ScriptedLLM):
        def __init__(self) -> None:
            super().__init__(["x"])
            self.batch_calls = 0

        def complete_batch(self, prompts: list[str], **params: object) -> list[object]:
            self.batch_calls += 1
            return [self.complete(p) for p in prompts]

    llm = BatchLLM()
    ctx = RunContext()
    assert len(complete_many(llm, ["a", "b", "c"], ctx=ctx)) == 3
    assert llm.batch_calls == 1 and ctx.budget.tokens > 0


def test_complete_many_returns_failures_in_place() -> None:
    llm = ScriptedLLM(lambda messages, params: (ProviderUnavailable("down")
                                                if messages[0].content == "bad" else "ok"))
    results = complete_many(llm, ["good", "bad", "good"], max_concurrency=3)
    assert [getattr(r, "text", None) for r in results] == ["ok", None, "ok"]
    assert isinstance(results[1], ProviderUnavailable)


def test_estimates_use_the_one_cost_table() -> None:
    from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM

    llm = OpenAICompatibleLLM(model="gpt-4o-mini", base_url="http://127.0.0.1:1/v1")
    found = estimate(llm, "x" * 400, max_tokens=100)
    assert found.tokens == 200
    assert found.cost_usd == pytest.approx(cost_usd("openai", "gpt-4o-mini", Usage(100, 100)))
    assert ("openai", "gpt-4o-mini") in PRICES


def test_request_budget_check() -> None:
    budget = Budget(max_tokens=100)
    llm = ScriptedLLM()
    assert check_request(budget, estimate(llm, "a b c", max_tokens=10)) is None
    budget.charge(tokens=95, cost_usd=0.0)
    assert "95 of 100 tokens" in (check_request(budget, estimate(llm, "a b c", max_tokens=10))
                                  or "")


def test_period_budget_resets_with_the_period() -> None:
    store = MemoryStore()
    now = [1_700_000_000.0]
    hourly = PeriodBudget(period="hour", max_cost_usd=0.01, clock=lambda: now[0])
    hourly.charge(store, tokens=10, cost_usd=0.0095)
    llm = ScriptedLLM()
    llm.price_per_mtok = {"input": 1000.0, "output": 1000.0}
    call = estimate(llm, "a", max_tokens=1)
    assert "hour budget" in (hourly.check(store, call) or "")
    now[0] += 3600
    assert hourly.check(store, call) is None
