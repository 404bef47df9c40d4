"""Spec entries under ``retrievers:`` and ``tools:``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from compound.specfile import SpecModel


class RetrieverSpec(SpecModel):
    """A retriever over a document collection: lexical, dense or hybrid."""

    kind: Literal["bm25", "dense", "hybrid"] = "hybrid"
    documents: list[str] = Field(default_factory=list, description="files or folders to ingest")
    top_k: int = Field(default=5, gt=0)
    embedder: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    description: str = ""

    def model_refs(self) -> list[str]:
        """Names of models this retriever uses, checked against ``models:``."""
        return []


class ToolSpec(SpecModel):
    """A Python function exposed to models as a typed tool."""

    function: str = Field(pattern=r"^[\w.]+:[\w.]+$", description="'module:function'")
    side_effects: bool = Field(
        default=False, description="must be true for a tool that changes the world"
    )
    timeout_s: float = Field(default=30.0, gt=0)
    description: str = ""
