"""The gate: does a run meet the system's success criteria, and did anything regress?

A drop in an eval score is treated like a drop in conversion rate: it blocks the release.
The gate checks, for one run:

* each criterion of the spec whose metric the run measured: the threshold, and the regression
  against the baseline run beyond the criterion's tolerance;
* each metric with its own ``tolerance`` in the eval: regression against the baseline;
* the eval's ``max_error_rate``, and each suite's ``min_pass_rate``.

A criterion the run did not measure is reported as ``unmeasured`` and does not fail the gate
(another eval may measure it); ``compound eval --strict`` makes it fail.

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

from collections.abc import Mapping
from typing import TYPE_CHECKING

from compound.evaluation.results import GateCheck, RunSummary

if TYPE_CHECKING:
    from compound.system import Criterion

FAILING = ("fail", "regressed")


def check_gate(
    run: RunSummary,
    *,
    criteria: Mapping[str, Criterion],
    tolerances: Mapping[str, float | None] | None = None,
    baseline: RunSummary | None = None,
    max_error_rate: float | None = None,
) -> list[GateCheck]:
    """Every check of the gate for ``run``; see the module docstring.

    A metric scored by a judge whose agreement with human labels is below its ``min_kappa``
    (``run.judge_agreement``) is not gated: its checks are ``unmeasured``, saying why.
    """
    from compound.system import Criterion

    values = {m.name: m for m in run.metrics}
    base = {m.name: m.value for m in baseline.metrics} if baseline else {}
    checks: list[GateCheck] = []
    gated: set[str] = set()
    for key, criterion in criteria.items():
        name = criterion.metric or key
        summary = values.get(name)
        common = {"name": key, "metric": name, "threshold": criterion.threshold,
                  "direction": criterion.direction, "tolerance": criterion.tolerance,
                  "baseline": base.get(name)}
        if summary is None:
            checks.append(GateCheck(value=None, status="unmeasured",
                                    message=f"this eval does not measure '{name}'", **common))
            continue
        gated.add(name)
        agreement = run.judge_agreement or {}
        if agreement.get("metric") == name and not agreement.get("trusted"):
            checks.append(GateCheck(
                value=summary.value, status="unmeasured",
                message=f"the judge is not trusted: Cohen's kappa {agreement.get('kappa')} with "
                f"human labels, under {agreement.get('min_kappa')}; fix the rubric or the judge",
                **common,
            ))
            continue
        if summary.value is None:
            checks.append(GateCheck(value=None, status="fail",
                                    message=f"no row could be scored by '{name}'", **common))
            continue
        checks.append(_judge(summary.value, criterion, **common))
    for name, tolerance in (tolerances or {}).items():
        summary = values.get(name)
        if tolerance is None or name in gated or summary is None or summary.value is None:
            continue
        direction = "higher" if summary.higher_is_better else "lower"
        rule = Criterion(threshold=float("-inf") if direction == "higher" else float("inf"),
                         direction=direction, tolerance=tolerance)
        checks.append(_judge(summary.value, rule, name=name, metric=name, threshold=None,
                             direction=direction, tolerance=tolerance, baseline=base.get(name)))
    total = run.counts.get("total", 0)
    if max_error_rate is not None and total:
        rate = run.counts.get("error", 0) / total
        ok = rate <= max_error_rate
        checks.append(GateCheck(
            name="error_rate", metric="error_rate", value=rate, threshold=max_error_rate,
            direction="lower", status="pass" if ok else "fail",
            message="" if ok else f"the target failed on {rate:.1%} of rows, over the "
            f"allowed {max_error_rate:.1%}",
        ))
    for suite in run.suites:
        if suite.min_pass_rate is None:
            continue
        ok = suite.pass_rate >= suite.min_pass_rate
        checks.append(GateCheck(
            name=f"suite:{suite.kind}", metric="pass_rate", value=suite.pass_rate,
            threshold=suite.min_pass_rate, status="pass" if ok else "fail",
            message="" if ok else f"{suite.kind} pass rate {suite.pass_rate:.1%} is under "
            f"{suite.min_pass_rate:.1%}",
        ))
    return checks


def _judge(value: float, criterion: Criterion, **common: object) -> GateCheck:
    baseline = common.get("baseline")
    problems = []
    status = "pass"
    if not criterion.passes(value):
        op = ">=" if criterion.direction == "higher" else "<="
        problems.append(f"{common['metric']} = {value:.4g}, needs {op} {criterion.threshold:g}")
        status = "fail"
    if isinstance(baseline, float | int) and criterion.regressed(value, float(baseline)):
        problems.append(
            f"{common['metric']} regressed {float(baseline):.4g} -> {value:.4g}, beyond the "
            f"tolerance of {criterion.tolerance:g}"
        )
        status = "fail" if status == "fail" else "regressed"
    return GateCheck(value=value, status=status, message="; ".join(problems),  # type: ignore[arg-type]
                     **common)  # type: ignore[arg-type]


def passed(checks: list[GateCheck], *, strict: bool = False) -> bool:
    """No check failed or regressed (and, with ``strict``, none is unmeasured)."""
    failing = (*FAILING, "unmeasured") if strict else FAILING
    return not any(c.status in failing for c in checks)


def failures(checks: list[GateCheck], *, strict: bool = False) -> list[GateCheck]:
    """The checks that make the gate fail."""
    failing = (*FAILING, "unmeasured") if strict else FAILING
    return [c for c in checks if c.status in failing]
