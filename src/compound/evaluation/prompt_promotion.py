"""Promoting a prompt version: evaluate it and what runs now on the workflow's eval, then let
the promotion gate decide (:meth:`compound.orchestration.prompts.PromptRegistry.promote`).

The eval is the one ``compound eval`` runs: an entry of ``evals:`` whose target is the prompt's
workflow, its dataset, metrics and criteria. The candidate runs with its version pinned on its
step; the baseline is what the step sends now (the production version, or the spec's text), on
the same rows. The gate is the models' one: each criterion's threshold met and no regression
from the baseline beyond the criterion's tolerance, the eval's ``max_error_rate`` besides.

Example:
    >>> from compound.system import System
    >>> system = System.model_validate({"name": "s", "loop": "interaction", "task": "t",
    ...     "models": {"llm": {"kind": "llm", "provider": "scripted"}},
    ...     "workflows": {"qa": {"steps": [{"name": "answer", "uses": "llm",
    ...                                     "options": {"template": "Q: {question}"}}]}}})
    >>> prompt_eval(system, "qa.answer")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    compound.errors.UserError: no eval of system 's' runs workflow 'qa', so prompt 'qa.answer'...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from compound.errors import UserError
from compound.evaluation.gates import error_rate_check
from compound.orchestration.prompts import PromptRegistry, spec_prompts
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.evaluation.results import RunSummary
    from compound.intelligence.registry import PromotionDecision
    from compound.orchestration.prompts import PromptVersion, SpecPrompt
    from compound.store import Store
    from compound.system import Criterion, System


@dataclass(frozen=True)
class PromptPromotion:
    """What promoting a prompt version did: the decision and the two eval runs."""

    decision: PromotionDecision
    candidate: RunSummary
    baseline: RunSummary


def spec_prompt(system: System, name: str) -> SpecPrompt:
    """The prompt ``name`` (``workflow.step``) of ``system``'s LLM steps.

    Raises:
        UserError: no LLM step of that name (listing those there are).
    """
    found = spec_prompts(system)
    if name not in found:
        raise UserError(f"no prompt named '{name}' in system '{system.name}'"
                        f"{did_you_mean(name, found)}; its LLM steps' prompts: "
                        f"{', '.join(found) or 'none (an LLM step with a template)'}")
    return found[name]


def prompt_eval(system: System, name: str, eval_name: str | None = None) -> str:
    """The eval that judges prompt ``name``: ``eval_name``, else the one eval whose target is
    the prompt's workflow.

    Raises:
        UserError: no such eval, none running the workflow, or several (choose one).
    """
    workflow = spec_prompt(system, name).workflow
    running = [n for n, e in system.evals.items()
               if e.target.kind == "workflow" and e.target.workflow == workflow]
    if eval_name is not None:
        if eval_name not in running:
            raise UserError(f"eval '{eval_name}' does not run workflow '{workflow}'"
                            f"{did_you_mean(eval_name, running)}; evals that do: "
                            f"{', '.join(running) or 'none'}")
        return eval_name
    if not running:
        raise UserError(
            f"no eval of system '{system.name}' runs workflow '{workflow}', so prompt "
            f"'{name}' cannot be judged; declare one under 'evals' with target: {{workflow: "
            f"{workflow}}}")
    if len(running) > 1:
        raise UserError(f"evals {', '.join(running)} all run workflow '{workflow}'; choose "
                        "one with --eval")
    return running[0]


def evaluate_prompt(system: System, store: Store, eval_name: str,
                    version: PromptVersion | None, *, limit: int | None = None,
                    progress: bool = False) -> RunSummary:
    """Run eval ``eval_name`` with ``version`` pinned on its step (None: the step as it runs
    now, production's version or the spec's text)."""
    from compound.evaluation.plan import plan_eval
    from compound.evaluation.runner import EvalRunner

    pinned = {} if version is None else {version.name: version}
    plan = plan_eval(system, eval_name, store=store, limit=limit, prompts=pinned)
    return EvalRunner(store, progress=progress).run(plan, resume=False)


def promote_prompt(system: System, store: Store, name: str, version: int, *,
                   eval_name: str | None = None, limit: int | None = None,
                   progress: bool = False, by: str | None = None) -> PromptPromotion:
    """Evaluate version ``version`` of prompt ``name`` and what runs now on the same rows,
    and promote the version if it passes the gate (see the module docstring).

    Raises:
        UserError: an unknown prompt, version or eval, or a version whose template reads other
            fields than the step's.
    """
    from compound.orchestration.prompts import fields_problem

    prompt = spec_prompt(system, name)
    chosen = prompt_eval(system, name, eval_name)
    registry = PromptRegistry(store)
    record = registry.get(name, version)
    problem = fields_problem(record.template, prompt.template, what=f"prompt {record.ref}")
    if problem is not None:
        raise UserError(problem)
    baseline = evaluate_prompt(system, store, chosen, None, limit=limit, progress=progress)
    candidate = evaluate_prompt(system, store, chosen, record, limit=limit, progress=progress)
    errors = error_rate_check(candidate, system.evals[chosen].max_error_rate)
    total = candidate.counts.get("total", 0)
    decision = registry.promote(
        name, version, metrics=metric_values(candidate), baseline=metric_values(baseline),
        criteria=directed_criteria(system.criteria, candidate),
        extra_checks=[] if errors is None else [errors], by=by,
        evaluated={"eval": chosen, "rows": total, "run": candidate.id,
                   "baseline_run": baseline.id})
    return PromptPromotion(decision, candidate, baseline)


def metric_values(run: RunSummary) -> dict[str, float]:
    return {m.name: m.value for m in run.metrics if m.value is not None}


def directed_criteria(criteria: dict[str, Criterion], run: RunSummary) -> dict[str, Criterion]:
    """The criteria, each without a ``direction:`` given the direction the run recorded for
    its metric (an eval's metric may be named other than the metric it measures)."""
    directions = {m.name: "higher" if m.higher_is_better else "lower" for m in run.metrics}
    found = {}
    for key, criterion in criteria.items():
        metric = criterion.metric or key
        if "direction" not in criterion.model_fields_set and metric in directions:
            criterion = criterion.model_copy(update={"direction": directions[metric]})
        found[key] = criterion
    return found
