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

import typing as _typing

from compound.lazy import attach as _attach
from compound.version import __version__

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
    "Workflow": "compound.workflow",
    "Step": "compound.workflow",
    "Loop": "compound.workflow",
    "RunContext": "compound.workflow",
    "Budget": "compound.workflow",
    "RunResult": "compound.workflow",
    "Agent": "compound.workflow",
    "AgentResult": "compound.workflow",
    "Session": "compound.workflow",
    "Tracer": "compound.workflow",
    "WiringError": "compound.workflow",
    "Tool": "compound.orchestration.tools",
    "ToolResult": "compound.orchestration.tools",
    "tool": "compound.orchestration.tools",
    "Guard": "compound.production.rails",
    "GuardResult": "compound.production.rails",
    "Verdict": "compound.production.rails",
    "TraceRedactor": "compound.production.rails",
    "ConfidenceRouter": "compound.strategy",
    "RuleRouter": "compound.strategy",
    "LearnedRouter": "compound.strategy",
    "FallbackChain": "compound.strategy",
    "Ensemble": "compound.strategy",
    "ReviewQueue": "compound.strategy",
    "CachedLLM": "compound.strategy",
    "LLMCache": "compound.strategy",
    "create_app": "compound.production.serving",
    "app_from_system": "compound.production.serving",
    "FeedbackClient": "compound.production.feedback",
}

__all__ = [
    "LLM",
    "Agent",
    "AgentResult",
    "Budget",
    "CachedLLM",
    "Completion",
    "CompoundError",
    "ConfidenceRouter",
    "Criterion",
    "Ensemble",
    "FallbackChain",
    "FeedbackClient",
    "Guard",
    "GuardResult",
    "LLMCache",
    "LLMError",
    "LearnedRouter",
    "Loop",
    "MemoryStore",
    "Message",
    "ReviewQueue",
    "RuleRouter",
    "RunContext",
    "RunResult",
    "RuntimeFailure",
    "SQLiteStore",
    "ScriptedLLM",
    "Session",
    "SpecError",
    "Step",
    "Store",
    "System",
    "TextDelta",
    "Tool",
    "ToolCall",
    "ToolDefinition",
    "ToolResult",
    "TraceRedactor",
    "Tracer",
    "UserError",
    "Verdict",
    "WiringError",
    "Workflow",
    "__version__",
    "app_from_system",
    "build_llm",
    "create_app",
    "open_store",
    "tool",
]

if _typing.TYPE_CHECKING:
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
    from compound.orchestration.tools import Tool, ToolResult, tool
    from compound.production.feedback import FeedbackClient
    from compound.production.rails import Guard, GuardResult, TraceRedactor, Verdict
    from compound.production.serving import app_from_system, create_app
    from compound.store import MemoryStore, SQLiteStore, Store, open_store
    from compound.strategy import (
        CachedLLM,
        ConfidenceRouter,
        Ensemble,
        FallbackChain,
        LearnedRouter,
        LLMCache,
        ReviewQueue,
        RuleRouter,
    )
    from compound.system import Criterion, System
    from compound.workflow import (
        Agent,
        AgentResult,
        Budget,
        Loop,
        RunContext,
        RunResult,
        Session,
        Step,
        Tracer,
        WiringError,
        Workflow,
    )


__getattr__, __dir__ = _attach(__name__, _EXPORTS)
