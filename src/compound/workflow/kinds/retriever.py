"""The workflow step adapter for ``retrievers:`` components.

Registered under the ``compound.steps`` entry point group as ``retriever`` (see
:mod:`compound.workflow.adapters`). A step that ``uses`` a retriever runs its
``run(query, top_k=None, filters=None) -> SearchResult``; steps using the same retriever share
one index (and one embedder) through ``request.shared``. Nothing is loaded until the first
query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from compound.orchestration.retrieval.build import build_retriever, open_index

if TYPE_CHECKING:
    from compound.orchestration.retrieval.retrievers import Retriever
    from compound.workflow.adapters import AdapterRequest


def retriever_step(request: AdapterRequest) -> Retriever:
    """The retriever component a step uses, built from its spec entry."""
    from compound.workflow.adapters import shared_llm

    key = f"retrieval-index:{request.component}"
    if key not in request.shared:
        request.shared[key] = open_index(request.system, request.component)
    index: Any = request.shared[key]
    return build_retriever(request.system, request.component, index=index,
                           llm_factory=lambda name: shared_llm(request, name))
