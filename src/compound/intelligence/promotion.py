"""The promotion gate: may a candidate model version replace the production one?

A candidate passes when, for every criterion that applies to it, its test metric meets the
threshold and is not worse than production's by more than the criterion's tolerance. Which
criteria apply: those the predictor lists under ``criteria`` (each must be measured), else
every system criterion whose metric the model reports. The task's primary metric (accuracy,
ROC-AUC for a binary classifier, R² or nDCG@10) must also not regress when no criterion
covers it, with zero tolerance.

Example:
    >>> from compound.system import Criterion
    >>> checks = gate_checks({"accuracy": 0.91}, {"accuracy": 0.93},
    ...     criteria={"accuracy": Criterion(threshold=0.9, tolerance=0.01)}, primary="accuracy")
    >>> [(c.name, c.status) for c in checks]
    [('accuracy', 'regressed')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from compound.errors import UserError
from compound.specfile import did_you_mean

if TYPE_CHECKING:
    from compound.system import Criterion

Status = Literal["pass", "fail", "regressed", "unmeasured"]


@dataclass(frozen=True)
class GateCheck:
    """One criterion's verdict on a candidate."""

    name: str
    metric: str
    status: Status
    value: float | None
    threshold: float | None
    baseline: float | None
    direction: str
    tolerance: float
    reason: str

    @property
    def blocks(self) -> bool:
        """Whether this check stops the promotion."""
        return self.status in ("fail", "regressed")


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
    base = dict(baseline or {})
    checks: list[GateCheck] = []
    covered: set[str] = set()
    for key, criterion in criteria.items():
        metric = criterion.metric or key
        covered.add(metric)
        value, before = metrics.get(metric), base.get(metric)
        common = {"name": key, "metric": metric, "value": value,
                  "threshold": criterion.threshold, "baseline": before,
                  "direction": criterion.direction, "tolerance": criterion.tolerance}
        op = ">=" if criterion.direction == "higher" else "<="
        if value is None:
            status: Status = "fail" if required else "unmeasured"
            reason = (f"the model does not report '{metric}'; "
                      f"{'it is listed in its criteria' if required else 'not gated here'}")
        elif not criterion.passes(value):
            status, reason = "fail", f"{value:.4f} is not {op} {criterion.threshold:g}"
        elif before is not None and criterion.regressed(value, before):
            status = "regressed"
            reason = (f"{value:.4f} is worse than production's {before:.4f} by more than the "
                      f"tolerance {criterion.tolerance:g}")
        else:
            status = "pass"
            reason = f"{value:.4f} {op} {criterion.threshold:g}" + (
                f", production {before:.4f}" if before is not None else "")
        checks.append(GateCheck(status=status, reason=reason, **common))  # type: ignore[arg-type]
    if primary and primary not in covered and primary in metrics:
        checks.append(_no_regression(primary, metrics[primary], base.get(primary)))
    return checks


def _no_regression(metric: str, value: float, before: float | None) -> GateCheck:
    lower_is_better = metric in ("rmse", "mae", "log_loss", "brier", "ece")
    worse = before is not None and (value > before if lower_is_better else value < before)
    status: Status = "regressed" if worse else "pass"
    reason = (f"{value:.4f} against production's {before:.4f} (primary metric, no tolerance)"
              if before is not None else f"{value:.4f}; no production version to compare with")
    return GateCheck(name=f"{metric} (primary)", metric=metric, status=status, value=value,
                     threshold=None, baseline=before,
                     direction="lower" if lower_is_better else "higher", tolerance=0.0,
                     reason=reason)
