"""LLMs behind one interface: embedded llama.cpp by default, OpenAI-compatible servers,
Anthropic, and a scripted fake for tests."""

from compound.intelligence.llm.base import LLM, RawResult
from compound.intelligence.llm.errors import (
    ContextOverflow,
    InvalidResponse,
    LLMError,
    LLMTimeout,
    MissingCredentials,
    ProviderUnavailable,
    RateLimited,
)
from compound.intelligence.llm.factory import build_llm
from compound.intelligence.llm.scripted import ScriptedLLM
from compound.intelligence.llm.types import (
    Completion,
    GenerationParams,
    Message,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolDefinition,
    Usage,
)
from compound.intelligence.llm.wrapped import WrappedLLM

__all__ = [
    "LLM",
    "Completion",
    "ContextOverflow",
    "GenerationParams",
    "InvalidResponse",
    "LLMError",
    "LLMTimeout",
    "Message",
    "MissingCredentials",
    "ProviderUnavailable",
    "RateLimited",
    "RawResult",
    "ScriptedLLM",
    "StreamEvent",
    "TextDelta",
    "ToolCall",
    "ToolDefinition",
    "Usage",
    "WrappedLLM",
    "build_llm",
]
