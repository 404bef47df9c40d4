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

Example:
    >>> from compound.system import Criterion
    >>> checks = gate_checks({"accuracy": 0.91}, {"accuracy": 0.93},
    ...     criteria={"accuracy": Criterion(threshold=0.9, tolerance=0.01)}, primary="accuracy")
    >>> [(c.name, c.status) for c in checks]
    [('accuracy', 'regressed')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from compound.errors import UserError
from compound.gating import (
    GateCheck,
    baseline_check,
    criterion_check,
    unmeasured_check,
)
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.system import Criterion


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
) -> list[GateCheck]:
    """Every check of a candidate's ``metrics`` against the criteria and the baseline.

    Args:
        metrics: the candidate's test metrics.
        baseline: the production version's test metrics, if there is one.
        criteria: the criteria that apply (see :func:`applicable_criteria`).
        required: an unmeasured criterion fails (the predictor listed it explicitly).
        primary: the task's main metric, guarded against regression when no criterion is.
    """
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
    return checks
