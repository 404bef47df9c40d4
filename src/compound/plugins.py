"""One extension mechanism for built-ins and third parties alike: entry points.

A plugin registers under a group (``compound.providers``, ``compound.metrics``, ...) with
``name = "module:attribute"``. compound's own built-ins are declared in its `pyproject.toml`
the same way; :data:`BUILTINS` repeats them so that a source checkout that was never installed
still finds them.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from compound.errors import UserError
from compound.specfile import did_you_mean

BUILTINS: dict[str, dict[str, str]] = {
    "compound.steps": {
        "llm": "compound.workflow.adapters:llm_adapter",
        "tool": "compound.workflow.adapters:tool_adapter",
        "function": "compound.workflow.adapters:function_adapter",
        "rail": "compound.production.rails.steps:rail_step",
        "context": "compound.orchestration.context.step:context_step",
    },
    "compound.rails": {
        "injection": "compound.production.rails.injection:InjectionRail",
        "pii": "compound.production.rails.pii:PIIRail",
        "secrets": "compound.production.rails.secrets:SecretsRail",
        "topic": "compound.production.rails.topic:TopicRail",
        "schema": "compound.production.rails.structured:SchemaRail",
        "groundedness": "compound.production.rails.grounded:GroundednessRail",
    },
    "compound.providers": {
        "embedded": "compound.intelligence.llm.embedded:EmbeddedLLM",
        "openai": "compound.intelligence.llm.openai_compat:OpenAICompatibleLLM",
        "anthropic": "compound.intelligence.llm.anthropic:AnthropicLLM",
        "scripted": "compound.intelligence.llm.scripted:ScriptedLLM",
    },
    "compound.metrics": {
        "exact_match": "compound.evaluation.metrics.text:exact_match",
        "normalized_match": "compound.evaluation.metrics.text:normalized_match",
        "token_f1": "compound.evaluation.metrics.text:token_f1",
        "contains": "compound.evaluation.metrics.text:contains",
        "key_points": "compound.evaluation.metrics.text:key_points",
        "json_valid": "compound.evaluation.metrics.structured:json_valid",
        "field_accuracy": "compound.evaluation.metrics.structured:field_accuracy",
        "code_runs": "compound.evaluation.metrics.code:code_runs",
        "groundedness": "compound.evaluation.metrics.grounding:groundedness",
        "llm_judge": "compound.evaluation.metrics.judged:llm_judge",
        "latency_s": "compound.evaluation.metrics.operational:latency_s",
        "latency_ms": "compound.evaluation.metrics.operational:latency_ms",
        "cost_usd": "compound.evaluation.metrics.operational:cost_usd",
        "total_tokens": "compound.evaluation.metrics.operational:total_tokens",
        "accuracy": "compound.evaluation.metrics.corpus:accuracy",
        "macro_f1": "compound.evaluation.metrics.corpus:macro_f1",
        "mae": "compound.evaluation.metrics.corpus:mae",
        "rmse": "compound.evaluation.metrics.corpus:rmse",
        "r2": "compound.evaluation.metrics.corpus:r2",
        "recall": "compound.evaluation.metrics.corpus:recall",
        "precision": "compound.evaluation.metrics.corpus:precision",
    },
}


@cache
def registered(group: str) -> dict[str, str]:
    """Names and ``module:attribute`` targets registered under ``group``."""
    found = dict(BUILTINS.get(group, {}))
    for point in entry_points(group=group):
        found[point.name] = point.value
    return found


def load(group: str, name: str) -> Any:
    """Import the object registered as ``name`` under ``group``."""
    targets = registered(group)
    if name not in targets:
        raise UserError(
            f"no {group.split('.')[-1][:-1]} named '{name}'{did_you_mean(name, targets)}; "
            f"available: {', '.join(sorted(targets))}"
        )
    module_name, _, attribute = targets[name].partition(":")
    # security: built-ins and installed packages' entry points, never a name from a spec
    module = importlib.import_module(module_name)
    return getattr(module, attribute)
