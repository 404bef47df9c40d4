"""What retrieval returns: hits with their scores and sources, and notes on the search."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk.

    Attributes:
        chunk_id: ``"{doc_id}#{position}"``.
        doc_id: the document's id.
        text: the chunk's text.
        score: the score the results are ordered by (higher is better; its scale depends on
            the retriever: BM25, cosine, a fused score or a reranker's).
        rank: 1-based position in the results.
        title: the document's title.
        source: the file the document came from.
        heading: the section heading path, if chunked by headings.
        metadata: the document's metadata.
        scores: each stage's score, e.g. ``{"lexical": 12.1, "dense": 0.61, "fused": 0.9}``.
    """

    chunk_id: str
    doc_id: str
    text: str
    score: float
    rank: int = 0
    title: str = ""
    source: str = ""
    heading: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    scores: Mapping[str, float] = field(default_factory=dict)

    def with_score(self, score: float, stage: str, rank: int = 0) -> Hit:
        """A copy scored by another stage (the stage's score is added to ``scores``)."""
        return replace(self, score=score, rank=rank or self.rank,
                       scores={**self.scores, stage: score})


@dataclass(frozen=True)
class SearchResult:
    """The answer to one query.

    Attributes:
        query: the query as given.
        hits: best first.
        notes: things the user should know (the query was truncated to the model's window, a
            filter matched nothing, the index is empty).
        timings_ms: time of each stage (``lexical``, ``embed``, ``dense``, ``rerank``).
    """

    query: str
    hits: list[Hit]
    notes: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def doc_ids(self) -> list[str]:
        """Document ids in rank order, each once (a document's best chunk counts)."""
        return list(dict.fromkeys(hit.doc_id for hit in self.hits))
