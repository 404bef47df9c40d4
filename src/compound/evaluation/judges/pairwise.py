"""Pairwise preference between two systems, asked twice with the positions swapped.

LLM judges favour a position (often the first answer shown). Each pair is judged as (a, b) and
again as (b, a); a system wins only when the judge prefers it in both orders (or in one, the
other being a tie). When the two orders disagree the pair counts as a tie and as
*inconsistent*: a judge that always picks position A gives a 0.5 win rate, not a fake 1.0,
and an inconsistency rate of 1.0 that says the judge is not looking at the answers.

Example:
    >>> from compound.intelligence.llm import ScriptedLLM
    >>> always_a = PairwiseJudge(ScriptedLLM(['{"better": "A"}']))
    >>> result = compare_pairwise(always_a, [("2+2?", "4", "5"), ("3+3?", "7", "6")])
    >>> result.win_rate_a, result.inconsistent, result.position_a_rate
    (0.5, 2, 1.0)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Pick = Literal["A", "B", "tie"]
Winner = Literal["a", "b", "tie"]
PICK_SCHEMA = {
    "type": "object",
    "properties": {"better": {"type": "string", "enum": ["A", "B", "tie"]}},
    "required": ["better"],
}


@dataclass(frozen=True)
class PairwiseVerdict:
    """The outcome of one pair.

    Attributes:
        winner: ``a``, ``b`` or ``tie`` after combining both orders.
        first: the judge's pick with a shown first (position A).
        second: the judge's pick with b shown first.
        consistent: both orders named the same system (or both said tie).
    """

    winner: Winner
    first: Pick
    second: Pick
    consistent: bool


@dataclass(frozen=True)
class PairwiseResult:
    """Wins, losses and ties of system a against system b over many pairs."""

    wins_a: int
    wins_b: int
    ties: int
    inconsistent: int
    position_a_rate: float
    verdicts: list[PairwiseVerdict] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.wins_a + self.wins_b + self.ties

    @property
    def win_rate_a(self) -> float:
        """a's share of wins, a tie counting half."""
        return (self.wins_a + 0.5 * self.ties) / self.n if self.n else 0.0


class PairwiseJudge:
    """Asks a model which of two answers is better.

    Args:
        llm: the judge model (anything with ``complete``).
        criteria: what "better" means.
    """

    def __init__(
        self, llm: Any, *, criteria: str = "Which answer is more correct and helpful?"
    ) -> None:
        self.llm = llm
        self.criteria = criteria

    def ask(self, question: str, first: str, second: str) -> Pick:
        """One presentation: which position holds the better answer."""
        prompt = (
            f"{self.criteria}\nQuestion: {question}\nAnswer A: {first}\nAnswer B: {second}\n"
            "Reply with JSON {\"better\": \"A\"}, {\"better\": \"B\"} or {\"better\": \"tie\"}."
        )
        completion = self.llm.complete(prompt, json_schema=PICK_SCHEMA, max_tokens=16,
                                       temperature=0.0)
        data = completion.data if isinstance(completion.data, dict) else {}
        pick = data.get("better", "tie")
        return pick if pick in ("A", "B", "tie") else "tie"

    def run(self, *, question: str, answer_a: str, answer_b: str) -> PairwiseVerdict:
        """Judge a pair in both orders and combine."""
        first = self.ask(question, answer_a, answer_b)
        second = self.ask(question, answer_b, answer_a)
        one: Winner = {"A": "a", "B": "b", "tie": "tie"}[first]  # type: ignore[assignment]
        two: Winner = {"A": "b", "B": "a", "tie": "tie"}[second]  # type: ignore[assignment]
        if one == two:
            return PairwiseVerdict(one, first, second, consistent=True)
        if "tie" in (one, two):
            winner = one if two == "tie" else two
            return PairwiseVerdict(winner, first, second, consistent=True)
        return PairwiseVerdict("tie", first, second, consistent=False)


def compare_pairwise(
    judge: PairwiseJudge, pairs: Iterable[tuple[str, str, str]]
) -> PairwiseResult:
    """Judge ``(question, answer_a, answer_b)`` pairs, each in both orders."""
    verdicts = [judge.run(question=q, answer_a=a, answer_b=b) for q, a, b in pairs]
    picks = [p for v in verdicts for p in (v.first, v.second) if p != "tie"]
    return PairwiseResult(
        wins_a=sum(v.winner == "a" for v in verdicts),
        wins_b=sum(v.winner == "b" for v in verdicts),
        ties=sum(v.winner == "tie" for v in verdicts),
        inconsistent=sum(not v.consistent for v in verdicts),
        position_a_rate=(sum(p == "A" for p in picks) / len(picks)) if picks else 0.0,
        verdicts=verdicts,
    )
