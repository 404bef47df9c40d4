"""The prompt registry: versions and stages, seeding from the spec, the promotion gate,
rollback, diff, and how a version's examples reach chat and base models."""

from __future__ import annotations

import pytest

from compound.errors import UserError
from compound.intelligence.llm.prompting import render_prompt
from compound.orchestration.prompts import (
    EVENTS,
    PromptRegistry,
    PromptSource,
    prompt_messages,
)
from compound.store import MemoryStore
from compound.system import Criterion

CRITERIA = {"exact_match": Criterion(threshold=0.5, tolerance=0.05)}


@pytest.fixture
def registry() -> PromptRegistry:
    registry = PromptRegistry(MemoryStore())
    registry.seed("support.answer", template="Answer briefly: {question}", system="Be terse.")
    return registry


def test_the_spec_text_is_version_one_in_production_and_a_change_is_a_new_version(
        registry: PromptRegistry) -> None:
    [first] = registry.versions("support.answer")
    assert (first.ref, first.stage, first.source) == ("support.answer@1", "production", "spec")
    assert registry.seed("support.answer", template="Answer briefly: {question}",
                         system="Be terse.") is None  # same text: nothing new
    second = registry.seed("support.answer", template="Answer in one word: {question}",
                           system="Be terse.")
    assert second is not None and second.version == 2 and second.stage == "production"
    assert registry.get("support.answer", 1).stage == "archived"
    # after a version promoted from elsewhere, a spec change waits as a candidate
    third = registry.register("support.answer", instructions="Say yes or no.")
    registry.promote("support.answer", third.version, metrics={"exact_match": 0.9},
                     baseline={"exact_match": 0.8}, criteria=CRITERIA)
    fourth = registry.seed("support.answer", template="Reply: {question}", system="")
    assert fourth is not None and fourth.stage == "candidate"
    assert registry.production("support.answer").version == 3  # type: ignore[union-attr]


def test_register_inherits_what_it_is_not_given_and_checks_the_template(
        registry: PromptRegistry) -> None:
    record = registry.register("support.answer", examples=[
        {"input": {"question": "Is it open?"}, "output": "Yes."}], note="from feedback",
        source="improve")
    assert (record.version, record.stage, record.source) == (2, "candidate", "improve")
    assert record.template == "Answer briefly: {question}" and record.system == "Be terse."
    with pytest.raises(UserError, match="template"):
        registry.register("support.answer", template="Answer {question")
    with pytest.raises(UserError, match="question"):
        registry.register("support.answer", examples=[{"input": {"q": "Open?"}, "output": "Yes."}])
    with pytest.raises(UserError, match="give its template"):
        registry.register("other.step", note="no template")
    with pytest.raises(UserError, match=r"no version 7 \(versions: 1, 2\)"):
        registry.get("support.answer", 7)
    with pytest.raises(UserError, match=r"did you mean 'support\.answer'"):
        registry.known("support.answr")


def test_a_worse_candidate_is_refused_by_the_gate_and_production_stays(
        registry: PromptRegistry) -> None:
    candidate = registry.register("support.answer", instructions="Ramble.")
    decision = registry.promote("support.answer", candidate.version,
                                metrics={"exact_match": 0.6}, baseline={"exact_match": 0.9},
                                criteria=CRITERIA)
    assert not decision.promoted
    assert [(c.name, c.status) for c in decision.checks] == [("exact_match", "regressed")]
    assert registry.production("support.answer").version == 1  # type: ignore[union-attr]
    refused = registry.get("support.answer", candidate.version)
    assert refused.stage == "candidate" and refused.metrics == {"exact_match": 0.6}
    events = [r.data["event"] for r in registry.store.read(EVENTS)]
    assert events[-1] == "refused"
    # under the threshold fails even with nothing to compare
    low = registry.promote("support.answer", candidate.version, metrics={"exact_match": 0.4},
                           baseline=None, criteria=CRITERIA)
    assert [c.status for c in low.checks] == ["fail"] and not low.promoted


def test_an_eval_that_measures_no_criterion_promotes_nothing(registry: PromptRegistry) -> None:
    candidate = registry.register("support.answer", instructions="Be kind.")
    decision = registry.promote("support.answer", candidate.version,
                                metrics={"token_f1": 0.9}, baseline={"token_f1": 0.1},
                                criteria=CRITERIA)
    assert not decision.promoted and "measured none of the system's criteria" in decision.message


def test_promote_then_rollback_restores_the_previous_version(registry: PromptRegistry) -> None:
    candidate = registry.register("support.answer", instructions="Say yes or no.")
    decision = registry.promote("support.answer", candidate.version,
                                metrics={"exact_match": 0.88}, baseline={"exact_match": 0.9},
                                criteria=CRITERIA)  # within the tolerance of 0.05
    assert decision.promoted and decision.replaced == 1
    assert registry.get("support.answer", 1).metrics == {"exact_match": 0.9}
    assert registry.rollback("support.answer").version == 1
    assert [v.stage for v in registry.versions("support.answer")] == ["production", "archived"]
    with pytest.raises(UserError, match="no earlier production version"):
        registry.rollback("support.answer")


def test_diff_shows_what_the_model_sees_differently(registry: PromptRegistry) -> None:
    registry.register("support.answer", instructions="Say yes or no.",
                      examples=[{"input": {"question": "Open?"}, "output": "Yes."}])
    text = registry.diff("support.answer", 1, 2)
    assert text.startswith("--- support.answer@1\n+++ support.answer@2\n")
    assert "+Say yes or no.\n" in text and '+{"question": "Open?"}\n' in text
    assert registry.diff("support.answer", 2, 2) == ""


def test_examples_are_earlier_turns_for_chat_models_and_qa_pairs_for_base_models(
        registry: PromptRegistry) -> None:
    record = registry.register("support.answer", instructions="One word.", examples=[
        {"input": {"question": "Open on Sunday?"}, "output": "No."},
        {"input": "Free delivery?", "output": "Yes."}])
    messages = prompt_messages(record, "Answer briefly: Refunds?")
    assert [(m.role, m.content) for m in messages] == [
        ("system", "Be terse.\n\nOne word."),
        ("user", "Answer briefly: Open on Sunday?"), ("assistant", "No."),
        ("user", "Free delivery?"), ("assistant", "Yes."),
        ("user", "Answer briefly: Refunds?")]
    assert render_prompt(messages, few_shot=[]) == (
        "Be terse.\n\nOne word.\n\nQuestion: Answer briefly: Open on Sunday?\nAnswer: No.\n\n"
        "Question: Free delivery?\nAnswer: Yes.\n\nQuestion: Answer briefly: Refunds?\nAnswer:")


def test_a_step_follows_production_unless_the_spec_changed_since(
        registry: PromptRegistry) -> None:
    source = PromptSource("support.answer", template="Answer briefly: {question}",
                          system="Be terse.")
    assert source.current(registry.store).ref == "support.answer@1"  # type: ignore[union-attr]
    edited = PromptSource("support.answer", template="Answer in one word: {question}",
                          system="Be terse.")
    assert edited.current(registry.store) is None  # the spec's new text wins
    assert PromptSource("support.answer", template="{question}").current(None) is None
    other = registry.register("support.answer", template="Reply to {message}")
    pinned = PromptSource("support.answer", template="Answer briefly: {question}",
                          pinned=other)
    with pytest.raises(UserError, match=r"reads fields \['message'\]"):
        pinned.current()


def test_the_store_keeps_a_prompt_as_written(tmp_path: object) -> None:
    from compound.store import open_store

    with open_store(path=f"{tmp_path}/compound.db") as store:  # redacting by default
        registry = PromptRegistry(store)
        registry.seed("support.answer", template="Write to help@bank.example about {question}")
        assert registry.production("support.answer").template == (  # type: ignore[union-attr]
            "Write to help@bank.example about {question}")


def test_a_store_that_fails_leaves_the_version_in_use(registry: PromptRegistry,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from compound.errors import StoreError

    source = PromptSource("support.answer", template="Answer briefly: {question}",
                          system="Be terse.", refresh_s=0.0)
    assert source.current(registry.store).ref == "support.answer@1"  # type: ignore[union-attr]

    def broken(*args: object, **kwargs: object) -> None:
        raise StoreError("database is locked")

    monkeypatch.setattr(registry.store, "get", broken)
    assert source.current(registry.store).ref == "support.answer@1"  # type: ignore[union-attr]
