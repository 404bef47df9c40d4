"""Ensembles: vote, agreement check (disagreement lowers confidence or goes to review),
best-of-n with a judge."""

from __future__ import annotations

import pytest

from compound.errors import UserError
from compound.intelligence.llm import InvalidResponse, ScriptedLLM
from compound.store import MemoryStore
from compound.strategy.answers import FunctionHandler, LLMHandler
from compound.strategy.ensembles import BestOfN, Ensemble
from compound.strategy.review import ReviewHandler, ReviewQueue


def member(name: str, value: str, confidence: float | None = None) -> FunctionHandler:
    return FunctionHandler(name, lambda _request: value, confidence=confidence)


def test_majority_vote_weighted_by_confidence() -> None:
    answer = Ensemble([member("a", "refund", 0.6), member("b", "Refund ", 0.7),
                       member("c", "card", 0.99)]).run("q")
    assert answer.value == "refund" and answer.confidence == pytest.approx(1.3 / 3)
    assert answer.raw.agreement == pytest.approx(2 / 3)
    unweighted = Ensemble([member("a", "x"), member("b", "y"), member("c", "y")]).run("q")
    assert unweighted.value == "y" and unweighted.confidence == pytest.approx(2 / 3)


def test_agreement_lowers_confidence_and_sends_disagreement_to_review() -> None:
    agree = Ensemble([member("a", "x", 0.9), member("b", "x")], combine="agreement").run("q")
    assert agree.confidence == pytest.approx(0.9)
    queue = ReviewQueue(MemoryStore())
    disagree = Ensemble([member("a", "x", 0.9), member("b", "y")], combine="agreement",
                        review=ReviewHandler(queue), review_below=0.6).run("q")
    assert disagree.status == "review"
    item = queue.get(disagree.review_id or "")
    assert item.reason == "disagreement" and item.proposed == "x"
    assert item.confidence == pytest.approx(0.45)


def test_best_of_n_with_a_judge() -> None:
    writer = ScriptedLLM(["short", "a fuller answer", "meh"])
    judge = ScriptedLLM(['{"best": 1, "reason": "most complete"}'], model="judge")
    answer = BestOfN([LLMHandler("writer", writer)], judge=judge, n=3).run("explain")
    assert answer.value == "a fuller answer"
    assert answer.raw.judge_reason == "most complete" and len(writer.calls) == 3
    prompt = judge.calls[0][0][0].content
    assert "[0] short" in prompt and "[2] meh" in prompt


def test_a_judge_picking_nonsense_is_an_invalid_response() -> None:
    judge = ScriptedLLM(['{"best": 7}'], model="judge")
    with pytest.raises(InvalidResponse, match="picked 7"):
        BestOfN([member("a", "x"), member("b", "y")], judge=judge).run("q")


def test_ensemble_configuration_mistakes() -> None:
    with pytest.raises(UserError, match="at least 2"):
        Ensemble([member("a", "x")])
    with pytest.raises(UserError, match="review handler"):
        Ensemble([member("a", "x"), member("b", "x")], review_below=0.5)
