"""The gate over an eval run: does it meet the system's success criteria, and did anything
regress? The checks and the decision are those of the one gate, :mod:`compound.gating`.

A drop in an eval score is treated like a drop in conversion rate: it blocks the release.
The gate checks, for one run:

* each criterion of the spec whose metric the run measured: the threshold, and the regression
  against the baseline run beyond the criterion's tolerance;
* each metric with its own ``tolerance`` in the eval: regression against the baseline;
* the eval's ``max_error_rate``, and each suite's ``min_pass_rate``.

A criterion without ``direction:`` is held in its metric's own direction, the one the run
recorded with the metric's value (``MetricSummary.higher_is_better``, from the metric's
definition). A criterion the run did not measure is reported as ``unmeasured`` and does not
fail the gate (another eval may measure it); ``compound eval --strict`` makes it fail.

Example:
    >>> from compound.system import Criterion
    >>> from compound.evaluation.results import MetricSummary, RunSummary
    >>> run = RunSummary(id="r2", eval="qa", metrics=[MetricSummary(name="f1", metric="token_f1",
    ...                  value=0.50)])
    >>> base = RunSummary(id="r1", eval="qa", metrics=[MetricSummary(name="f1",
    ...                   metric="token_f1", value=0.60)])
    >>> checks = check_gate(run, criteria={"f1": Criterion(threshold=0.4, tolerance=0.05)},
    ...                     baseline=base)
    >>> [(c.name, c.status) for c in checks], passed(checks)
    ([('f1', 'regressed')], False)
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from compound.gating import (
    GateCheck,
    baseline_check,
    criterion_check,
    failures,
    passed,
    rule_check,
    unmeasured_check,
)

if TYPE_CHECKING:
    from compound.evaluation.results import RunSummary
    from compound.gating import Direction
    from compound.system import Criterion, System

__all__ = ["check_gate", "declared_direction", "error_rate_check", "failures", "passed"]


def check_gate(
    run: RunSummary,
    *,
    criteria: Mapping[str, Criterion],
    tolerances: Mapping[str, float | None] | None = None,
    baseline: RunSummary | None = None,
    max_error_rate: float | None = None,
    latency: Collection[str] = (),
) -> list[GateCheck]:
    """Every check of the gate for ``run``; see the module docstring.

    A metric scored by a judge whose agreement with human labels is below its ``min_kappa``
    (``run.judge_agreement``) is not gated: its checks are ``unmeasured``, saying why. The
    checks of metrics named in ``latency`` are of kind ``latency`` (see :mod:`compound.gating`).
    """
    values = {m.name: m for m in run.metrics}
    base = {m.name: m.value for m in baseline.metrics} if baseline else {}
    checks: list[GateCheck] = []
    gated: set[str] = set()
    for key, criterion in criteria.items():
        name = criterion.metric or key
        summary = values.get(name)
        kind = "latency" if name in latency else "quality"
        lower = summary is not None and not summary.higher_is_better
        direction = criterion.held_direction(lower_is_better=lower)
        common = {"metric": name, "threshold": criterion.threshold, "direction": direction,
                  "kind": kind}
        if summary is None:
            checks.append(unmeasured_check(key, why=f"this eval does not measure '{name}'",
                                           **common))  # type: ignore[arg-type]
            continue
        gated.add(name)
        agreement = run.judge_agreement or {}
        if agreement.get("metric") == name and not agreement.get("trusted"):
            checks.append(unmeasured_check(
                key, value=summary.value,
                why=f"the judge is not trusted: Cohen's kappa {agreement.get('kappa')} with "
                f"human labels, under {agreement.get('min_kappa')}; fix the rubric or the judge",
                **common))  # type: ignore[arg-type]
            continue
        if summary.value is None:
            checks.append(unmeasured_check(key, why=f"no row could be scored by '{name}'",
                                           required=True, **common))  # type: ignore[arg-type]
            continue
        before = base.get(name)
        checks.append(criterion_check(key, value=summary.value, baseline=before,
                                      tolerance=criterion.tolerance,
                                      **common))  # type: ignore[arg-type]
    for name, tolerance in (tolerances or {}).items():
        summary = values.get(name)
        if tolerance is None or name in gated or summary is None or summary.value is None:
            continue
        checks.append(baseline_check(
            name, metric=name, value=summary.value, baseline=base.get(name),
            direction="higher" if summary.higher_is_better else "lower", tolerance=tolerance,
            kind="latency" if name in latency else "quality"))
    errors = error_rate_check(run, max_error_rate)
    if errors is not None:
        checks.append(errors)
    for suite in run.suites:
        if suite.min_pass_rate is None:
            continue
        checks.append(rule_check(
            f"suite:{suite.kind}", metric="pass_rate", value=suite.pass_rate,
            threshold=suite.min_pass_rate, direction="higher",
            problem=f"{suite.kind} pass rate {suite.pass_rate:.1%} is under "
            f"{suite.min_pass_rate:.1%}"))
    return checks


def error_rate_check(run: RunSummary, max_error_rate: float | None) -> GateCheck | None:
    """The eval's ``max_error_rate`` held on ``run`` (None: no limit, or no rows)."""
    total = run.counts.get("total", 0)
    if max_error_rate is None or not total:
        return None
    rate = run.counts.get("error", 0) / total
    return rule_check(
        "error_rate", metric="error_rate", value=rate, threshold=max_error_rate,
        direction="lower", problem=f"the target failed on {rate:.1%} of rows, over the "
        f"allowed {max_error_rate:.1%}")


def declared_direction(system: System, key: str) -> Direction:
    """The direction criterion ``key`` of ``system`` is held to before any eval ran: its own
    ``direction:``, else that of the metric it reads (through the eval metric of that name,
    ``{name: p95_latency_ms, metric: latency_ms}``, to the registered metric's definition).
    A ``function:`` metric is not imported for this; it reads higher-is-better here."""
    from compound.metrics.registry import lower_is_better

    criterion = system.criteria[key]
    metric = criterion.metric or key
    registered = next((m.registered_name for ev in system.evals.values()
                       for m in ev.metric_specs() if m.name == metric and not m.function),
                      metric)
    return criterion.held_direction(lower_is_better=lower_is_better(registered))
