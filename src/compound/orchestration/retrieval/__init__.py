"""Retrieval: a document index with BM25 and dense search, fusion, filters and reranking.

* :class:`DocumentIndex`: documents and chunks in SQLite (the source of truth), with a BM25
  index and a vector index derived from them; incremental and crash-consistent.
* :class:`LexicalRetriever`, :class:`DenseRetriever`, :class:`HybridRetriever`: components
  whose ``run(query)`` returns a :class:`SearchResult`.
* :class:`VectorIndex`: where vectors live: :class:`NumpyVectorIndex` embedded (default),
  :class:`~compound.orchestration.retrieval.qdrant.QdrantVectorIndex` at scale.
* :class:`Reranker`: an optional second stage (:class:`OverlapReranker`,
  :class:`LLMReranker`, :class:`CrossEncoderReranker`).
* :func:`build_retriever`: all of the above from a spec's ``retrievers:`` entry.

Example:
    >>> import tempfile
    >>> from compound.intelligence.embedders import FakeEmbedder
    >>> index = DocumentIndex(tempfile.mkdtemp(), embedder=FakeEmbedder())
    >>> _ = index.ingest([Document("d1", "Cats purr."), Document("d2", "Dogs bark.")])
    >>> [h.doc_id for h in HybridRetriever(index, top_k=2).run("purring cats").hits]
    ['d1', 'd2']
"""

from compound.orchestration.chunking import Chunk, ChunkSettings
from compound.orchestration.ingest import Document, IngestProblem
from compound.orchestration.retrieval.build import build_retriever, open_index
from compound.orchestration.retrieval.filters import Filter
from compound.orchestration.retrieval.fusion import reciprocal_rank_fusion, weighted_score_fusion
from compound.orchestration.retrieval.index import DocumentIndex, IngestReport
from compound.orchestration.retrieval.rerank import (
    CrossEncoderReranker,
    LLMReranker,
    OverlapReranker,
    Reranker,
)
from compound.orchestration.retrieval.retrievers import (
    DenseRetriever,
    HybridRetriever,
    LexicalRetriever,
    Retriever,
)
from compound.orchestration.retrieval.types import Hit, SearchResult
from compound.orchestration.retrieval.vectors import NumpyVectorIndex, VectorEntry, VectorIndex

__all__ = [
    "Chunk",
    "ChunkSettings",
    "CrossEncoderReranker",
    "DenseRetriever",
    "Document",
    "DocumentIndex",
    "Filter",
    "Hit",
    "HybridRetriever",
    "IngestProblem",
    "IngestReport",
    "LLMReranker",
    "LexicalRetriever",
    "NumpyVectorIndex",
    "OverlapReranker",
    "Reranker",
    "Retriever",
    "SearchResult",
    "VectorEntry",
    "VectorIndex",
    "build_retriever",
    "open_index",
    "reciprocal_rank_fusion",
    "weighted_score_fusion",
]
