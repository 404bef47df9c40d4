"""The two steps of the support desk that read better as Python than as YAML.

``compose`` turns the retrieved help-article passages into the prompt the LLM sees, under a
token budget, with a citation id per passage; passages from the article of the predicted
intent come first. ``reply`` decides what the customer gets: the drafted answer with its
citations when the request was confident and clean, otherwise a hand-off to human review
with the reason (the review queue lives in the store; `compound review list` shows it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from compound.intelligence.ml.types import Prediction
from compound.orchestration.context import ContextBuilder
from compound.orchestration.retrieval.types import SearchResult
from compound.production.rails.verdict import GuardResult
from compound.workflow.context import RunContext

CONFIDENT = 0.55  # the workflow's `when` on the retrieve step uses the same threshold
TOKEN_BUDGET = 700  # of the prompt, counted with the embedded model's tokenizer
# Passages in the prompt: with the default Qwen2.5-Coder-0.5B-Instruct two answer better and
# sooner than three (bench/llm_quality.py --passages 2; the README's model section).
PASSAGES = 2


@dataclass(frozen=True)
class Prompt:
    """The prompt for the LLM and the passages it cites."""

    text: str
    citations: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeskReply:
    """What the customer gets back."""

    text: str  # the answer; empty when the request went to review
    citations: list[str]
    intent: str | None
    confidence: float | None
    routed_to: str  # "answer" or "review"
    reason: str
    review_id: int | None = None


def compose(question: str, intent: Prediction, found: SearchResult) -> Prompt:
    """Build the answer prompt from the passages, the predicted intent's article first.

    Tokens are estimated (about four characters a token, which over-counts for the
    model's tokenizer on English), and the budget sits well inside the model's window.
    """
    label = intent.label

    def matches(hit: Any) -> bool:
        intents = hit.metadata.get("intents") or []
        return isinstance(intents, list) and label in intents

    hits = sorted(found.hits, key=lambda h: (not matches(h), h.rank))[:PASSAGES]
    context = ContextBuilder(budget=TOKEN_BUDGET).run(question=question, passages=hits)
    return Prompt(
        text=context.text,
        citations=list(dict.fromkeys(p.id.split("#")[0] for p in context.citations.values())),
        dropped=[f"{d.item}: {d.reason}" for d in context.dropped],
    )


def reply(
    ctx: RunContext,
    question: str,
    screen: GuardResult,
    classify: Prediction,
    prompt: Prompt | None,
    draft: Any | None,
) -> DeskReply:
    """Answer with citations, or send the request to review with the reason."""
    label, confidence = classify.label, classify.probability
    if not screen.allowed or screen.action == "escalate":
        reason = "flagged by the input guardrail: " + "; ".join(
            v.reason for v in screen.verdicts if v.action != "allow"
        )
    elif draft is None or prompt is None:
        reason = f"intent '{label}' predicted with confidence {confidence:.2f} < {CONFIDENT}"
    elif not str(draft.text).strip():
        reason = "the model produced no answer"
    else:
        return DeskReply(str(draft.text).strip(), prompt.citations, str(label), confidence,
                         "answer", f"intent '{label}' at confidence {confidence:.2f}")
    item_id = None
    if ctx is not None and ctx.store is not None:
        from compound.strategy.review import ReviewQueue

        item = ReviewQueue(ctx.store, queue="support_desk").submit(
            {"question": question}, proposed=label, confidence=confidence, reason=reason,
            source="support_desk.answer", run_id=ctx.run_id,
        )
        item_id = item.id
    return DeskReply("", [], str(label) if label else None, confidence, "review", reason,
                     item_id)
