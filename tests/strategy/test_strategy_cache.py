"""The exact cache never answers a different call; TTL, version invalidation, semantic guards."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from compound.intelligence.embedders import FakeEmbedder
from compound.intelligence.llm import Message, ScriptedLLM, ToolCall, ToolDefinition
from compound.intelligence.llm.types import GenerationParams
from compound.store import MemoryStore, SQLiteStore
from compound.strategy.cache import (
    CachedLLM,
    ExactCache,
    IntentGuard,
    LLMCache,
    SemanticCache,
    StoreBackend,
    cache_key,
    llm_cache_key,
)

# a different value for every field of GenerationParams; a new field without one fails below
CHANGED: dict[str, Any] = {
    "max_tokens": 17,
    "temperature": 0.3,
    "top_p": 0.5,
    "seed": 7,
    "stop": ("\n\n",),
    "json_schema": {"type": "object"},
    "tools": (ToolDefinition("lookup", "look something up"),),
    "tool_choice": "required",
    "parallel_tool_calls": True,
}


def test_every_generation_parameter_is_listed_here() -> None:
    names = {f.name for f in dataclasses.fields(GenerationParams)}
    assert names == set(CHANGED), "add the new parameter to CHANGED so its keying is tested"


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_changing_any_parameter_changes_the_key(field: str) -> None:
    llm = ScriptedLLM(["x"], model="m")
    base = llm.params()
    changed = dataclasses.replace(base, **{field: CHANGED[field]})
    assert llm_cache_key(llm, "hello", base) != llm_cache_key(llm, "hello", changed)


def test_model_version_prompt_roles_and_tool_results_change_the_key() -> None:
    llm = ScriptedLLM(["x"], model="m")
    params = llm.params()
    base = llm_cache_key(llm, "hello", params)
    assert base == llm_cache_key(ScriptedLLM(["y"], model="m"), "hello", params)
    variants = [
        llm_cache_key(ScriptedLLM(["x"], model="other"), "hello", params),
        llm_cache_key(llm, "hello", params, version="2"),
        llm_cache_key(llm, "hello!", params),
        llm_cache_key(llm, [Message("system", "hello")], params),
        llm_cache_key(llm, [Message("system", "be brief"), Message("user", "hello")], params),
        llm_cache_key(llm, [Message("assistant", "", tool_calls=(ToolCall("f", {"a": 1}),)),
                            Message("tool", "1", tool_call_id="c1")], params),
        llm_cache_key(llm, [Message("assistant", "", tool_calls=(ToolCall("f", {"a": 2}),)),
                            Message("tool", "1", tool_call_id="c1")], params),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_a_provider_setting_that_changes_the_answer_changes_the_key() -> None:
    from compound.intelligence.llm.openai_compat import OpenAICompatibleLLM

    a = OpenAICompatibleLLM(model="m", base_url="http://127.0.0.1:1/v1")
    b = OpenAICompatibleLLM(model="m", base_url="http://127.0.0.1:2/v1")
    assert llm_cache_key(a, "hi", a.params()) != llm_cache_key(b, "hi", b.params())


def test_defaults_of_the_model_count_as_parameters() -> None:
    cold = ScriptedLLM(["x"], model="m")
    warm = ScriptedLLM(["x"], model="m", defaults=GenerationParams(temperature=0.9, seed=1))
    assert llm_cache_key(cold, "hi", cold.params()) != llm_cache_key(warm, "hi", warm.params())


def test_cached_llm_hits_only_for_the_same_call() -> None:
    inner = ScriptedLLM([f"answer {i}" for i in range(20)], model="m")
    llm = CachedLLM(inner)
    first = llm.complete("hello", max_tokens=50)
    again = llm.complete("hello", max_tokens=50)
    assert again.text == first.text == "answer 0"
    assert again.cost_usd == 0.0 and again.usage.total_tokens == 0
    assert llm.complete("hello", max_tokens=51).text == "answer 1"
    assert llm.complete("hello", max_tokens=50, top_p=0.9).text == "answer 2"
    assert llm.complete("hello", max_tokens=50, seed=3).text == "answer 3"
    assert len(inner.calls) == 4
    assert llm.cache.stats.hits == 1 and llm.cache.stats.misses == 4


def test_two_models_sharing_a_cache_do_not_answer_for_each_other() -> None:
    cache = LLMCache()
    small = CachedLLM(ScriptedLLM(["small"], model="small"), cache)
    large = CachedLLM(ScriptedLLM(["large"], model="large"), cache)
    assert small.complete("q").text == "small"
    assert large.complete("q").text == "large"


def test_a_new_model_version_never_sees_old_answers_and_purges_them() -> None:
    cache = ExactCache()
    old = cache_key(model="predictor:intent", version="1", params={}, input="where is my card")
    new = cache_key(model="predictor:intent", version="2", params={}, input="where is my card")
    cache.put(old, "card_arrival")
    assert cache.get(new) is None
    assert cache.stats.invalidated == 1
    assert cache.get(old) is None  # purged, and version 1 is no longer current


def test_version_change_is_seen_across_processes_through_the_store(tmp_path: Any) -> None:
    path = tmp_path / "cache.db"
    with SQLiteStore(path) as store:
        ExactCache(backend=StoreBackend(store)).put(
            cache_key(model="scripted:m", version="1", params={}, input="q"), "old")
    with SQLiteStore(path) as store:
        cache = ExactCache(backend=StoreBackend(store))
        assert cache.get(cache_key(model="scripted:m", version="1", params={}, input="q")) \
            == "old"
        cache.put(cache_key(model="scripted:m", version="2", params={}, input="q"), "new")
        assert cache.get(cache_key(model="scripted:m", version="1", params={}, input="q")) \
            is None


def test_entries_expire_after_their_ttl() -> None:
    now = [1000.0]
    cache = ExactCache(ttl_s=60, clock=lambda: now[0])
    key = cache_key(model="m", version="1", params={}, input="q")
    cache.put(key, "a")
    now[0] += 59
    assert cache.get(key) == "a"
    now[0] += 2
    assert cache.get(key) is None and cache.stats.expired == 1


def test_errors_and_unseeded_sampling_are_not_cached() -> None:
    from compound.intelligence.llm import ProviderUnavailable

    inner = ScriptedLLM([ProviderUnavailable("down"), "ok", "a", "b"], model="m",
                        defaults=GenerationParams(seed=None))
    llm = CachedLLM(inner)
    with pytest.raises(ProviderUnavailable):
        llm.complete("q")
    assert llm.complete("q").text == "ok"
    assert llm.complete("p", temperature=0.8).text == "a"
    assert llm.complete("p", temperature=0.8).text == "b"


def test_a_streamed_miss_is_cached_and_a_hit_streams_in_one_piece() -> None:
    inner = ScriptedLLM(["Paris is the capital."], model="m")
    llm = CachedLLM(inner)
    first = list(llm.stream("capital?"))
    second = list(llm.stream("capital?"))
    assert len(first) > 2 and len(second) == 2
    assert second[-1].text == first[-1].text and len(inner.calls) == 1


def test_store_backed_cache_survives_a_restart(tmp_path: Any) -> None:
    path = tmp_path / "cache.db"
    with SQLiteStore(path) as store:
        llm = CachedLLM(ScriptedLLM(["stored"], model="m"),
                        LLMCache(exact=ExactCache(backend=StoreBackend(store))))
        llm.complete("q")
    with SQLiteStore(path) as store:
        inner = ScriptedLLM(["fresh"], model="m")
        llm = CachedLLM(inner, LLMCache(exact=ExactCache(backend=StoreBackend(store))))
        assert llm.complete("q").text == "stored" and not inner.calls


def semantic(**options: Any) -> SemanticCache:
    return SemanticCache(embedder=FakeEmbedder(dim=256), threshold=0.75, **options)


SCOPE = cache_key(model="scripted:m", version="1", params={}, input="scope")


def test_semantic_cache_answers_a_paraphrase_within_the_same_scope_only() -> None:
    cache = semantic()
    cache.put(SCOPE, "how can I reset my password", "Use Settings.")
    hit = cache.lookup(SCOPE, "how can I reset my password please")
    assert hit is not None and hit.value == "Use Settings." and hit.similarity >= 0.75
    other_scope = cache_key(model="scripted:m", version="1", params={"temperature": 1},
                            input="scope")
    assert cache.lookup(other_scope, "how can I reset my password please") is None


def test_semantic_guards_refuse_different_numbers_and_negation() -> None:
    cache = semantic()
    cache.put(SCOPE, "send 50 euros to my savings account today", "done: 50")
    cache.put(SCOPE, "I can log in to the app on my phone", "good")
    assert cache.lookup(SCOPE, "send 500 euros to my savings account today") is None
    assert cache.lookup(SCOPE, "I can't log in to the app on my phone") is None
    assert cache.refusals == {"numbers": 1, "negation": 1}
    assert cache.lookup(SCOPE, "send 50 euros to my savings account today!").value == "done: 50"


def test_intent_guard_refuses_a_similar_text_with_another_intent() -> None:
    def classify(texts: list[str]) -> list[str]:
        return ["lost" if "lost" in t else "arrival" for t in texts]

    cache = semantic(guards=[IntentGuard(classify)])
    cache.put(SCOPE, "my card has not arrived where is my card", "arrival answer")
    assert cache.lookup(SCOPE, "my card is lost where is my card") is None
    assert cache.lookup(SCOPE, "my card has not arrived where is my card now").value \
        == "arrival answer"


def test_semantic_cache_does_not_match_unrelated_questions_under_a_long_shared_template() -> None:
    """litellm #12234: the template must not make every question look alike."""
    template = "You are a helpful banking assistant. Answer briefly and politely. " * 20
    llm = CachedLLM(ScriptedLLM([f"answer {i}" for i in range(5)], model="m"),
                    LLMCache(semantic=semantic()))
    ask = [Message("system", template)]
    first = llm.complete([*ask, Message("user", "what is the exchange rate for dollars")])
    second = llm.complete([*ask, Message("user", "how do I close my account")])
    assert (first.text, second.text) == ("answer 0", "answer 1")


def test_semantic_hit_through_the_llm_cache_and_version_purge() -> None:
    inner = ScriptedLLM(["first", "second"], model="m")
    cache = LLMCache(semantic=semantic())
    llm = CachedLLM(inner, cache, version="1")
    llm.complete("how can I reset my password")
    assert llm.complete("how can I reset my password please").text == "first"
    assert cache.stats.semantic_hits == 1
    newer = CachedLLM(inner, cache, version="2")
    assert newer.complete("how can I reset my password please").text == "second"


def test_cache_lookups_are_traced_with_hit_and_rate() -> None:
    from compound.workflow import ListSink, RunContext, Tracer

    sink = ListSink()
    ctx = RunContext(tracer=Tracer(sink), store=MemoryStore(), run_id="ab" * 16)
    cache = LLMCache()
    llm = ScriptedLLM(["x"], model="m")
    cache.complete(llm, "q", ctx=ctx)
    outcome = cache.complete(llm, "q", ctx=ctx)
    ctx.tracer.flush()
    assert outcome.hit == "exact"
    lookups = [s["attributes"] for s in sink.spans if s["name"] == "cache"]
    assert [a["compound.cache.hit"] for a in lookups] == [False, True]
    assert lookups[-1]["compound.cache.hit_rate"] == 0.5
    assert len([s for s in sink.spans if s["kind"] == "model"]) == 1
