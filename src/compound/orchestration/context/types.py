"""The values the context builder takes and returns, and the policy that governs it.

Example:
    >>> Passage("doc#0", "Cats purr.", score=1.5).id
    'doc#0'
    >>> approx_tokens("Hello, world!")
    4
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from compound.errors import UserError

TokenCounter = Callable[[str], int]
Summariser = Callable[[Sequence["Turn"]], str]

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
ELLIPSIS = " …"


def approx_tokens(text: str) -> int:
    """A tokenizer-free count: words and punctuation marks (the default counter).

    Example:
        >>> approx_tokens("Hello, world!")
        4
    """
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class Passage:
    """A retrieved passage to show the model.

    Attributes:
        id: the chunk or document id (kept in ``Context.citations``).
        text: the passage.
        score: retrieval score; higher ranks first.
        title: shown before the text.
        source: shown before the text.
        doc_id: the document the passage comes from (for citations); ``id`` when empty.
    """

    id: str
    text: str
    score: float = 0.0
    title: str = ""
    source: str = ""
    doc_id: str = ""

    @classmethod
    def from_hit(cls, hit: Any) -> Passage:
        """A passage from a retrieval :class:`~compound.orchestration.retrieval.Hit`."""
        return cls(id=hit.chunk_id, text=hit.text, score=hit.score, title=hit.title,
                   source=hit.source, doc_id=hit.doc_id)


@dataclass(frozen=True)
class Turn:
    """One earlier turn of the conversation."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned, to show the model."""

    name: str
    content: str


@dataclass(frozen=True)
class Dropped:
    """Something the budget kept out of the context, whole or in part.

    Attributes:
        section: ``passages``, ``tools``, ``conversation`` or ``question``.
        item: the passage id, tool name or turn range (``turns 1-4``).
        action: ``dropped``, ``truncated`` or ``summarised``.
        reason: why, in words, with the numbers.
        tokens_before: the item's tokens.
        tokens_after: what remains of it in the context (0 when dropped).
    """

    section: str
    item: str
    action: Literal["dropped", "truncated", "summarised"]
    reason: str
    tokens_before: int
    tokens_after: int = 0


@dataclass(frozen=True)
class Section:
    """One rendered section of the context."""

    name: str
    text: str
    tokens: int


@dataclass(frozen=True)
class Context:
    """What the model sees.

    Attributes:
        text: the whole context, sections in order.
        tokens: ``count_tokens(text)``; never above ``budget``.
        budget: the budget it was built under.
        sections: each section's text and tokens.
        citations: citation id (``"1"``) to the passage shown as ``[1]``.
        dropped: what the budget left out, in the order decided.
    """

    text: str
    tokens: int
    budget: int
    sections: tuple[Section, ...]
    citations: dict[str, Passage]
    dropped: tuple[Dropped, ...] = ()

    def section(self, name: str) -> str:
        """A section's text ('' when absent)."""
        return next((s.text for s in self.sections if s.name == name), "")

    def to_messages(self) -> list[Any]:
        """The context as chat messages: instructions as system, the rest as user."""
        from compound.intelligence.llm.types import Message

        rest = "\n\n".join(s.text for s in self.sections if s.name != "instructions" and s.text)
        messages = []
        if self.section("instructions"):
            messages.append(Message("system", self.section("instructions")))
        messages.append(Message("user", rest))
        return messages


@dataclass(frozen=True)
class ContextPolicy:
    """What to do when a section does not fit its share of the budget.

    Attributes:
        passages: ``drop_lowest`` (keep passages in rank order while they fit) or
            ``truncate`` (also cut the first one that does not fit).
        tools: ``truncate`` (newest first, each cut to what is left) or ``drop_oldest``.
        conversation: ``summarise_oldest`` (the oldest turns become one summary line),
            ``drop_oldest`` or ``truncate`` (cut the oldest kept turn).
        min_item_tokens: a truncated item shorter than this is dropped instead.
    """

    passages: Literal["drop_lowest", "truncate"] = "drop_lowest"
    tools: Literal["truncate", "drop_oldest"] = "truncate"
    conversation: Literal["summarise_oldest", "drop_oldest", "truncate"] = "summarise_oldest"
    min_item_tokens: int = 16


class ContextBudgetError(UserError):
    """The budget cannot hold even the parts of the context that are never cut."""
