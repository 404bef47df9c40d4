"""Latency is designed, not hoped for: a latency criterion over an LLM needs something in
front of the LLM that spares requests from it.

* ``latency-without-mitigation``: a latency criterion measured on a path where an LLM runs on
  every request with no cache, no routing and no streaming in front of it.

What counts: a cache declared under ``strategy.cache`` that covers the LLM (exact or
semantic, enabled; the exact cache every spec gets by default answers only repeats of one
request, so it counts only where the spec declares it, saying it expects repeats); routing,
which is a ``when:`` on the LLM step or on a step it needs (a request that does not meet it
never reaches the LLM), or a step that uses a router, fallback chain or ensemble instead of
the LLM. Streaming is how a client calls a served workflow
(``POST /v1/workflows/NAME/stream``), not something the spec declares: when clients stream,
silence the finding with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from compound.design_review.evaluation import measuring
from compound.design_review.finding import Hit, Rule
from compound.design_review.paths import gated, llm_steps

if TYPE_CHECKING:
    from compound.system import System


def cached(system: System, llm: str) -> bool:
    """Whether the spec declares a cache in front of ``llm``."""
    strategy = system.strategy
    if "cache" not in strategy.model_fields_set:
        return False
    cache = strategy.cache
    on = cache.exact.enabled or cache.semantic.enabled
    return on and (not cache.models or llm in cache.models)


def _latency_without_mitigation(system: System) -> Iterator[Hit]:
    from compound.evaluation.gates import declared_direction

    for key, criterion in system.criteria.items():
        metric = criterion.metric or key
        if declared_direction(system, key) != "lower":
            continue
        for eval_name, spec in measuring(system, metric):
            if "latency" not in spec.name and "latency" not in spec.registered_name:
                continue
            target = system.evals[eval_name].target
            if target.model in system.llms():
                exposed = ([f"eval '{eval_name}' calls LLM '{target.model}' on every row"]
                           if not cached(system, target.model) else [])
            elif target.workflow in system.workflows:
                workflow = system.workflows[target.workflow]
                steps: dict[str, list[str]] = {}
                for _, _, step, llm in llm_steps(system, {target.workflow: workflow}):
                    if gated(workflow, step.name) is None and not cached(system, llm):
                        steps.setdefault(llm, []).append(step.name)
                exposed = [f"workflow '{target.workflow}' calls LLM '{llm}' on every request "
                           f"(step{'s' if len(names) > 1 else ''} {', '.join(names)})"
                           for llm, names in steps.items()]
            else:
                continue
            if not exposed:
                continue
            yield Hit(("criteria", key),
                      f"criterion '{key}' ({metric} <= {criterion.threshold:g}, measured by "
                      f"eval '{eval_name}'): {'; '.join(exposed)}, with no cache "
                      "(`strategy.cache`), no routing in front of it and no streaming",
                      "let a cheaper path answer first (a `when:` on the LLM step reading a "
                      "predictor's confidence, or a confidence router), declare "
                      "`strategy.cache` for the LLM, or serve the stream endpoint "
                      "(POST /v1/workflows/NAME/stream) and silence this finding saying so")


RULES = (
    Rule("latency-without-mitigation", "warning",
         "an LLM is the slowest step of a request; a latency target is met by sparing requests "
         "from it (a cache, a cheaper model answering first) or by showing the answer as it "
         "comes (streaming)", _latency_without_mitigation),
)
