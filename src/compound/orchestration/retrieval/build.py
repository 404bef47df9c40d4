"""From a spec's ``retrievers:`` entry to an index and a retriever.

Example:
    >>> from compound.system import System
    >>> system = System.from_yaml('''
    ... name: demo
    ... loop: interaction
    ... task: Answer from the docs.
    ... retrievers:
    ...   docs: {kind: bm25, documents: [docs/]}
    ... ''')
    >>> type(build_retriever(system, "docs")).__name__
    'LexicalRetriever'
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.orchestration.chunking import ChunkSettings
from compound.orchestration.retrieval.index import DocumentIndex
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
from compound.plugins import load
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.intelligence.embedders import Embedder
    from compound.orchestration.spec import RetrieverSpec
    from compound.system import System

#: retriever kinds: functions ``(index, spec, **common) -> Retriever``, the built-ins in
#: :data:`compound.plugins.BUILTINS`
GROUP = "compound.retrievers"


def retriever_spec(system: System, name: str) -> RetrieverSpec:
    """The spec entry ``name``, or a :class:`UserError` listing the declared ones."""
    if name not in system.retrievers:
        declared = ", ".join(system.retrievers) or "none"
        raise UserError(
            f"system '{system.name}' has no retriever '{name}'"
            f"{did_you_mean(name, system.retrievers)}; declared retrievers: {declared}"
        )
    return system.retrievers[name]


def index_folder(system: System, name: str) -> Path:
    """The index folder: the spec's ``index``, else ``indexes/<name>`` next to the store."""
    spec = retriever_spec(system, name)
    if spec.index:
        return system.resolve_path(spec.index)
    return system.store_path().parent / "indexes" / name


def make_spec_embedder(spec: RetrieverSpec) -> Embedder | None:
    """The embedder a retriever spec asks for (None for BM25 alone)."""
    if spec.kind == "bm25":
        return None
    from compound.intelligence.embedders import make_embedder

    return make_embedder(spec.embedder or "minilm", **spec.embedder_options)


def open_index(system: System, name: str, *, embedder: Embedder | None = None) -> DocumentIndex:
    """The (unopened) :class:`DocumentIndex` of retriever ``name``.

    Args:
        system: the spec.
        name: a key under ``retrievers:``.
        embedder: overrides the spec's embedder (tests pass a fake).
    """
    spec = retriever_spec(system, name)
    vectors = None
    if spec.backend == "qdrant" and spec.qdrant is not None:
        from compound.orchestration.retrieval.qdrant import QdrantVectorIndex

        path = spec.qdrant.path
        if path is not None and path != ":memory:":
            path = str(system.resolve_path(path))
        vectors = QdrantVectorIndex(
            collection=spec.qdrant.collection or f"{system.name}-{name}",
            url=spec.qdrant.url, path=path, api_key_env=spec.qdrant.api_key_env,
        )
    chunking = spec.chunking
    return DocumentIndex(
        index_folder(system, name),
        embedder=embedder if embedder is not None else make_spec_embedder(spec),
        lexical=spec.kind != "dense",
        vectors=vectors,
        chunking=ChunkSettings(
            strategy=chunking.strategy, size=chunking.size, overlap=chunking.overlap
        ),
        lexical_options=spec.bm25.model_dump(),
        long_text=spec.long_text,
    )


def build_retriever(
    system: System,
    name: str,
    *,
    index: DocumentIndex | None = None,
    llm_factory: Callable[[str], Any] | None = None,
) -> Retriever:
    """The retriever component for ``retrievers.<name>``.

    Args:
        system: the spec.
        name: a key under ``retrievers:``.
        index: an index to use instead of :func:`open_index` (tests, shared indexes).
        llm_factory: builds the LLM named by an ``llm`` reranker; default builds it from the
            spec's ``models:`` entry.
    """
    spec = retriever_spec(system, name)
    index = index if index is not None else open_index(system, name)
    common: dict[str, Any] = {
        "top_k": spec.top_k,
        "filters": spec.filters,
        "reranker": _reranker(system, spec, llm_factory),
        "rerank_candidates": spec.reranker.candidates if spec.reranker else 20,
    }
    make = load(GROUP, spec.kind)
    retriever: Retriever = make(index, spec, **common)
    return retriever


def lexical_retriever(index: DocumentIndex, spec: RetrieverSpec, **common: Any) -> Retriever:
    """``kind: bm25``."""
    return LexicalRetriever(index, **common)


def dense_retriever(index: DocumentIndex, spec: RetrieverSpec, **common: Any) -> Retriever:
    """``kind: dense``."""
    return DenseRetriever(index, **common)


def hybrid_retriever(index: DocumentIndex, spec: RetrieverSpec, **common: Any) -> Retriever:
    """``kind: hybrid``: BM25 and dense fused as ``fusion:`` says."""
    return HybridRetriever(
        index, fusion=spec.fusion.method, weights=dict(spec.fusion.weights),
        candidates=spec.fusion.candidates, rrf_k=spec.fusion.rrf_k, **common,
    )


def _reranker(
    system: System, spec: RetrieverSpec, llm_factory: Callable[[str], Any] | None
) -> Reranker | None:
    if spec.reranker is None:
        return None
    if spec.reranker.kind == "overlap":
        return OverlapReranker()
    if spec.reranker.kind == "cross_encoder":
        assert spec.reranker.model_path and spec.reranker.tokenizer_path
        return CrossEncoderReranker(
            model_path=system.resolve_path(spec.reranker.model_path),
            tokenizer_path=system.resolve_path(spec.reranker.tokenizer_path),
        )
    model = spec.reranker.model or ""
    if llm_factory is not None:
        return LLMReranker(llm_factory(model))
    from compound.intelligence.llm.factory import build_llm

    llms = system.llms()
    if model not in llms:
        raise UserError(f"the reranker's model '{model}' is not an LLM under 'models'")
    return LLMReranker(build_llm(llms[model]))
