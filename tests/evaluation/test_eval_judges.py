"""Judges: pairwise preference with swapped positions cancels position bias; rubric scores;
Cohen's kappa decides whether a judge can be trusted."""

from __future__ import annotations

import pytest

from compound.errors import UserError
from compound.evaluation.judges import (
    PairwiseJudge,
    RubricJudge,
    cohen_kappa,
    compare_pairwise,
    judge_agreement,
)
from compound.intelligence.llm import ScriptedLLM
from compound.intelligence.llm.types import GenerationParams, Message

PAIRS = [(f"question {i}", f"good answer {i}", f"bad answer {i}") for i in range(10)]


def test_swapping_positions_cancels_a_judge_that_always_prefers_a() -> None:
    always_a = ScriptedLLM(['{"better": "A"}'])
    judge = PairwiseJudge(always_a)
    # Asked once per pair, this judge would crown whichever system is shown first.
    naive = [judge.ask(q, a, b) for q, a, b in PAIRS]
    assert naive.count("A") == len(PAIRS)
    result = compare_pairwise(judge, PAIRS)
    assert result.win_rate_a == 0.5
    assert (result.wins_a, result.wins_b, result.ties) == (0, 0, len(PAIRS))
    assert result.inconsistent == len(PAIRS)
    assert result.position_a_rate == 1.0
    # Every pair was asked in both orders.
    shown_first = [call[0][0].content.split("Answer A: ")[1].split("\n")[0]
                   for call in always_a.calls[len(PAIRS):]]
    assert shown_first[0::2] == [a for _, a, _ in PAIRS]
    assert shown_first[1::2] == [b for _, _, b in PAIRS]


def _content_judge(messages: tuple[Message, ...], params: GenerationParams) -> str:
    text = messages[-1].content
    first = text.split("Answer A: ")[1].split("\n")[0]
    return '{"better": "A"}' if first.startswith("good") else '{"better": "B"}'


def test_a_judge_that_reads_the_answers_is_consistent_in_both_orders() -> None:
    result = compare_pairwise(PairwiseJudge(ScriptedLLM(_content_judge)), PAIRS)
    assert result.wins_a == len(PAIRS) and result.inconsistent == 0
    assert result.win_rate_a == 1.0
    assert result.position_a_rate == 0.5
    swapped = compare_pairwise(PairwiseJudge(ScriptedLLM(_content_judge)),
                               [(q, b, a) for q, a, b in PAIRS])
    assert swapped.win_rate_a == 0.0


def test_a_tie_in_one_order_gives_the_win_to_the_other_orders_pick() -> None:
    judge = PairwiseJudge(ScriptedLLM(['{"better": "A"}', '{"better": "tie"}']))
    verdict = judge.run(question="q", answer_a="x", answer_b="y")
    assert verdict.winner == "a" and verdict.consistent


def test_rubric_judge_is_constrained_to_its_scale() -> None:
    llm = ScriptedLLM(['{"score": 2, "reason": "partly"}'])
    judge = RubricJudge(llm, rubric="Be strict.", scale=(1, 3))
    verdict = judge.run(question="2+2?", answer="5", reference="4")
    assert verdict.score == 2 and verdict.reason == "partly"
    params = llm.calls[0][1]
    assert params.json_schema["properties"]["score"]["enum"] == [1, 2, 3]
    prompt = llm.calls[0][0][0].content
    assert "Rubric: Be strict." in prompt and "Reference answer: 4" in prompt


def test_cohen_kappa_matches_hand_computed_values() -> None:
    # 2x2 table [[20, 5], [10, 15]]: po = 0.7, pe = 0.5*0.6 + 0.5*0.4 = 0.5 -> kappa 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa([1, 2, 3], [1, 2, 3]) == 1.0
    assert cohen_kappa([1, 1, 1], [1, 1, 1]) == 1.0
    assert cohen_kappa([1, 2, 1, 2], [2, 1, 2, 1]) == pytest.approx(-1.0)
    assert cohen_kappa([1, 2, 3, 4], [1, 2, 4, 3], weights="quadratic") > cohen_kappa(
        [1, 2, 3, 4], [1, 2, 4, 3])
    with pytest.raises(UserError, match="equally long"):
        cohen_kappa([1], [1, 2])


def test_agreement_decides_whether_the_judge_is_trusted() -> None:
    human = [5, 4, 1, 2, 5, 3, 1, 4]
    close = judge_agreement([5, 4, 1, 2, 5, 3, 2, 4], human)
    assert close.trusted and close.observed == pytest.approx(7 / 8)
    random_judge = judge_agreement([3, 1, 5, 5, 2, 4, 4, 1], human)
    assert not random_judge.trusted
