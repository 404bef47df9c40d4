"""What the loop type measures when the spec is silent: the default criteria of each component.

``loop:`` decides what a system is judged by where it declares nothing:

* a **prediction** system's predictors: the task's primary metric (accuracy, ROC-AUC for a
  binary classifier, R², nDCG@10) and the expected calibration error (ECE) of a classifier,
  each held against the production version (no regression; ECE within
  :data:`ECE_TOLERANCE`), and *stability*: the churn from production's labels to the
  candidate's on the gate rows (:mod:`compound.metrics.stability`), within the limits of
  :class:`~compound.intelligence.spec.ChurnSpec` (by default: at most 5% negative flips,
  rows production had right that the candidate gets wrong). All three are checks of
  the promotion gate (:mod:`compound.intelligence.promotion`); the churn limits apply even
  where criteria are declared, since no criterion can measure them (they compare two
  versions);
* an **interaction** system's LLMs and workflows: usefulness and coherence scored by a rubric
  judge (``llm_judge`` with the rubrics below, judged by the eval's ``judge:`` or the system's
  default LLM) and, when it retrieves, ``groundedness`` (lexical: no LLM) against the passages
  the answer rests on: an LLM target's when the system declares a retriever and the eval
  gives the target passages (``contexts:``); a workflow target's when a step of the workflow
  uses a retriever, against the passages that run retrieved.
  These are measured by every eval of an LLM or a workflow that names no metric
  and no criterion, and held against the eval's last run (tolerance
  :data:`JUDGED_TOLERANCE`). A judged default needs an LLM: a system that declares none gets
  only the unjudged ones;
* a **hybrid** system: both, per component.

A predictor "declares criteria" when it lists ``criteria:`` or a system criterion reads a
metric of a trained model (``accuracy``, ``ece``...); an eval, when it lists ``metrics:`` or a
criterion names a registered metric. ``compound check`` lists the defaults that apply
(:func:`default_criteria`).

Example:
    >>> from compound.system import System
    >>> system = System.from_yaml('''
    ... name: desk
    ... loop: prediction
    ... task: Route requests.
    ... models:
    ...   intent: {kind: predictor, task: text_classification, dataset: t.jsonl, target: label}
    ... ''')
    >>> [(d.component, d.name) for d in default_criteria(system)]
    [('intent', 'accuracy'), ('intent', 'ece'), ('intent', 'negative_flips')]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compound.evaluation.spec import MetricSpec
    from compound.intelligence.spec import ChurnSpec
    from compound.system import System

#: how far a candidate's ECE may rise over production's before the default gate refuses it
ECE_TOLERANCE = 0.02
#: how far a judged default metric may fall below the eval's last run
JUDGED_TOLERANCE = 0.1
USEFULNESS_RUBRIC = ("Does the answer help the person with what they asked? 1 = not at all, "
                     "5 = fully answers it")
COHERENCE_RUBRIC = ("Is the answer clear, consistent and well organised? 1 = confused or "
                    "contradictory, 5 = clear throughout")
_CLASSIFICATION = ("text_classification", "tabular_classification")


@dataclass(frozen=True)
class DefaultCriterion:
    """One criterion the loop type supplies for a component whose spec declares none.

    Attributes:
        component: the model (or eval, for interaction defaults) it applies to.
        name: the metric it reads.
        rule: what it holds, in words.
        where: what measures it (the promotion gate, an eval and its judge).
    """

    component: str
    name: str
    rule: str
    where: str


def churn_limits(system: System, name: str) -> ChurnSpec | None:
    """The churn limits that gate promoting predictor ``name`` of ``system``: its own
    ``churn:``, else the defaults for a prediction or hybrid system; None when not gated
    (``churn: false``, an interaction system, or a task without labels)."""
    from compound.intelligence.spec import ChurnSpec

    spec = system.predictors()[name]
    if spec.churn is False or spec.task not in _CLASSIFICATION:
        return None
    if spec.churn is not None:
        return spec.churn
    return ChurnSpec() if system.loop in ("prediction", "hybrid") else None


def predictor_declares_criteria(system: System, name: str,
                                measured: set[str] | None = None) -> bool:
    """Whether predictor ``name`` is gated by criteria of the spec: it lists some, or a system
    criterion reads one of its test metrics (``measured``; by default any trained model's)."""
    from compound.metrics.trained import TRAINED_METRICS

    spec = system.predictors()[name]
    if spec.criteria:
        return True
    known = measured if measured is not None else set(TRAINED_METRICS)
    return any((c.metric or key) in known or (c.metric or key).partition("@")[0] in known
               for key, c in system.criteria.items())


def predictor_defaults(system: System, name: str) -> list[DefaultCriterion]:
    """The default criteria of predictor ``name`` (see the module docstring)."""
    spec = system.predictors()[name]
    found: list[DefaultCriterion] = []
    if system.loop in ("prediction", "hybrid") and not predictor_declares_criteria(system, name):
        primary = {"regression": "r2", "ranking": "ndcg@10"}.get(spec.task, "accuracy")
        found.append(DefaultCriterion(name, primary, "not worse than production (accuracy; "
                                      "roc_auc for two classes)" if primary == "accuracy"
                                      else "not worse than production", "promotion gate"))
        if spec.task in _CLASSIFICATION:
            found.append(DefaultCriterion(name, "ece", f"at most {ECE_TOLERANCE:g} above "
                                          "production's", "promotion gate"))
    limits = churn_limits(system, name)
    if limits is not None:
        for metric, limit in (("churn", limits.max), ("confident_churn", limits.max_confident),
                              ("negative_flips", limits.max_negative)):
            if limit is not None:
                found.append(DefaultCriterion(
                    name, metric, f"<= {limit:g} of the gate rows"
                    + (f" (both versions >= {limits.confidence:g} sure)"
                       if metric == "confident_churn" else ""),
                    "promotion gate" + ("" if spec.churn else f"; the {system.loop} loop's "
                                        "default")))
    return found


def eval_defaults(system: System, name: str) -> list[MetricSpec]:
    """The metrics eval ``name`` measures when it names none and no criterion names a
    registered metric (empty when the eval or the criteria say what to measure)."""
    from compound.evaluation.spec import MetricSpec
    from compound.metrics.registry import available_metrics

    ev = system.evals[name]
    if ev.metrics:
        return []
    known = set(available_metrics())
    if any((c.metric or key) in known for key, c in system.criteria.items()):
        return []
    target = ev.target
    if target.model is not None and target.model in system.predictors():
        task = system.predictors()[target.model].task
        if task in _CLASSIFICATION and target.output in (None, "label"):
            return [MetricSpec(name="accuracy")]
        return [MetricSpec(name="r2")] if task == "regression" else []
    if target.kind not in ("model", "workflow") or system.loop == "prediction":
        return []
    found: list[MetricSpec] = []
    if system.llms():
        found += [MetricSpec(name="usefulness", metric="llm_judge", tolerance=JUDGED_TOLERANCE,
                             options={"rubric": USEFULNESS_RUBRIC}),
                  MetricSpec(name="coherence", metric="llm_judge", tolerance=JUDGED_TOLERANCE,
                             options={"rubric": COHERENCE_RUBRIC})]
    if (system.retrievers and target.contexts) or retrieval_steps(system, target.workflow):
        found.append(MetricSpec(name="groundedness", tolerance=JUDGED_TOLERANCE))
    return found


def retrieval_steps(system: System, workflow: str | None) -> list[str]:
    """The steps of ``workflow`` that use a retriever: a workflow eval's row has the passages
    they returned as its contexts (:class:`~compound.evaluation.workflow_target.WorkflowTarget`),
    for groundedness."""
    if workflow is None or workflow not in system.workflows:
        return []
    return [step.name for step in system.workflows[workflow].steps
            if step.uses in system.retrievers]


def default_criteria(system: System) -> list[DefaultCriterion]:
    """Every default criterion that applies to ``system``, per component, for
    ``compound check``."""
    found = [d for name in system.predictors() for d in predictor_defaults(system, name)]
    for name in system.evals:
        for spec in eval_defaults(system, name):
            judged = spec.metric == "llm_judge"
            where = f"eval '{name}'" + (f", rubric judge '{_judge(system, name)}'"
                                        if judged else "")
            steps = retrieval_steps(system, system.evals[name].target.workflow)
            if spec.name == "groundedness" and steps:
                where += (", against the passages the run retrieved (step "
                          + ", ".join(f"'{s}'" for s in steps) + ")")
            found.append(DefaultCriterion(name, spec.name,
                                          f"no drop beyond {spec.tolerance:g} from the last "
                                          "run" if spec.tolerance else "reported", where))
    return found


def _judge(system: System, name: str) -> str:
    judge = system.evals[name].judge
    return (judge.model if judge is not None and judge.model else None) or system.default_llm()
