"""Spec entries under ``retrievers:`` and ``tools:``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from compound.specfile import SpecModel


class ChunkingSpec(SpecModel):
    """How documents are cut into chunks (see :mod:`compound.orchestration.ingest`)."""

    strategy: Literal["tokens", "headings", "none"] = "tokens"
    size: int = Field(default=256, gt=0, description="words per chunk")
    overlap: int = Field(default=32, ge=0, description="words shared by consecutive chunks")
    max_document_mb: float = Field(
        default=10.0, gt=0, description="larger files (or JSONL lines) are skipped, reported"
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingSpec:
        if self.overlap >= self.size:
            raise ValueError(
                f"overlap ({self.overlap}) must be smaller than size ({self.size})"
            )
        return self


class FusionSpec(SpecModel):
    """How a hybrid retriever merges BM25 and dense candidates."""

    method: Literal["weighted", "rrf"] = Field(
        default="weighted", description="min-max weighted scores, or reciprocal rank fusion"
    )
    weights: dict[Literal["lexical", "dense"], float] = Field(default_factory=dict)
    candidates: int = Field(default=100, gt=0, description="hits each side contributes")
    rrf_k: int = Field(default=60, ge=0)

    @field_validator("weights")
    @classmethod
    def _weights_valid(cls, value: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in value.values()):
            raise ValueError("weights must be 0 or more")
        if value and len(value) == 2 and not any(w > 0 for w in value.values()):
            raise ValueError("at least one weight must be above 0")
        return value


class BM25Spec(SpecModel):
    """BM25 settings."""

    method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"
    k1: float = Field(default=1.5, ge=0)
    b: float = Field(default=0.75, ge=0, le=1)
    stemmer: str | None = Field(default="english", description="a Snowball language, or null")
    stopwords: Literal["en"] | None = "en"


class RerankerSpec(SpecModel):
    """An optional second stage that reorders the first candidates."""

    kind: Literal["llm", "cross_encoder", "overlap"]
    model: str | None = Field(default=None, description="for kind llm: a name under 'models'")
    model_path: str | None = Field(default=None, description="for cross_encoder: the ONNX file")
    tokenizer_path: str | None = Field(default=None, description="for cross_encoder")
    candidates: int = Field(default=20, gt=0, description="first-stage hits it reorders")

    @model_validator(mode="after")
    def _needs(self) -> RerankerSpec:
        if self.kind == "llm" and not self.model:
            raise ValueError("an llm reranker needs 'model': the name of an LLM under 'models'")
        if self.kind == "cross_encoder" and not (self.model_path and self.tokenizer_path):
            raise ValueError(
                "a cross_encoder reranker needs 'model_path' (ONNX) and 'tokenizer_path'"
            )
        return self


class QdrantSpec(SpecModel):
    """Where the vectors live on the scale path: a server URL, or a local-mode folder."""

    url: str | None = Field(default=None, description="e.g. http://localhost:6333")
    path: str | None = Field(default=None, description="local mode: a folder, or ':memory:'")
    collection: str | None = Field(default=None, description="default: the retriever's name")
    api_key_env: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> QdrantSpec:
        if (self.url is None) == (self.path is None):
            raise ValueError("set exactly one of 'url' (a server) or 'path' (local mode)")
        return self


class RetrieverSpec(SpecModel):
    """A retriever over a document collection: lexical, dense or hybrid.

    Example (in ``compound.yaml``)::

        retrievers:
          docs:
            kind: hybrid
            documents: [docs/]
            top_k: 5
            chunking: {strategy: headings, size: 200, overlap: 20}
            fusion: {method: weighted, weights: {lexical: 0.5, dense: 0.5}}
            filters: {lang: en}
    """

    kind: str = Field(default="hybrid", description="bm25, dense, hybrid, or a kind a package "
                      "registers under compound.retrievers (it gets BM25 and the embedder)")
    documents: list[str] = Field(default_factory=list, description="files or folders to ingest")
    top_k: int = Field(default=5, gt=0)
    embedder: str | None = Field(
        default=None, description="the embedder for dense and hybrid: minilm (the default), "
        "fake, or one a package registers under compound.embedders"
    )
    embedder_options: dict[str, Any] = Field(
        default_factory=dict, description="max_tokens, batch_size, threads, quantize..."
    )
    chunking: ChunkingSpec = Field(default_factory=ChunkingSpec)
    long_text: Literal["cut", "windows"] = Field(
        default="windows", description="a chunk longer than the embedder's window: cut (one "
        "vector, of its start) or windows (one vector per overlapping window, the chunk "
        "scored by its best; embedder_options.stride sets the overlap)"
    )
    fusion: FusionSpec = Field(default_factory=FusionSpec)
    bm25: BM25Spec = Field(default_factory=BM25Spec)
    filters: dict[str, Any] = Field(
        default_factory=dict, description="metadata conditions applied to every search"
    )
    reranker: RerankerSpec | None = None
    index: str | None = Field(
        default=None, description="index folder; default indexes/<name> next to the store"
    )
    backend: Literal["embedded", "qdrant"] = "embedded"
    qdrant: QdrantSpec | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    description: str = ""

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        return _registered_name("compound.retrievers", "retriever kind", value)

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, value: str | None) -> str | None:
        return None if value is None else _registered_name("compound.embedders", "embedder",
                                                           value)

    @field_validator("filters")
    @classmethod
    def _filters_parse(cls, value: dict[str, Any]) -> dict[str, Any]:
        from compound.errors import UserError
        from compound.orchestration.retrieval.filters import Filter

        try:
            Filter.parse(value)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _backend_settings(self) -> RetrieverSpec:
        if self.backend == "qdrant" and self.qdrant is None:
            raise ValueError(
                "backend 'qdrant' needs a 'qdrant' section with 'url' (or 'path' for local mode)"
            )
        if self.backend == "qdrant" and self.kind == "bm25":
            raise ValueError("backend 'qdrant' holds vectors; a bm25 retriever has none")
        return self

    def model_refs(self) -> list[str]:
        """Names of models this retriever uses, checked against ``models:``."""
        if self.reranker is not None and self.reranker.kind == "llm" and self.reranker.model:
            return [self.reranker.model]
        return []


class ToolSpec(SpecModel):
    """A Python function exposed to models as a typed tool."""

    function: str = Field(pattern=r"^[\w.]+:[\w.]+$", description="'module:function'")
    side_effects: bool = Field(
        default=False, description="must be true for a tool that changes the world"
    )
    timeout_s: float = Field(default=30.0, gt=0)
    description: str = ""


class McpServerSpec(SpecModel):
    """An MCP server whose tools models may call: a command started over stdio, or a URL
    (streamable HTTP). The command is an argv list, run without a shell.

    Example (in ``compound.yaml``)::

        mcp_servers:
          files:
            command: [npx, -y, "@modelcontextprotocol/server-filesystem", ./data]
            tools: [read_file, list_directory]
    """

    command: list[str] | None = Field(
        default=None, min_length=1, description="argv of a server spoken to over stdio")
    url: str | None = Field(default=None, pattern=r"^https?://",
                            description="a streamable HTTP endpoint, e.g. http://host:8000/mcp")
    env: dict[str, str] = Field(default_factory=dict,
                                description="environment variables set for the command")
    pass_env: list[str] = Field(
        default_factory=list, description="names of compound's own environment variables "
        "handed to the command (it gets only a minimal environment otherwise)")
    cwd: str | None = Field(default=None, description="the command's folder, relative to the "
                            "spec's; default: the spec's folder")
    headers: dict[str, str] = Field(default_factory=dict, description="HTTP headers sent to url")
    headers_env: dict[str, str] = Field(
        default_factory=dict, description="HTTP header -> the environment variable holding "
        "its value (for secrets, e.g. Authorization: SEARCH_TOKEN)")
    tools: list[str] | None = Field(
        default=None, description="the server's tools offered to models; default: all")
    side_effects: bool | list[str] = Field(
        default=False, description="true, or the tools that change the world")
    prefix: str = Field(default="", pattern=r"^[A-Za-z0-9_-]*$",
                        description="put before each tool's name as models see it")
    timeout_s: float = Field(default=30.0, gt=0, description="the longest one call may take")
    connect_timeout_s: float = Field(default=20.0, gt=0,
                                     description="the longest starting and connecting may take")
    max_output_chars: int = Field(default=100_000, gt=0,
                                  description="a longer answer is cut, and the model told so")

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("set exactly one of 'command' (an argv list, spoken to over "
                             "stdio) or 'url' (streamable HTTP)")
        if self.command is None and (self.env or self.pass_env or self.cwd):
            raise ValueError("'env', 'pass_env' and 'cwd' are for a 'command'; a 'url' "
                             "server takes 'headers' and 'headers_env'")
        if self.url is None and (self.headers or self.headers_env):
            raise ValueError("'headers' and 'headers_env' are for a 'url' server")
        listed = self.side_effects if isinstance(self.side_effects, list) else []
        if self.tools is not None and listed:
            unknown = sorted(set(listed) - set(self.tools))
            if unknown:
                raise ValueError(f"side_effects names {unknown}, which are not in 'tools'")
        return self

    def has_side_effects(self, tool: str) -> bool:
        """Whether the spec says ``tool`` changes the world."""
        if isinstance(self.side_effects, bool):
            return self.side_effects
        return tool in self.side_effects


def _registered_name(group: str, what: str, value: str) -> str:
    from compound.plugins import registered
    from compound.specfile import did_you_mean

    names = registered(group)
    if value not in names:
        raise ValueError(f"unknown {what} '{value}'{did_you_mean(value, names)}; "
                         f"available: {', '.join(sorted(names))}")
    return value
