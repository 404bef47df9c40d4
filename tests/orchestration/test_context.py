"""The context builder: never over budget, deterministic, and honest about what it dropped."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compound.errors import UserError
from compound.intelligence.llm.types import Message
from compound.orchestration.context import (
    Context,
    ContextBudgetError,
    ContextBuilder,
    ContextPolicy,
    Passage,
    ToolResult,
    Turn,
    approx_tokens,
    truncate_to_tokens,
)
from compound.orchestration.retrieval.types import Hit


def chars_over_four(text: str) -> int:
    """A counter that does not add up over pieces, like a BPE tokenizer."""
    return (len(text) + 3) // 4


def whitespace_words(text: str) -> int:
    return len(text.split())


COUNTERS: dict[str, Callable[[str], int]] = {
    "approx": approx_tokens, "chars/4": chars_over_four, "words": whitespace_words,
}

words = st.text(alphabet=st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")),
                max_size=400)
passages = st.lists(
    st.builds(Passage, id=st.uuids().map(str), text=words,
              score=st.floats(-10, 10, allow_nan=False), title=st.text(max_size=20),
              source=st.text(max_size=20)),
    max_size=12,
)
turns = st.lists(st.builds(Turn, role=st.sampled_from(["user", "assistant"]), content=words),
                 max_size=10)
tools = st.lists(st.builds(ToolResult, name=st.text(min_size=1, max_size=10), content=words),
                 max_size=4)
policies = st.builds(
    ContextPolicy,
    passages=st.sampled_from(["drop_lowest", "truncate"]),
    tools=st.sampled_from(["truncate", "drop_oldest"]),
    conversation=st.sampled_from(["summarise_oldest", "drop_oldest", "truncate"]),
    min_item_tokens=st.integers(1, 40),
)
shares = st.dictionaries(st.sampled_from(["passages", "tools", "conversation"]),
                         st.one_of(st.integers(1, 500), st.floats(0.05, 1.0)), max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counter=st.sampled_from(sorted(COUNTERS)), budget=st.integers(1, 600),
    instructions=st.text(max_size=200), question=words, passages=passages, turns=turns,
    tools=tools, policy=policies, shares=shares,
    priority=st.permutations(["passages", "tools", "conversation"]),
)
def test_never_over_budget_and_deterministic(
    counter: str, budget: int, instructions: str, question: str, passages: list[Passage],
    turns: list[Turn], tools: list[ToolResult], policy: ContextPolicy,
    shares: dict[str, float], priority: list[str],
) -> None:
    count = COUNTERS[counter]
    builder = ContextBuilder(budget=budget, count_tokens=count, policy=policy,
                             section_budgets=shares, priority=priority)
    inputs = {"instructions": instructions, "question": question, "passages": passages,
              "conversation": turns, "tool_results": tools}
    if count(instructions.strip()) > budget:
        with pytest.raises(ContextBudgetError, match="raise the budget"):
            builder.run(**inputs)
        return
    context = builder.run(**inputs)
    assert context.tokens == count(context.text) <= budget
    assert builder.run(**inputs) == context
    assert context.section("instructions") == instructions.strip()
    shown = {p.id for p in context.citations.values()}
    gone = {d.item for d in context.dropped if d.section == "passages" and d.action == "dropped"}
    assert shown.isdisjoint(gone)
    assert shown | gone == {p.id for p in passages}  # every passage is shown or accounted for


def test_drop_lowest_keeps_the_best_and_records_the_rest() -> None:
    builder = ContextBuilder(budget=40)
    context = builder.run(
        instructions="Cite sources.",
        question="What is new?",
        passages=[Passage("low", "word " * 10, score=0.1), Passage("top", "fact " * 10, score=3),
                  Passage("mid", "note " * 30, score=1.0)],
    )
    assert [p.id for p in context.citations.values()] == ["top"]
    assert "[1] fact fact" in context.text
    reasons = {d.item: d for d in context.dropped}
    assert set(reasons) == {"mid", "low"}
    assert reasons["mid"].action == "dropped" and "rank 2" in reasons["mid"].reason
    assert reasons["mid"].tokens_before == 30


def test_truncate_policy_cuts_the_first_passage_that_does_not_fit() -> None:
    builder = ContextBuilder(budget=40, policy=ContextPolicy(passages="truncate",
                                                             min_item_tokens=5))
    context = builder.run(question="Why?", passages=[
        Passage("a", "alpha " * 10, score=2), Passage("b", "beta " * 50, score=1)])
    assert list(context.citations) == ["1", "2"]
    record = next(d for d in context.dropped if d.item == "b")
    assert record.action == "truncated" and 5 <= record.tokens_after < 50
    assert context.text.count("beta") == record.tokens_after - 1  # the " …" mark counts one


def test_older_turns_are_summarised_and_recent_ones_kept() -> None:
    conversation = [Turn("user", f"Question {i}. " + "detail " * 20) for i in range(6)]
    builder = ContextBuilder(budget=80)
    context = builder.run(question="And now?", conversation=conversation)
    summary = next(d for d in context.dropped if d.action == "summarised")
    assert summary.item.startswith("turns 1-")
    assert "Earlier in the conversation: user: Question 0." in context.text
    assert "Question 5." in context.text  # the newest turn is whole
    assert context.tokens <= 80


def test_custom_summariser_and_messages() -> None:
    builder = ContextBuilder(budget=60, summarise=lambda old: f"{len(old)} earlier turns")
    context = builder.run(
        instructions="Be brief.", question="Next?",
        conversation=[Message("user", "hello " * 30), Message("assistant", "hi " * 30),
                      Message("system", "ignored"), Message("user", "thanks")],
        tool_results=[ToolResult("clock", "12:00")],
    )
    assert "Earlier in the conversation: 2 earlier turns" in context.text
    assert "(clock) 12:00" in context.text
    messages = context.to_messages()
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[0].content == "Be brief." and "Question: Next?" in messages[1].content


def test_tool_results_newest_first_then_truncated() -> None:
    builder = ContextBuilder(budget=45, policy=ContextPolicy(min_item_tokens=3))
    context = builder.run(question="Status?", tool_results=[
        ToolResult("old", "stale " * 40), ToolResult("new", "fresh " * 10)])
    assert "(new) fresh" in context.text
    old = next(d for d in context.dropped if d.item == "old")
    assert old.action == "truncated" and old.tokens_after < 40


def test_hits_become_passages_with_citations() -> None:
    hit = Hit("doc#0", "doc", "Cats purr.", 1.5, 1, title="Cats", source="cats.md")
    context = ContextBuilder(budget=100).run(question="Purr?", passages=[hit])
    assert "[1] Cats — cats.md\nCats purr." in context.text
    assert context.citations["1"].id == "doc#0"


def test_budget_errors_and_settings() -> None:
    with pytest.raises(ContextBudgetError, match="instructions take 6 tokens"):
        ContextBuilder(budget=5).run(instructions="one two three four five six")
    with pytest.raises(UserError, match="at least 1 token"):
        ContextBuilder(budget=0)
    with pytest.raises(UserError, match="section budget 'notes"):
        ContextBuilder(budget=10, section_budgets={"notes": 5})
    with pytest.raises(UserError, match="priority must order"):
        ContextBuilder(budget=10, priority=["passages"])


def test_a_huge_question_is_truncated_and_recorded() -> None:
    context = ContextBuilder(budget=30).run(instructions="Answer.", question="why " * 500)
    assert context.tokens <= 30
    assert context.dropped[0].section == "question" and context.dropped[0].tokens_before == 500


def test_section_shares_cap_a_section() -> None:
    builder = ContextBuilder(budget=200, section_budgets={"passages": 0.25})
    context: Context = builder.run(question="q", passages=[
        Passage(str(i), "text " * 20, score=-i) for i in range(5)])
    assert context.sections[0].name == "passages" and context.sections[0].tokens <= 50


def test_truncate_to_tokens() -> None:
    assert truncate_to_tokens("short", 5, approx_tokens) == "short"
    assert truncate_to_tokens("a b c d e f", 4, approx_tokens) == "a b c …"
    assert truncate_to_tokens("word", 0, approx_tokens) == ""
