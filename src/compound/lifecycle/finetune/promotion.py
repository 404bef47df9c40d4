"""Promoting an LLM version (a fine-tuned adapter): evaluate it and what runs now on the spec's
eval, then let the promotion gate decide (:meth:`compound.intelligence.llm.versions.
LLMRegistry.promote`).

The eval is one ``compound eval`` runs: the entry of ``evals:`` whose target runs the LLM (a
workflow with a step that uses it, or the model itself), its dataset, metrics and criteria.
The candidate runs with its version pinned; the baseline is the production version (the spec's
model when none was promoted), on the same rows. Rows the adapter was trained on are left out
of both runs (a row whose input text occurs in a training example's prompt, as it is or
redacted as ``compound export`` redacts): a model is not judged on the answers it was
taught. The gate is the models' and prompts' one.

Example:
    >>> from compound.system import System
    >>> system = System.model_validate({"name": "s", "loop": "interaction", "task": "t",
    ...     "models": {"llm": {"kind": "llm", "provider": "embedded"}},
    ...     "workflows": {"qa": {"steps": [{"name": "answer", "uses": "llm"}]}},
    ...     "evals": {"qa": {"dataset": {"path": "qa.jsonl"}, "target": {"workflow": "qa"}}}})
    >>> llm_eval(system, "llm")
    'qa'
    >>> untrained(["How long does a new card take?", "Is the app free to use?"],
    ...           ["Passages: ... Question: How long does a new  card take?"])
    [False, True]
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from compound.errors import UserError
from compound.evaluation.gates import error_rate_check
from compound.evaluation.prompt_promotion import directed_criteria, metric_values
from compound.intelligence.llm.versions import LLMRegistry, embedded_llm
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.evaluation.results import RunSummary
    from compound.intelligence.llm.versions import LLMVersion
    from compound.intelligence.versioning import PromotionDecision
    from compound.store import Store
    from compound.system import System

#: An input shorter than this (normalised) is not looked for in the training prompts.
MIN_MATCH_CHARS = 12


@dataclass(frozen=True)
class LLMPromotion:
    """What promoting an LLM version did: the decision, the two eval runs, and how many of
    the eval's rows were left out as training rows."""

    decision: PromotionDecision
    candidate: RunSummary
    baseline: RunSummary
    excluded: int = 0


def llm_eval(system: System, name: str, eval_name: str | None = None) -> str:
    """The eval that judges LLM ``name``: ``eval_name``, else the one eval whose target runs
    it.

    Raises:
        UserError: no such eval, none running the LLM, or several (choose one).
    """
    running = [n for n, e in system.evals.items() if _runs(system, e.target, name)]
    if eval_name is not None:
        if eval_name not in running:
            raise UserError(f"eval '{eval_name}' does not run LLM '{name}'"
                            f"{did_you_mean(eval_name, running)}; evals that do: "
                            f"{', '.join(running) or 'none'}")
        return eval_name
    if not running:
        raise UserError(
            f"no eval of system '{system.name}' runs LLM '{name}', so a version of it cannot "
            "be judged; declare one under 'evals' whose target is a workflow using it, or "
            f"target: {{model: {name}}}")
    if len(running) > 1:
        raise UserError(f"evals {', '.join(running)} all run LLM '{name}'; choose one with "
                        "--eval")
    return running[0]


def _runs(system: System, target: object, name: str) -> bool:
    kind = getattr(target, "kind", None)
    if kind == "workflow":
        flow = system.workflows.get(getattr(target, "workflow", "") or "")
        return flow is not None and any(step.uses == name for step in flow.steps)
    if kind == "model":
        model = getattr(target, "model", None) or system.default_llm()
        return bool(model == name)
    return False


def untrained(inputs: Sequence[str], trained_on: Sequence[str]) -> list[bool]:
    """For each eval row's input text, whether it occurs in none of the training prompts
    ``trained_on`` (case and spacing ignored; texts shorter than :data:`MIN_MATCH_CHARS`
    are kept)."""
    seen = [_normal(t) for t in trained_on]
    found = []
    for text in inputs:
        key = _normal(text)
        found.append(len(key) < MIN_MATCH_CHARS or not any(key in t for t in seen))
    return found


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def evaluate_llm(system: System, store: Store, eval_name: str, name: str,
                 version: LLMVersion | None, *, limit: int | None = None,
                 trained_on: Sequence[str] = (), progress: bool = False
                 ) -> tuple[RunSummary, int]:
    """Run eval ``eval_name`` with ``version`` of LLM ``name`` pinned (None: production), on
    the rows whose inputs are not in ``trained_on``; the run and how many rows were left out.

    Raises:
        UserError: every row of the eval was a training row.
    """
    from compound.evaluation.plan import plan_eval
    from compound.evaluation.runner import EvalRunner

    pinned = {} if version is None else {name: version}
    plan = plan_eval(system, eval_name, store=store, limit=limit, llm_versions=pinned)
    texts = [" ".join(str(v) for v in e.inputs.values()) for e in plan.examples]
    keep = untrained(texts, trained_on)
    if trained_on:  # exported examples are redacted: compare the rows redacted too
        from compound.lifecycle.export import Redactor

        redactor = Redactor.for_system(system)
        keep = [a and b for a, b in zip(keep, untrained([redactor.text(t) for t in texts],
                                                        trained_on), strict=True)]
    examples = [e for e, kept in zip(plan.examples, keep, strict=True) if kept]
    if not examples:
        raise UserError(f"every row of eval '{eval_name}' is a training row of the adapter; "
                        "evaluate it on other rows (a held-out eval, or train on other data)")
    plan = dataclasses.replace(plan, examples=examples)
    return EvalRunner(store, progress=progress).run(plan, resume=False), len(keep) - len(examples)


def promote_llm(system: System, store: Store, name: str, version: int, *,
                eval_name: str | None = None, limit: int | None = None,
                progress: bool = False, by: str | None = None) -> LLMPromotion:
    """Evaluate version ``version`` of LLM ``name`` and production on the same rows (those
    whose inputs are in none of the prompts it was trained on), and promote the version if
    it passes the gate (see the module docstring).

    Raises:
        UserError: an LLM that is not embedded, an unknown version or eval.
    """
    embedded_llm(system, name)
    chosen = llm_eval(system, name, eval_name)
    registry = LLMRegistry(store)
    record = registry.get(name, version)
    trained_on = registry.training_prompts(record)
    baseline, excluded = evaluate_llm(system, store, chosen, name, None, limit=limit,
                                      trained_on=trained_on, progress=progress)
    candidate, _ = evaluate_llm(system, store, chosen, name, record, limit=limit,
                                trained_on=trained_on, progress=progress)
    errors = error_rate_check(candidate, system.evals[chosen].max_error_rate)
    decision = registry.promote(
        name, version, metrics=metric_values(candidate), baseline=metric_values(baseline),
        criteria=directed_criteria(system.criteria, candidate),
        extra_checks=[] if errors is None else [errors], by=by,
        evaluated={"eval": chosen, "rows": candidate.counts.get("total", 0),
                   "excluded_training_rows": excluded, "run": candidate.id,
                   "baseline_run": baseline.id})
    return LLMPromotion(decision, candidate, baseline, excluded)
