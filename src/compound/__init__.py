"""compound: deliver compound AI systems end to end.

ML models and LLMs composed, wired through an orchestration layer, evaluated, served,
monitored and improved from feedback, declared in one `compound.yaml`. Heavy parts (llama.cpp,
scikit-learn, onnxruntime) are imported only when used, so ``import compound`` stays fast.

Example:
    >>> import compound
    >>> llm = compound.ScriptedLLM(["Paris."])
    >>> llm.complete("What is the capital of France?").text
    'Paris.'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it; resolved on first access (PEP 562)
_EXPORTS: dict[str, str] = {
    "System": "compound.system",
    "Criterion": "compound.system",
    "CompoundError": "compound.errors",
    "UserError": "compound.errors",
    "SpecError": "compound.errors",
    "RuntimeFailure": "compound.errors",
    "Store": "compound.store",
    "SQLiteStore": "compound.store",
    "MemoryStore": "compound.store",
    "open_store": "compound.store",
    "LLM": "compound.intelligence.llm",
    "Message": "compound.intelligence.llm",
    "Completion": "compound.intelligence.llm",
    "TextDelta": "compound.intelligence.llm",
    "ToolCall": "compound.intelligence.llm",
    "ToolDefinition": "compound.intelligence.llm",
    "LLMError": "compound.intelligence.llm",
    "ScriptedLLM": "compound.intelligence.llm",
    "build_llm": "compound.intelligence.llm",
}

__all__ = [
    "LLM",
    "Completion",
    "CompoundError",
    "Criterion",
    "LLMError",
    "MemoryStore",
    "Message",
    "RuntimeFailure",
    "SQLiteStore",
    "ScriptedLLM",
    "SpecError",
    "Store",
    "System",
    "TextDelta",
    "ToolCall",
    "ToolDefinition",
    "UserError",
    "__version__",
    "build_llm",
    "open_store",
]

if TYPE_CHECKING:
    from compound.errors import CompoundError, RuntimeFailure, SpecError, UserError
    from compound.intelligence.llm import (
        LLM,
        Completion,
        LLMError,
        Message,
        ScriptedLLM,
        TextDelta,
        ToolCall,
        ToolDefinition,
        build_llm,
    )
    from compound.store import MemoryStore, SQLiteStore, Store, open_store
    from compound.system import Criterion, System


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'compound' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
