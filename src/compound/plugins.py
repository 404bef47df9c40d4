"""One extension mechanism for built-ins and third parties alike: named ``module:attribute``
targets in groups.

A group (``compound.providers``, ``compound.metrics``, ...) maps names to ``module:attribute``
targets; :func:`load` imports one with :func:`compound.code.references.resolve`, the loader
every reference in compound goes through. compound's own built-ins are the :data:`BUILTINS`
table below, the only place they are listed: an installed package and a source checkout read
them the same way, and compound's `pyproject.toml` declares no entry points in these groups.
A third party registers under the same groups with entry points in its own packaging::

    [project.entry-points."compound.metrics"]
    bleu = "mypkg.metrics:bleu"

A third party may add names; it may not replace a built-in. Entry points are found on
``sys.path``, and a spec's folder is on it while the system runs, so a ``*.dist-info`` shipped
in a downloaded folder could otherwise swap ``accuracy`` for a function that always scores 1.0,
or the ``scripted`` provider for anything: an entry point that names a built-in with another
target is refused with an error naming its distribution and where it was found.

Example:
    >>> registered("compound.routers")["rules"]
    'compound.strategy.build:rules_router'
    >>> load("compound.providers", "scripted").__name__
    'ScriptedLLM'
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping
from functools import cache
from importlib.metadata import EntryPoint, PathDistribution, entry_points
from pathlib import Path
from typing import Any

from compound.errors import UserError
from compound.specfile import did_you_mean

_METRICS = "compound.metrics"
_RAILS = "compound.production.rails"
_LLM = "compound.intelligence.llm"

#: compound's built-ins: group -> name -> ``module:attribute``.
BUILTINS: Mapping[str, Mapping[str, str]] = {
    # workflow step adapters by component kind (see compound.workflow.adapters)
    "compound.steps": {
        "llm": "compound.strategy.cached_steps:llm_step",
        "tool": "compound.workflow.adapters:tool_adapter",
        "function": "compound.workflow.adapters:function_adapter",
        "workflow": "compound.workflow.loader:workflow_step",
        "rail": f"{_RAILS}.steps:rail_step",
        "router": "compound.strategy.steps:strategy_adapter",
        "fallback": "compound.strategy.steps:strategy_adapter",
        "ensemble": "compound.strategy.steps:strategy_adapter",
        "retriever": "compound.workflow.kinds.retriever:retriever_step",
        "predictor": "compound.workflow.kinds.predictor:predictor_step",
        "context": "compound.workflow.kinds.context:context_step",
        "critique": "compound.workflow.kinds.critique:critique_step",
    },
    # guardrail types (see compound.production.rails.base)
    "compound.rails": {
        "injection": f"{_RAILS}.injection:InjectionRail",
        "pii": f"{_RAILS}.pii:PIIRail",
        "secrets": f"{_RAILS}.secrets:SecretsRail",
        "topic": f"{_RAILS}.topic:TopicRail",
        "schema": f"{_RAILS}.structured:SchemaRail",
        "groundedness": f"{_RAILS}.grounded:GroundednessRail",
    },
    # LLM providers (see compound.intelligence.llm.factory)
    "compound.providers": {
        "embedded": f"{_LLM}.embedded:EmbeddedLLM",
        "openai": f"{_LLM}.openai_compat:OpenAICompatibleLLM",
        "anthropic": f"{_LLM}.anthropic:AnthropicLLM",
        "scripted": f"{_LLM}.scripted:ScriptedLLM",
    },
    # metrics by the name an eval gives them (see compound.metrics.registry)
    "compound.metrics": {
        "exact_match": f"{_METRICS}.text:exact_match",
        "normalized_match": f"{_METRICS}.text:normalized_match",
        "token_f1": f"{_METRICS}.text:token_f1",
        "contains": f"{_METRICS}.text:contains",
        "key_points": f"{_METRICS}.text:key_points",
        "json_valid": f"{_METRICS}.structured:json_valid",
        "field_accuracy": f"{_METRICS}.structured:field_accuracy",
        "code_runs": f"{_METRICS}.code:code_runs",
        "groundedness": f"{_METRICS}.grounding:groundedness",
        "llm_judge": "compound.evaluation.judges.metric:llm_judge",
        "latency_s": f"{_METRICS}.operational:latency_s",
        "latency_ms": f"{_METRICS}.operational:latency_ms",
        "cost_usd": f"{_METRICS}.operational:cost_usd",
        "total_tokens": f"{_METRICS}.operational:total_tokens",
        "accuracy": f"{_METRICS}.corpus:accuracy",
        "macro_f1": f"{_METRICS}.corpus:macro_f1",
        "mae": f"{_METRICS}.corpus:mae",
        "rmse": f"{_METRICS}.corpus:rmse",
        "r2": f"{_METRICS}.corpus:r2",
        "recall": f"{_METRICS}.corpus:recall",
        "precision": f"{_METRICS}.corpus:precision",
    },
    # router kinds: functions (builder, name, spec) -> router (see compound.strategy.build)
    "compound.routers": {
        "confidence": "compound.strategy.build:confidence_router",
        "rules": "compound.strategy.build:rules_router",
        "learned": "compound.strategy.build:learned_router",
    },
    # embedder classes by name (see compound.intelligence.embedders.factory)
    "compound.embedders": {
        "minilm": "compound.intelligence.embedders.onnx:OnnxEmbedder",
        "fake": "compound.intelligence.embedders.fake:FakeEmbedder",
    },
    # retriever kinds (see compound.orchestration.retrieval.build)
    "compound.retrievers": {
        "bm25": "compound.orchestration.retrieval.build:lexical_retriever",
        "dense": "compound.orchestration.retrieval.build:dense_retriever",
        "hybrid": "compound.orchestration.retrieval.build:hybrid_retriever",
    },
    # learner classes of trained models (see compound.intelligence.ml.learners)
    "compound.learners": {
        "tfidf_linear": "compound.intelligence.ml.learners.text:TextLinearLearner",
        "lightgbm": "compound.intelligence.ml.learners.boosting:LightGBMLearner",
        "lightgbm_lambdarank": "compound.intelligence.ml.learners.boosting:LambdaRankLearner",
    },
}

_OWN_DISTRIBUTION = "compound"


class PluginConflict(UserError):
    """An installed (or spec-folder) distribution registers a built-in's name."""


def registered(group: str) -> dict[str, str]:
    """Names and ``module:attribute`` targets under ``group``: the built-ins, then the names
    third parties' entry points add (found anew when ``sys.path`` changes, as it does while
    a spec's folder is importable).

    Raises:
        PluginConflict: an entry point names a built-in with another target.
    """
    return _registered(group, tuple(sys.path))


@cache
def _registered(group: str, path: tuple[str, ...]) -> dict[str, str]:
    found = dict(BUILTINS.get(group, {}))
    for point in entry_points(group=group):
        if _distribution_name(point) == _OWN_DISTRIBUTION:
            continue  # compound's own metadata (an older install): BUILTINS is the truth
        builtin = BUILTINS.get(group, {}).get(point.name)
        if builtin is not None and point.value != builtin:
            raise PluginConflict(_conflict(group, point, builtin))
        found.setdefault(point.name, point.value)
    return found


def load(group: str, name: str) -> Any:
    """Import the object registered as ``name`` under ``group``.

    Raises:
        UserError: no such name (with a did-you-mean and the names there are), or its target
            does not import.
    """
    from compound.code.references import resolve

    targets = registered(group)
    kind = _kind(group)
    if name not in targets:
        raise UserError(
            f"no {kind} named '{name}'{did_you_mean(name, targets)}; "
            f"available: {', '.join(sorted(targets))}"
        )
    # security: built-ins and installed packages' entry points, never a target from a spec
    return resolve(targets[name], what=f"{kind} '{name}' ({group})")


def conflicts_in(folder: str | os.PathLike[str]) -> list[str]:
    """What :func:`registered` would refuse once ``folder`` (a spec's folder, appended to
    ``sys.path`` while the system runs) is on the path: its distributions' entry points that
    name a built-in, read from their ``entry_points.txt``, nothing imported. ``compound check``
    reports them, since it keeps the folder off the path."""
    found = []
    root = Path(folder)
    for info in sorted([*root.glob("*.dist-info"), *root.glob("*.egg-info")]):
        try:
            points = list(PathDistribution(info).entry_points)
        except (OSError, UnicodeError, ValueError, configparser.Error) as exc:
            found.append(f"{info / 'entry_points.txt'}: cannot be read ({exc}); fix or remove "
                         f"{info.name}, which Python reads whenever the folder is on sys.path")
            continue
        for point in points:
            builtin = BUILTINS.get(point.group, {}).get(point.name)
            if builtin is not None and point.value != builtin:
                message = _conflict(point.group, point, builtin)
                found.append(f"{info / 'entry_points.txt'}: {message}")
    return found


def _kind(group: str) -> str:
    """``compound.metrics`` -> ``metric``."""
    last = group.rsplit(".", 1)[-1]
    return last[:-1] if last.endswith("s") else last


def _distribution_name(point: EntryPoint) -> str:
    dist = point.dist
    name = dist.name if dist is not None else ""
    return (name or "").lower().replace("_", "-")


def _conflict(group: str, point: EntryPoint, builtin: str) -> str:
    dist = point.dist
    who = f"distribution '{dist.name}'" if dist is not None else "an entry point"
    where = ""
    if dist is not None:
        try:
            where = f" (found in {dist.locate_file('')})"
        except (NotImplementedError, OSError):
            where = ""
    return (
        f"{who}{where} registers the {_kind(group)} '{point.name}' under '{group}' as "
        f"'{point.value}', but '{point.name}' is compound's built-in '{builtin}'; a plugin may "
        f"add names, not replace built-ins. Register it under another name and use that name "
        f"in the spec, or remove the distribution (a *.dist-info folder next to a downloaded "
        f"compound.yaml is one)"
    )
