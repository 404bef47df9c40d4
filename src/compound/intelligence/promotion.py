"""The promotion gate: may a candidate model version replace the production one?

The checks are those of the one gate (:mod:`compound.gating`), read from the candidate's test
metrics. A candidate passes when, for every criterion that applies to it, its test metric
meets the threshold and is not worse than production's by more than the criterion's
tolerance. Which criteria apply: those the predictor lists under ``criteria`` (each must be
measured), else every system criterion whose metric the model reports. The task's primary
metric (accuracy, ROC-AUC for a binary classifier, R² or nDCG@10) must also not regress when
no criterion covers it, with zero tolerance. A criterion without ``direction:`` and the
primary metric are held in the metric's own direction
(:func:`compound.metrics.registry.lower_is_better`).

The loop type adds what the spec leaves out (:mod:`compound.loop_defaults`): where no
criterion applies to a classifier of a prediction or hybrid system, its ECE must not rise over
production's by more than :data:`~compound.loop_defaults.ECE_TOLERANCE`; and the candidate
must not change more of production's labels on the gate rows than the churn limits allow
(:func:`churn_checks`). The metrics and predictions read are the gate rows' only, never the
final rows' (``split.final``).

Example:
    >>> from compound.system import Criterion
    >>> checks = gate_checks({"accuracy": 0.91}, {"accuracy": 0.93},
    ...     criteria={"accuracy": Criterion(threshold=0.9, tolerance=0.01)}, primary="accuracy")
    >>> [(c.name, c.status) for c in checks]
    [('accuracy', 'regressed')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from compound.errors import UserError
from compound.gating import (
    GateCheck,
    baseline_check,
    criterion_check,
    unmeasured_check,
)
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.intelligence.spec import ChurnSpec
    from compound.metrics.stability import Churn
    from compound.system import Criterion, System


def spec_gate(system: System, name: str) -> dict[str, Any]:
    """The keywords of :meth:`~compound.intelligence.registry.ModelRegistry.promote` that the
    spec asks for predictor ``name``: the criteria, those it lists, its churn limits and the
    loop's defaults."""
    from compound.loop_defaults import churn_limits

    spec = system.predictors()[name]
    return {"criteria": system.criteria, "only": spec.criteria,
            "churn": churn_limits(system, name),
            "defaults": system.loop in ("prediction", "hybrid")}


def applicable_criteria(
    criteria: Mapping[str, Criterion], only: Sequence[str] | None, *, model: str
) -> dict[str, Criterion]:
    """The criteria that gate ``model``: ``only`` (checked to exist), else all of them.

    Raises:
        UserError: ``only`` names a criterion the system does not declare.
    """
    if only is None:
        return dict(criteria)
    unknown = [n for n in only if n not in criteria]
    if unknown:
        hints = "".join(did_you_mean(n, criteria) for n in unknown)
        raise UserError(
            f"model '{model}' lists criteria {', '.join(unknown)}{hints}, which the system "
            f"does not declare under 'criteria' (declared: {', '.join(criteria) or 'none'})"
        )
    return {n: criteria[n] for n in only}


def gate_checks(
    metrics: Mapping[str, float],
    baseline: Mapping[str, float] | None,
    *,
    criteria: Mapping[str, Criterion],
    required: bool = False,
    primary: str | None = None,
    defaults: bool = False,
) -> list[GateCheck]:
    """Every check of a candidate's ``metrics`` against the criteria and the baseline.

    Args:
        metrics: the candidate's test metrics.
        baseline: the production version's test metrics, if there is one.
        criteria: the criteria that apply (see :func:`applicable_criteria`).
        required: an unmeasured criterion fails (the predictor listed it explicitly).
        primary: the task's main metric, guarded against regression when no criterion is.
        defaults: where no criterion measures anything of the model, hold its ECE within
            :data:`~compound.loop_defaults.ECE_TOLERANCE` of production's (the loop's
            default).
    """
    from compound.loop_defaults import ECE_TOLERANCE
    from compound.metrics.registry import lower_is_better

    base = dict(baseline or {})
    checks: list[GateCheck] = []
    covered: set[str] = set()
    for key, criterion in criteria.items():
        metric = criterion.metric or key
        covered.add(metric)
        value = metrics.get(metric)
        direction = criterion.held_direction(lower_is_better=lower_is_better(metric))
        if value is None:
            checks.append(unmeasured_check(
                key, metric=metric, threshold=criterion.threshold, direction=direction,
                required=required,
                why=f"the model does not report '{metric}'; "
                    f"{'it is listed in its criteria' if required else 'not gated here'}"))
            continue
        checks.append(criterion_check(key, metric=metric, value=value,
                                      threshold=criterion.threshold, direction=direction,
                                      baseline=base.get(metric), tolerance=criterion.tolerance))
    if primary and primary not in covered and primary in metrics:
        checks.append(baseline_check(
            f"{primary} (primary)", metric=primary, value=metrics[primary],
            baseline=base.get(primary),
            direction="lower" if lower_is_better(primary) else "higher"))
    gated = any(c.status != "unmeasured" for c in checks if not c.name.endswith("(primary)"))
    if defaults and not gated and "ece" in metrics:
        checks.append(baseline_check(
            "ece (default)", metric="ece", value=metrics["ece"], baseline=base.get("ece"),
            direction="lower", tolerance=ECE_TOLERANCE))
    return checks


def churn_checks(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
                 limits: ChurnSpec, *, against: str) -> tuple[list[GateCheck], Churn | None]:
    """The churn from production's predictions (``before``) to the candidate's (``after``) on
    the gate rows, held to ``limits``.

    ``before`` and ``after`` are what training keeps beside each version
    (:meth:`~compound.intelligence.registry.ModelRegistry.held_out`). A limit of None reports
    the value without gating it. When the two were not measured on the same gate rows the
    checks are ``unmeasured``, saying why (the gate does not fail on them).

    Returns:
        The checks, and the churn measured (None when it could not be).
    """
    from compound.metrics.stability import prediction_churn

    names = (("churn", limits.max), ("confident_churn", limits.max_confident),
             ("negative_flips", limits.max_negative))
    why = None
    if before is None or after is None or not before.get("labels") or not after.get("labels"):
        why = f"{against} or the candidate kept no predictions of its gate rows (retrain it)"
    elif (before.get("sha256", {}).get("gate") != after.get("sha256", {}).get("gate")
          or before.get("gate") != after.get("gate")):
        why = f"{against} and the candidate were not measured on the same gate rows"
    if why is not None:
        return [unmeasured_check(n, metric=n, threshold=limit, direction="lower", why=why)
                for n, limit in names], None
    assert before is not None and after is not None
    gate = list(after["gate"])
    truth = after.get("truth") or None
    measured = prediction_churn(
        [before["labels"][i] for i in gate], [before["confidence"][i] for i in gate],
        [after["labels"][i] for i in gate], [after["confidence"][i] for i in gate],
        confidence=limits.confidence, truth=[truth[i] for i in gate] if truth else None)
    checks = []
    for name, limit in names:
        value = {"churn": measured.churn, "confident_churn": measured.confident_churn,
                 "negative_flips": measured.negative_flips}[name]
        count = {"churn": measured.changed, "confident_churn": measured.confident,
                 "negative_flips": measured.broken}[name]
        what = {"churn": f"{count:,} of {measured.rows:,} gate rows changed label from "
                         f"{against}",
                "confident_churn": f"{count:,} of {measured.rows:,} gate rows changed label "
                                   f"from {against} with both versions >= "
                                   f"{limits.confidence:g} sure",
                "negative_flips": f"{count:,} of {measured.rows:,} gate rows {against} had "
                                  "right are wrong now"}[name]
        if value is None:
            checks.append(unmeasured_check(name, metric=name, threshold=limit,
                                           direction="lower",
                                           why="the true labels of the gate rows were not kept"))
            continue
        if limit is None:
            checks.append(GateCheck(name=name, metric=name, value=value, status="pass",
                                    direction="lower", message=f"{what} (not limited)"))
            continue
        check = criterion_check(name, metric=name, value=value, threshold=limit,
                                direction="lower", baseline=None, tolerance=0.0)
        op = "needs" if check.failed else "limit"
        checks.append(check.model_copy(update={
            "message": f"{name} = {value:.4g}: {what}; {op} <= {limit:g}"}))
    return checks, measured
