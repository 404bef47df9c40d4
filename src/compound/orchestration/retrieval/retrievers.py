"""Retrievers: components whose ``run(query)`` returns ranked hits from a document index.

* :class:`LexicalRetriever`: BM25.
* :class:`DenseRetriever`: cosine similarity of embeddings.
* :class:`HybridRetriever`: both, fused by weighted min-max scores (default) or reciprocal
  rank fusion.

Each takes default filters and an optional reranking stage; ``run`` may add filters and
change ``top_k`` per call. A query longer than the embedder's window is truncated and the
result says so in ``notes``.

Example:
    >>> import tempfile
    >>> from compound.intelligence.embedders import FakeEmbedder
    >>> from compound.orchestration.ingest import Document
    >>> from compound.orchestration.retrieval.index import DocumentIndex
    >>> index = DocumentIndex(tempfile.mkdtemp(), embedder=FakeEmbedder())
    >>> _ = index.ingest([Document("cats", "Cats purr when content."),
    ...                   Document("tax", "Tax law changed in 1990.")])
    >>> HybridRetriever(index, top_k=1).run("why do cats purr").hits[0].doc_id
    'cats'
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from compound.errors import UserError
from compound.intelligence.embedders import Embedder
from compound.orchestration.retrieval.filters import Filter
from compound.orchestration.retrieval.fusion import reciprocal_rank_fusion, weighted_score_fusion
from compound.orchestration.retrieval.index import DocumentIndex
from compound.orchestration.retrieval.rerank import Reranker
from compound.orchestration.retrieval.types import Hit, SearchResult

FilterLike = Filter | Mapping[str, Any] | None


@dataclass
class _Ranking:
    ranked: list[tuple[str, float]]
    stages: dict[str, dict[str, float]]
    notes: list[str]
    timings_ms: dict[str, float]


class Retriever(abc.ABC):
    """Search over a :class:`DocumentIndex`.

    Args:
        index: the index to search.
        top_k: hits returned when a call does not say.
        filters: applied to every search (a call's filters are added to them).
        reranker: reorders the first ``rerank_candidates`` hits.
        rerank_candidates: how many first-stage hits the reranker sees.
    """

    stage = "retriever"

    def __init__(
        self,
        index: DocumentIndex,
        *,
        top_k: int = 5,
        filters: FilterLike = None,
        reranker: Reranker | None = None,
        rerank_candidates: int = 20,
    ) -> None:
        if top_k < 1:
            raise UserError(f"top_k must be at least 1; received {top_k}")
        self.index = index
        self.top_k = top_k
        self.filters = Filter.parse(filters)
        self.reranker = reranker
        self.rerank_candidates = rerank_candidates

    def load(self) -> None:
        """Open the index (and the embedder on first query)."""
        self.index.open()

    @abc.abstractmethod
    def _rank(self, query: str, k: int, where: Filter) -> _Ranking:
        """The best ``k`` chunk ids with scores, and each stage's scores."""

    def run(self, query: str, *, top_k: int | None = None, filters: FilterLike = None
            ) -> SearchResult:
        """Search.

        Args:
            query: what to look for.
            top_k: how many hits; default the retriever's ``top_k``.
            filters: metadata conditions added to the retriever's own.

        Returns:
            Hits best first, with notes (empty query, truncated query, filter matched
            nothing) and per-stage timings.

        Raises:
            UserError: ``query`` is not a string or ``top_k`` is below 1.
        """
        if not isinstance(query, str):
            raise UserError(f"a query must be a string; received {type(query).__name__}")
        k = self.top_k if top_k is None else top_k
        if k < 1:
            raise UserError(f"top_k must be at least 1; received {k}")
        if not query.strip():
            return SearchResult(query, [], notes=["the query is empty; nothing to search for"])
        self.load()
        where = Filter(self.filters.conditions + Filter.parse(filters).conditions)
        wanted = max(k, self.rerank_candidates) if self.reranker else k
        ranking = self._rank(query, wanted, where)
        hits = self._hits(ranking)
        if self.reranker is not None:
            start = time.perf_counter()
            hits = self.reranker.rerank(query, hits)
            ranking.timings_ms["rerank"] = (time.perf_counter() - start) * 1000
        if not hits and where:
            ranking.notes.append("no chunk matched the filters")
        return SearchResult(query, hits[:k], ranking.notes, ranking.timings_ms)

    def _hits(self, ranking: _Ranking) -> list[Hit]:
        chunks = self.index.chunks([chunk_id for chunk_id, _ in ranking.ranked])
        hits = []
        for chunk_id, score in ranking.ranked:
            chunk = chunks.get(chunk_id)
            if chunk is None:  # deleted by another process since the search
                continue
            hits.append(Hit(
                chunk_id=chunk_id, doc_id=chunk.doc_id, text=chunk.text, score=score,
                rank=len(hits) + 1, title=chunk.title, source=chunk.source,
                heading=chunk.heading, metadata=chunk.metadata,
                scores={stage: s[chunk_id] for stage, s in ranking.stages.items()
                        if chunk_id in s},
            ))
        return hits


class LexicalRetriever(Retriever):
    """BM25 over the index's chunks."""

    stage = "lexical"

    def _rank(self, query: str, k: int, where: Filter) -> _Ranking:
        start = time.perf_counter()
        ranked = self.index.lexical_search(query, k, where)
        return _Ranking(ranked, {"lexical": dict(ranked)}, [],
                        {"lexical": (time.perf_counter() - start) * 1000})


class DenseRetriever(Retriever):
    """Cosine similarity between the query's embedding and the chunks'."""

    stage = "dense"

    @property
    def embedder(self) -> Embedder:
        if self.index.embedder is None:
            raise UserError(
                "this index has no embedder, so it cannot search by meaning; set the "
                "retriever's 'embedder', or use kind: bm25"
            )
        return self.index.embedder

    def _embed_query(self, query: str, notes: list[str], timings: dict[str, float]) -> Any:
        start = time.perf_counter()
        vector = self.embedder.embed([query])[0]  # not cached: searching writes nothing
        limit = self.embedder.max_tokens
        if limit is not None:
            tokens = self.embedder.count_tokens(query)
            if tokens > limit:
                notes.append(
                    f"the query has {tokens} tokens; the embedder reads the first {limit} "
                    "(shorten it, or rely on BM25 for the rest)"
                )
        timings["embed"] = (time.perf_counter() - start) * 1000
        return vector

    def _rank(self, query: str, k: int, where: Filter) -> _Ranking:
        notes: list[str] = []
        timings: dict[str, float] = {}
        vector = self._embed_query(query, notes, timings)
        start = time.perf_counter()
        ranked = self.index.vector_search(vector, k, where)
        timings["dense"] = (time.perf_counter() - start) * 1000
        return _Ranking(ranked, {"dense": dict(ranked)}, notes, timings)


class HybridRetriever(DenseRetriever):
    """BM25 and dense candidates fused into one ranking.

    Args:
        index: an index with both BM25 and an embedder.
        fusion: ``weighted`` (min-max normalised scores) or ``rrf`` (reciprocal ranks).
        weights: ``{"lexical": w, "dense": w}``; 1 each when absent.
        candidates: how many hits each side contributes before fusion.
        rrf_k: the RRF damping constant.
        **options: see :class:`Retriever`.
    """

    stage = "fused"

    def __init__(
        self,
        index: DocumentIndex,
        *,
        fusion: Literal["weighted", "rrf"] = "weighted",
        weights: Mapping[str, float] | None = None,
        candidates: int = 100,
        rrf_k: int = 60,
        **options: Any,
    ) -> None:
        super().__init__(index, **options)
        if fusion not in ("weighted", "rrf"):
            raise UserError(f"fusion must be 'weighted' or 'rrf'; received {fusion!r}")
        self.fusion = fusion
        self.weights = dict(weights or {})
        self.candidates = candidates
        self.rrf_k = rrf_k

    def _rank(self, query: str, k: int, where: Filter) -> _Ranking:
        notes: list[str] = []
        timings: dict[str, float] = {}
        pool = max(k, self.candidates)
        start = time.perf_counter()
        lexical = self.index.lexical_search(query, pool, where)
        timings["lexical"] = (time.perf_counter() - start) * 1000
        vector = self._embed_query(query, notes, timings)
        start = time.perf_counter()
        dense = self.index.vector_search(vector, pool, where)
        timings["dense"] = (time.perf_counter() - start) * 1000
        lists = {"lexical": lexical, "dense": dense}
        if self.fusion == "rrf":
            fused = reciprocal_rank_fusion(lists, k=self.rrf_k, weights=self.weights)
        else:
            fused = weighted_score_fusion(lists, weights=self.weights)
        stages = {"lexical": dict(lexical), "dense": dict(dense), "fused": dict(fused[:k])}
        return _Ranking(fused[:k], stages, notes, timings)
