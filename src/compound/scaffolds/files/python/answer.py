"""The one step of this system that reads better as Python: the retrieved passages become the
prompt the LLM sees, under a token budget, each with a citation id."""

from __future__ import annotations

from dataclasses import dataclass, field

from compound.orchestration.context import ContextBuilder
from compound.orchestration.retrieval.types import SearchResult

TOKEN_BUDGET = 400  # tokens of prompt: small, so that the embedded model answers in a second


@dataclass(frozen=True)
class Prompt:
    """The prompt for the LLM and the documents it cites."""

    text: str
    citations: list[str] = field(default_factory=list)


def compose(question: str, found: SearchResult) -> Prompt:
    """The question and the best passages, numbered [1], [2]... for citation."""
    context = ContextBuilder(budget=TOKEN_BUDGET).run(question=question, passages=found.hits[:2])
    cited = dict.fromkeys(p.id.split("#")[0] for p in context.citations.values())
    return Prompt(text=context.text, citations=list(cited))
