"""Failure and cost are designed for: a remote model has a time limit and somewhere to fall
back to, and an agent loop has a budget.

* ``remote-without-fallback``: a remote LLM with no fallback chain behind it, or used by a
  step directly instead of through its chain;
* ``remote-without-timeout``: a remote LLM without a ``timeout_s`` of its own;
* ``agent-without-budget``: an agent step with neither a token nor a cost budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from compound.design_review.finding import Hit, Rule
from compound.design_review.paths import steps_using

if TYPE_CHECKING:
    from compound.intelligence.spec import LLMSpec
    from compound.system import System

#: providers that run in the process: no network between the system and the model
LOCAL_PROVIDERS = frozenset({"embedded", "scripted"})


def remote_llms(system: System) -> dict[str, LLMSpec]:
    """The LLMs reached over a network (every provider but the in-process ones)."""
    return {n: m for n, m in system.llms().items() if m.provider not in LOCAL_PROVIDERS}


def _remote_without_fallback(system: System) -> Iterator[Hit]:
    chains = system.strategy.fallbacks
    for name, model in remote_llms(system).items():
        backed = [chain for chain, spec in chains.items()
                  if any(o.model == name for o in spec.options[:-1])]
        direct = steps_using(system, name)
        if backed and not direct:
            continue
        if backed:
            wf, step = direct[0]
            message = (f"step '{step.name}' of workflow '{wf}' uses remote LLM '{name}' "
                       f"directly, not through its fallback chain '{backed[0]}'")
            fix = f"point the step at the chain: `uses: {backed[0]}`"
        else:
            message = (f"LLM '{name}' (provider {model.provider}) is reached over the network "
                       "and no fallback chain has an option after it")
            fix = (f"declare a chain under `strategy.fallbacks` with '{name}' first and another "
                   "model after it (e.g. the embedded one), and let steps use the chain")
        yield Hit(("models", name), message, fix)


def _remote_without_timeout(system: System) -> Iterator[Hit]:
    limit = system.serve.timeout_s
    for name, model in remote_llms(system).items():
        if "timeout_s" in model.model_fields_set:
            continue
        longer = (f", longer than a served run may take (serve.timeout_s: {limit:g} s)"
                  if model.timeout_s >= limit else "")
        yield Hit(("models", name),
                  f"remote LLM '{name}' has no timeout_s of its own: a call may take the "
                  f"default {model.timeout_s:g} s{longer}",
                  "set `timeout_s` on the model: a little above its p95 latency, and below "
                  "`serve.timeout_s` so that a fallback still has time to answer")


def _agent_without_budget(system: System) -> Iterator[Hit]:
    request = system.strategy.budgets.request
    if request.max_tokens is not None or request.max_cost_usd is not None:
        return
    for wf_name, workflow in system.workflows.items():
        for index, step in enumerate(workflow.steps):
            agent = step.agent
            if agent is None or agent.max_tokens is not None or agent.max_cost_usd is not None:
                continue
            yield Hit(("workflows", wf_name, "steps", index, "agent"),
                      f"agent step '{step.name}' of workflow '{wf_name}' has no token or cost "
                      f"budget: only max_steps ({agent.max_steps}) and max_time_s "
                      f"({agent.max_time_s:g}) bound what one request spends",
                      "set `agent.max_tokens` (or `max_cost_usd`), or a per-request budget "
                      "under `strategy.budgets.request`")


RULES = (
    Rule("remote-without-fallback", "warning",
         "a model behind a network fails sometimes (timeouts, rate limits, outages); a "
         "fallback keeps the system answering", _remote_without_fallback),
    Rule("remote-without-timeout", "warning",
         "a call with no limit of its own holds the request until the run's limit, leaving "
         "no time to fall back", _remote_without_timeout),
    Rule("agent-without-budget", "warning",
         "an agent loop decides how many model calls it makes; a budget bounds what one "
         "request can cost", _agent_without_budget),
)
