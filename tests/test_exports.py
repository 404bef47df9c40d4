"""The public surface is deliberate: nothing becomes public by accident.

The public names are written out below, on purpose (as httpx's ``tests/test_exported_members.py``
does): a name added to a package's ``__all__``, or a helper left in its namespace, fails here
until it is added to this file, where a reviewer sees it. Each package checked is one whose
``__init__`` declares ``__all__``; the others (``compound.cli``, ``compound.scaffolds``, the
dashboard, the bare step folders) are not import surfaces.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import subprocess
import sys
import types
from pathlib import Path

import pytest

import compound

SURFACES: dict[str, set[str]] = {
    "compound": {
        "__version__", "Agent", "AgentResult", "app_from_system", "Budget", "build_llm",
        "CachedLLM", "Completion", "CompoundError", "ConfidenceRouter", "create_app", "Criterion",
        "Ensemble", "FallbackChain", "FeedbackClient", "Guard", "GuardResult", "LearnedRouter",
        "LLM", "LLMCache", "LLMError", "Loop", "MemoryStore", "Message", "open_store",
        "ReviewQueue", "RuleRouter", "RunContext", "RunResult", "RuntimeFailure", "ScriptedLLM",
        "Session", "SpecError", "SQLiteStore", "Step", "Store", "System", "TextDelta", "Tool",
        "tool", "ToolCall", "ToolDefinition", "ToolResult", "Tracer", "TraceRedactor", "UserError",
        "Verdict", "WiringError", "Workflow",
    },
    "compound.datafetch": {
        "ChecksumMismatch", "ConversionFailed", "Entry", "fetch", "FetchFailed", "FetchResult",
        "is_present", "MANIFEST", "MIRROR_ENV", "Output", "resolve_names", "Source",
    },
    "compound.design_review": {"Finding", "review", "Review", "Rule", "RULES"},
    "compound.evaluation": {
        "bootstrap", "check_gate", "cohen_kappa", "compare_pairwise", "Dataset",
        "dataset_from_stream", "dataset_from_traces", "DatasetRegistry", "EvalPlan", "EvalReport",
        "EvalRunner", "EvalSpec", "Example", "FunctionTarget", "get_metric", "LLMTarget", "Metric",
        "metric", "OutputCache", "PairwiseJudge", "plan_eval", "RowResult", "RubricJudge",
        "RunRepository", "RunSummary", "Score", "Target", "TargetOutput", "write_report",
    },
    "compound.evaluation.judges": {
        "cohen_kappa", "compare_pairwise", "judge_agreement", "JudgeAgreement", "PairwiseJudge",
        "PairwiseResult", "PairwiseVerdict", "RubricJudge", "Verdict",
    },
    "compound.metrics": {
        "available_metrics", "BoundMetric", "get_metric", "Metric", "metric",
        "metric_from_function", "Score",
    },
    "compound.evaluation.report": {
        "EvalReport", "render_report", "write_report",
    },
    "compound.evaluation.suites": {
        "perturb", "run_suite",
    },
    "compound.intelligence.embedders": {
        "CachedEmbedder", "Embedder", "EMBEDDERS", "EmbeddingCache", "FakeEmbedder",
        "make_embedder", "normalise", "OnnxEmbedder", "ProgressCallback", "text_hash",
    },
    "compound.intelligence.llm": {
        "build_llm", "Completion", "ContextOverflow", "GenerationParams", "InvalidResponse", "LLM",
        "LLMError", "LLMTimeout", "Message", "MissingCredentials", "ProviderUnavailable",
        "RateLimited", "RawResult", "ScriptedLLM", "StreamEvent", "TextDelta", "ToolCall",
        "ToolDefinition", "Usage", "WrappedLLM",
    },
    "compound.intelligence.ml": {
        "Contribution", "NotExplainable", "Prediction", "Predictor", "ScriptedPredictor",
        "train", "TrainResult",
    },
    "compound.intelligence.ml.learners": {
        "FitProgress", "Learner", "learner_class", "no_progress", "softmax",
    },
    "compound.orchestration.context": {
        "approx_tokens", "Citation", "Context", "ContextBudgetError", "ContextBuilder",
        "ContextPolicy", "Dropped", "first_sentences", "Passage", "Section", "Summariser",
        "Template", "TemplateError", "TemplateValueError", "TokenCounter", "ToolResult",
        "truncate_to_tokens", "Turn",
    },
    "compound.orchestration.retrieval": {
        "build_retriever", "Chunk", "ChunkSettings", "CrossEncoderReranker", "DenseRetriever",
        "Document", "DocumentIndex", "Filter", "Hit", "HybridRetriever", "IngestProblem",
        "IngestReport", "LexicalRetriever", "LLMReranker", "NumpyVectorIndex", "open_index",
        "OverlapReranker", "reciprocal_rank_fusion", "Reranker", "Retriever", "SearchResult",
        "VectorEntry", "VectorIndex", "weighted_score_fusion",
    },
    "compound.privacy": {
        "apply_redactions", "ENTITIES", "error_ref", "error_text", "ErrorRef", "find_entities",
        "find_secrets", "log_errors_to", "redact_secrets", "redact_text", "Redaction",
        "RedactionSpec", "Redactor", "safe_error",
    },
    "compound.production.feedback": {
        "CommentSignal", "CorrectionSignal", "EditSignal", "FeedbackClient", "FeedbackLog",
        "FeedbackRejected", "KINDS", "parse_signal", "RatingSignal", "RetrySignal", "Signal",
        "SuggestionSignal", "ThumbsSignal", "UnknownRun",
    },
    "compound.production.rails": {
        "Action", "apply_redactions", "BaseRail", "build_rail", "Classifier", "find_entities",
        "find_secrets", "FixedClassifier", "GroundednessRail", "Guard", "guarded_run",
        "GuardedRun", "GuardedStream", "GuardResult", "InjectionRail", "LLMNameFinder",
        "ModelClassifier", "NameFinder", "normalize", "PIIRail", "Rail", "RailInput",
        "RailRequest", "redact_secrets", "RedactingSink", "Redaction", "SchemaRail",
        "SecretsLogFilter", "SecretsRail", "Topic", "TopicRail", "TraceRedactor",
        "train_classifier", "Verdict",
    },
    "compound.production.serving": {
        "ApiKeys", "app_from_system", "AsyncBatcher", "create_app", "LLMQueue", "serve",
        "ServedLLM", "WorkflowRunner",
    },
    "compound.store": {
        "JSON", "MemoryStore", "open_store", "Record", "RedactingStore", "SQLiteStore", "Store",
    },
    "compound.strategy": {
        "Answer", "Attempt", "Backoff", "BestOfN", "BudgetExceeded", "CachedLLM",
        "calibrate_threshold", "Calibration", "calibration_svg", "ChainOption", "ChainResult",
        "complete_many", "ConfidenceRouter", "Ensemble", "ExactCache", "FallbackChain",
        "FallbackExhausted", "FallbackNotice", "FunctionHandler", "Handler", "LearnedRouter",
        "LLMCache", "LLMHandler", "MicroBatcher", "PeriodBudget", "PredictorHandler",
        "ReviewHandler", "ReviewItem", "ReviewQueue", "Routed", "RouteDecision",
        "routing_examples", "RuleRouter", "SemanticCache", "StrategyBuilder", "StrategySpec",
        "threshold_curve", "ThresholdPoint",
    },
    "compound.strategy.cache": {
        "cache_key", "CacheBackend", "CachedLLM", "CacheKey", "CacheOutcome", "CacheStats",
        "ExactCache", "Guard", "IntentGuard", "llm_cache_key", "LLMCache", "MemoryBackend",
        "NegationGuard", "NumbersGuard", "SemanticCache", "SemanticHit", "StoreBackend",
    },
    "compound.workflow": {
        "Agent", "AgentResult", "Budget", "build_workflow", "ListSink", "Loop", "replay", "resume",
        "RunContext", "RunResult", "Session", "start", "Step", "StepFailed", "StoreSink", "Tracer",
        "WiringError", "Workflow",
    },
}


def _packages_with_all() -> set[str]:
    root = Path(compound.__file__).parent
    return {
        ".".join(init.parent.relative_to(root.parent).parts)
        for init in root.rglob("__init__.py") if "__all__" in init.read_text(encoding="utf-8")
    }


def _difference(found: set[str], pinned: set[str]) -> str:
    return (f"not pinned here: {sorted(found - pinned)}; pinned but gone: {sorted(pinned - found)}"
            "; a public name is a decision: update SURFACES in tests/test_exports.py, or make the "
            "name private (a leading underscore, or 'import x as _x')")


def test_every_package_with_an_all_is_pinned() -> None:
    assert _packages_with_all() == set(SURFACES)


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_all_is_the_pinned_set(name: str) -> None:
    package = importlib.import_module(name)
    assert len(package.__all__) == len(set(package.__all__)), f"{name}.__all__ repeats a name"
    assert set(package.__all__) == SURFACES[name], _difference(set(package.__all__), SURFACES[name])


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_the_namespace_holds_only_the_pinned_names(name: str) -> None:
    """What ``vars(package)`` shows once every lazy name is resolved: the pinned names and the
    package's own submodules (importing one binds it there), no helper."""
    package = importlib.import_module(name)
    for public in package.__all__:
        getattr(package, public)
    found = {
        attribute for attribute, value in vars(package).items()
        if attribute.isidentifier()  # pytest's assertion rewriting adds '@py_builtins'
        and not attribute.startswith("_")
        and not (isinstance(value, types.ModuleType) and value.__name__ == f"{name}.{attribute}")
    }
    pinned = {public for public in SURFACES[name] if not public.startswith("_")}
    assert found == pinned, _difference(found, pinned)
    assert pinned <= set(dir(package))


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_each_name_is_the_object_not_a_submodule(name: str) -> None:
    """A lazily exported name that is also a submodule's name would turn into the module once
    something imported that submodule (``compound.evaluation.bootstrap`` did)."""
    package = importlib.import_module(name)
    for public in sorted(SURFACES[name]):
        if importlib.util.find_spec(f"{name}.{public}") is not None:
            importlib.import_module(f"{name}.{public}")
        value = getattr(package, public)
        assert not isinstance(value, types.ModuleType), f"{name}.{public} is a module"
        if inspect.isclass(value) or inspect.isfunction(value):  # typing: an alias (JSON)
            assert value.__module__.split(".")[0] in {"compound", "typing"}, (
                f"{name}.{public} is {value!r}, not compound's own")


@pytest.mark.parametrize("name", sorted(SURFACES))
def test_an_unknown_name_is_an_attribute_error(name: str) -> None:
    package = importlib.import_module(name)
    with pytest.raises(AttributeError, match="no_such_name"):
        package.no_such_name  # noqa: B018


def test_the_top_level_names_are_compound_objects() -> None:
    assert compound.__version__ == "0.1.0"
    assert compound.ScriptedLLM(["Paris."]).complete("Capital of France?").text == "Paris."
    assert compound.System.__module__ == "compound.system"


def test_import_compound_does_not_import_heavy_dependencies() -> None:
    code = (
        "import sys, compound; "
        "heavy = [m for m in ('llama_cpp', 'numpy', 'sklearn', 'onnxruntime', 'openai', "
        "'anthropic', 'typer') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
