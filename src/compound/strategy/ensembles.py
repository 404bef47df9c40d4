"""Ensembles: several models answer one request, and their answers are combined.

* :class:`Ensemble` with ``combine="vote"``: the answer with the most confidence-weighted
  votes wins; its confidence is its share of the weighted vote.
* :class:`Ensemble` with ``combine="agreement"``: the first member answers and the others
  check it; its confidence is scaled by the share of members that agree, so disagreement
  lowers confidence. Below ``review_below`` the request goes to review (reason
  ``disagreement``).
* :class:`BestOfN`: n candidate answers (from several models, or one model sampled n times)
  and a judge LLM that picks the best.

Members run in parallel threads. Every ensemble decision is recorded in the trace.

Example:
    >>> from compound.strategy.answers import FunctionHandler
    >>> members = [FunctionHandler("a", lambda t: "refund", confidence=0.9),
    ...            FunctionHandler("b", lambda t: "refund", confidence=0.8),
    ...            FunctionHandler("c", lambda t: "card", confidence=0.7)]
    >>> answer = Ensemble(members, combine="agreement").run("money back?")
    >>> answer.value, round(answer.confidence, 2), answer.raw.agreement
    ('refund', 0.6, 0.6666666666666666)
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from compound.errors import UserError
from compound.intelligence.llm.errors import InvalidResponse
from compound.strategy.answers import Answer, Handler
from compound.strategy.trace import decision_span, note

if TYPE_CHECKING:
    from compound.intelligence.llm import LLM
    from compound.workflow.context import RunContext


@dataclass(frozen=True)
class EnsembleDetail:
    """How an ensemble reached its answer (``Answer.raw`` of an ensemble's answer).

    Attributes:
        answers: every member's answer.
        votes: answer value -> its weighted vote.
        agreement: the share of members whose answer equals the chosen one.
        judge_reason: for best-of-n, the judge's reason.
    """

    answers: tuple[Answer, ...]
    votes: dict[str, float]
    agreement: float
    judge_reason: str | None = None


def _key(value: Any) -> str:
    """Answers compared loosely: strings without case or surrounding space, others as JSON."""
    if isinstance(value, str):
        return value.strip().casefold()
    return json.dumps(value, sort_keys=True, default=str)


def _run_all(members: Sequence[Handler], request: Any, ctx: RunContext | None
             ) -> list[Answer]:
    if len(members) == 1:
        return [members[0].run(request, ctx)]
    # each member in a copy of the caller's context: the deadline it runs under (a served
    # run's, a step's) bounds and stops the members' model calls too
    contexts = [contextvars.copy_context() for _ in members]
    with ThreadPoolExecutor(max_workers=len(members), thread_name_prefix="compound-ens") as pool:
        return list(pool.map(lambda m, c: c.run(m.run, request, ctx), members, contexts))


class Ensemble:
    """Combine members' answers by ``vote`` or ``agreement`` (see the module docstring).

    Args:
        members: the handlers; for ``agreement`` the first one answers, the rest check.
        combine: ``vote`` or ``agreement``.
        review: where answers below ``review_below`` go (a
            :class:`~compound.strategy.review.ReviewHandler`); None: answer anyway.
        review_below: the confidence under which the answer goes to review.
        name: names the ensemble in answers and traces.
    """

    def __init__(self, members: Sequence[Handler], *,
                 combine: Literal["vote", "agreement"] = "vote", review: Handler | None = None,
                 review_below: float | None = None, name: str = "ensemble") -> None:
        if len(members) < 2:
            raise UserError(f"ensemble '{name}' needs at least 2 members; received "
                            f"{len(members)}")
        if combine not in ("vote", "agreement"):
            raise UserError(f"ensemble '{name}': combine must be 'vote' or 'agreement' "
                            f"(best-of-n is BestOfN); received {combine!r}")
        if review_below is not None and review is None:
            raise UserError(f"ensemble '{name}': review_below needs a review handler")
        self.members = list(members)
        self.combine = combine
        self.review = review
        self.review_below = review_below
        self.name = name

    def run(self, request: Any, ctx: RunContext | None = None) -> Answer:
        with decision_span(ctx, f"ensemble {self.name}") as span:
            answers = _run_all(self.members, request, ctx)
            votes: dict[str, float] = {}
            firsts: dict[str, Answer] = {}
            for answer in answers:
                key = _key(answer.value)
                weight = answer.confidence if answer.confidence is not None else 1.0
                votes[key] = votes.get(key, 0.0) + weight
                firsts.setdefault(key, answer)
            if self.combine == "vote":
                winner = max(votes, key=lambda k: votes[k])  # ties: the first member's answer
                confidence = votes[winner] / len(answers)
            else:
                winner = _key(answers[0].value)
                base = answers[0].confidence if answers[0].confidence is not None else 1.0
                confidence = base * sum(_key(a.value) == winner for a in answers) / len(answers)
            agreement = sum(_key(a.value) == winner for a in answers) / len(answers)
            detail = EnsembleDetail(tuple(answers), votes, agreement)
            note(span, "compound.ensemble.combine", self.combine)
            note(span, "compound.ensemble.votes", votes)
            note(span, "compound.ensemble.agreement", agreement)
            combined = Answer(
                value=firsts[winner].value, source=self.name, confidence=confidence,
                cost_usd=sum(a.cost_usd for a in answers),
                tokens=sum(a.tokens for a in answers),
                latency_s=max(a.latency_s for a in answers), raw=detail,
            )
            if (self.review is not None and self.review_below is not None
                    and confidence < self.review_below):
                note(span, "compound.review.reason", "disagreement")
                escalate = getattr(self.review, "escalate", None)
                if escalate is not None:
                    pending: Answer = escalate(request, proposal=combined,
                                               reason="disagreement", ctx=ctx)
                    return pending
                return self.review.run(request, ctx)
            return combined


JUDGE_SCHEMA = {
    "type": "object",
    "properties": {"best": {"type": "integer"}, "reason": {"type": "string"}},
    "required": ["best"],
}


class BestOfN:
    """n candidates and a judge that picks the best.

    Args:
        candidates: handlers producing candidate answers; with one handler, it is run ``n``
            times (give it a temperature above 0 so that the samples differ).
        judge: the LLM that picks.
        criteria: what "best" means, in words, for the judge.
        n: samples when there is a single candidate handler.
        name: names it in answers and traces.
    """

    def __init__(self, candidates: Sequence[Handler], *, judge: LLM,
                 criteria: str = "the most correct and helpful answer", n: int = 3,
                 name: str = "best_of_n") -> None:
        if not candidates:
            raise UserError(f"best-of-n '{name}' needs at least one candidate handler")
        self.candidates = list(candidates) if len(candidates) > 1 else [candidates[0]] * n
        self.judge = judge
        self.criteria = criteria
        self.name = name

    def prompt(self, request: Any, answers: Sequence[Answer]) -> str:
        """The judge's prompt."""
        listed = "\n".join(f"[{i}] {a.value}" for i, a in enumerate(answers))
        return (f"Request:\n{request}\n\nCandidate answers:\n{listed}\n\nPick {self.criteria}."
                f' Reply with JSON: {{"best": <index 0-{len(answers) - 1}>, "reason": "..."}}')

    def run(self, request: Any, ctx: RunContext | None = None) -> Answer:
        with decision_span(ctx, f"best_of_n {self.name}") as span:
            answers = _run_all(self.candidates, request, ctx)
            prompt = self.prompt(request, answers)
            if ctx is not None:
                verdict = ctx.complete(self.judge, prompt, json_schema=JUDGE_SCHEMA)
            else:
                verdict = self.judge.complete(prompt, json_schema=JUDGE_SCHEMA)
            best = verdict.data.get("best") if isinstance(verdict.data, dict) else None
            if not isinstance(best, int) or not 0 <= best < len(answers):
                raise InvalidResponse(
                    f"the judge of '{self.name}' picked {best!r}; expected an index from 0 to "
                    f"{len(answers) - 1}", raw=verdict.text,
                    provider=self.judge.provider, model=self.judge.model,
                )
            votes: dict[str, float] = {}
            for answer in answers:
                votes[_key(answer.value)] = votes.get(_key(answer.value), 0.0) + 1.0
            chosen = answers[best]
            agreement = votes[_key(chosen.value)] / len(answers)
            note(span, "compound.ensemble.combine", "best_of_n")
            note(span, "compound.ensemble.chosen", best)
            note(span, "compound.ensemble.agreement", agreement)
            detail = EnsembleDetail(tuple(answers), votes, agreement,
                                    str(verdict.data.get("reason", "")))
            return Answer(
                value=chosen.value, source=self.name, confidence=chosen.confidence,
                cost_usd=sum(a.cost_usd for a in answers) + verdict.cost_usd,
                tokens=sum(a.tokens for a in answers) + verdict.usage.total_tokens,
                latency_s=max(a.latency_s for a in answers) + verdict.latency_s, raw=detail,
            )
