"""The output cache: identical calls are answered from the store, so a re-run costs nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from compound.evaluation.cache import COLLECTION, OutputCache
from compound.evaluation.datasets import Dataset
from compound.evaluation.plan import EvalPlan
from compound.evaluation.runner import EvalRunner
from compound.evaluation.targets import LLMTarget
from compound.intelligence.llm import Completion, LLMTimeout, ScriptedLLM, ToolCall, Usage
from compound.store import MemoryStore, SQLiteStore
from compound.strategy.cache import CachedLLM


def test_key_depends_on_model_parameters_and_input() -> None:
    cache = OutputCache(MemoryStore())
    llm = ScriptedLLM(["x"])
    base = cache.key(llm, "hello", max_tokens=8)
    assert base == cache.key(llm, "hello", max_tokens=8)
    assert base != cache.key(llm, "hello", max_tokens=9)
    assert base != cache.key(llm, "hello!", max_tokens=8)
    assert base != cache.key(ScriptedLLM(["x"], model="other"), "hello", max_tokens=8)
    assert base != cache.key(ScriptedLLM(["y"]), "hello", max_tokens=8)


def test_key_depends_on_how_the_embedded_model_is_prompted() -> None:
    from compound.intelligence.llm.embedded import EmbeddedLLM

    # the strategy cache's identity attributes (one list): the same messages as a Question/
    # Answer document, as plain text or through a chat template answer differently
    cache = OutputCache(MemoryStore())
    keys = {cache.key(EmbeddedLLM(), "def f():"), cache.key(EmbeddedLLM(prompt_format="plain"),
                                                            "def f():"),
            cache.key(EmbeddedLLM(prompt_format="chat"), "def f():")}
    assert len(keys) == 3


def test_failures_are_not_cached() -> None:
    cache = OutputCache(MemoryStore())
    llm = ScriptedLLM([LLMTimeout("slow"), "ok"], cycle=False)
    with pytest.raises(LLMTimeout):
        cache.complete(llm, "q")
    completion, cached = cache.complete(llm, "q")
    assert completion.text == "ok" and not cached


def test_a_rerun_of_an_llm_eval_makes_no_model_call(tmp_path: Path) -> None:
    rows = [{"id": str(i), "q": f"question {i}", "a": "yes"} for i in range(12)]
    ds = Dataset(rows, name="yn")

    def plan(llm: ScriptedLLM, store: SQLiteStore) -> EvalPlan:
        target = LLMTarget(llm, prompt="{q}", cache=OutputCache(store), max_tokens=4)
        return EvalPlan.simple("yn", ds, target, ["exact_match", "cost_usd"], inputs=["q"],
                               expected="a")

    store = SQLiteStore(tmp_path / "c.db")
    first_llm = ScriptedLLM(["yes"])
    first = EvalRunner(store, progress=False).run(plan(first_llm, store))
    assert len(first_llm.calls) == 12 and first.cached == 0
    store.close()

    store = SQLiteStore(tmp_path / "c.db")  # a new process, the same file
    second_llm = ScriptedLLM(["yes"])
    second = EvalRunner(store, progress=False).run(plan(second_llm, store))
    assert second_llm.calls == []
    assert second.cached == 12 and second.spent_usd == 0.0
    assert second.id != first.id
    assert second.values() == first.values()


def test_caching_llm_for_judges() -> None:
    llm = ScriptedLLM(['{"score": 3}'])
    judge = CachedLLM(llm, OutputCache(MemoryStore()))
    judge.complete("judge this", json_schema={"type": "object"})
    judge.complete("judge this", json_schema={"type": "object"})
    assert len(llm.calls) == 1


def test_a_hit_through_cached_llm_keeps_the_original_cost_and_latency() -> None:
    cache = OutputCache(MemoryStore())
    llm = ScriptedLLM(["never called"])
    paid = Completion("3", "scripted", "scripted", Usage(40, 1), latency_s=1.5, cost_usd=0.02)
    cache.put(llm, "judge this", llm.params(), paid)
    judge = CachedLLM(llm, cache)
    answer = judge.complete("judge this")
    assert llm.calls == []
    assert (answer.text, answer.cost_usd, answer.latency_s) == ("3", 0.02, 1.5)
    assert cache.hits == 1 and cache.saved_usd == 0.02


def test_entries_stored_in_the_earlier_form_still_hit() -> None:
    store = MemoryStore()
    cache = OutputCache(store)
    llm = ScriptedLLM(["never called"])
    store.put(COLLECTION, cache.key(llm, "look it up"), {
        "text": "", "provider": "scripted", "model": "scripted", "usage": [5, 1],
        "latency_s": 0.3, "cost_usd": 0.001, "finish_reason": "tool_calls", "ttft_s": 0.1,
        "data": None, "tool_calls": [["search", {"q": "paris"}, "call-1"]],
    })
    completion, cached = cache.complete(llm, "look it up")
    assert cached and llm.calls == []
    assert completion.usage == Usage(5, 1) and completion.ttft_s == 0.1
    assert completion.tool_calls == (ToolCall("search", {"q": "paris"}, "call-1"),)


def test_a_disabled_cache_sends_every_call_to_the_model() -> None:
    store = MemoryStore()
    llm = ScriptedLLM(["a", "b"])
    judge = CachedLLM(llm, OutputCache(store, enabled=False))
    assert [judge.complete("q").text for _ in range(2)] == ["a", "b"]
    assert list(store.items(COLLECTION)) == []


def test_a_streamed_answer_is_cached_too() -> None:
    llm = ScriptedLLM(["streamed answer"])
    judge = CachedLLM(llm, OutputCache(MemoryStore()))
    first = [e for e in judge.stream("q") if isinstance(e, Completion)]
    again = [e for e in judge.stream("q") if isinstance(e, Completion)]
    assert len(llm.calls) == 1 and first[0].text == again[0].text == "streamed answer"
