"""The output cache: identical calls are answered from the store, so a re-run costs nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from compound.evaluation.cache import CachedLLM, OutputCache
from compound.evaluation.datasets import Dataset
from compound.evaluation.plan import EvalPlan
from compound.evaluation.runner import EvalRunner
from compound.evaluation.targets import LLMTarget
from compound.intelligence.llm import LLMTimeout, ScriptedLLM
from compound.store import MemoryStore, SQLiteStore


def test_key_depends_on_model_parameters_and_input() -> None:
    cache = OutputCache(MemoryStore())
    llm = ScriptedLLM(["x"])
    base = cache.key(llm, "hello", max_tokens=8)
    assert base == cache.key(llm, "hello", max_tokens=8)
    assert base != cache.key(llm, "hello", max_tokens=9)
    assert base != cache.key(llm, "hello!", max_tokens=8)
    assert base != cache.key(ScriptedLLM(["x"], model="other"), "hello", max_tokens=8)
    assert base != cache.key(ScriptedLLM(["y"]), "hello", max_tokens=8)


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
