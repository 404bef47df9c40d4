"""The gate: thresholds, regressions beyond tolerance, error rates, suite pass rates."""

from __future__ import annotations

from compound.evaluation.gates import check_gate, failures, passed
from compound.evaluation.results import MetricSummary, RunSummary, SuiteSummary
from compound.system import Criterion


def run_with(**values: float) -> RunSummary:
    metrics = [MetricSummary(name=k, metric=k, value=v, higher_is_better=not k.startswith("lat"))
               for k, v in values.items()]
    return RunSummary(id="new", eval="qa", metrics=metrics,
                      counts={"total": 100, "ok": 95, "error": 5, "invalid": 0})


def statuses(checks: list) -> dict[str, str]:
    return {c.name: c.status for c in checks}


def test_threshold_and_direction() -> None:
    criteria = {"f1": Criterion(threshold=0.6), "latency": Criterion(
        metric="lat_ms", threshold=200, direction="lower")}
    ok = check_gate(run_with(f1=0.7, lat_ms=150), criteria=criteria)
    assert statuses(ok) == {"f1": "pass", "latency": "pass"} and passed(ok)
    bad = check_gate(run_with(f1=0.5, lat_ms=250), criteria=criteria)
    assert statuses(bad) == {"f1": "fail", "latency": "fail"}
    assert "lat_ms = 250, needs <= 200" in bad[1].message


def test_regression_beyond_tolerance_against_the_baseline() -> None:
    criteria = {"f1": Criterion(threshold=0.5, tolerance=0.02)}
    baseline = run_with(f1=0.70)
    within = check_gate(run_with(f1=0.69), criteria=criteria, baseline=baseline)
    assert statuses(within) == {"f1": "pass"}
    beyond = check_gate(run_with(f1=0.65), criteria=criteria, baseline=baseline)
    assert statuses(beyond) == {"f1": "regressed"} and not passed(beyond)
    assert "regressed 0.7 -> 0.65" in beyond[0].message
    both = check_gate(run_with(f1=0.3), criteria=criteria, baseline=baseline)
    assert both[0].status == "fail" and "regressed" in both[0].message


def test_metric_tolerances_gate_metrics_without_criteria() -> None:
    baseline = run_with(em=0.5, lat_ms=100)
    checks = check_gate(run_with(em=0.4, lat_ms=130), criteria={},
                        tolerances={"em": 0.05, "lat_ms": 20}, baseline=baseline)
    assert statuses(checks) == {"em": "regressed", "lat_ms": "regressed"}
    better = check_gate(run_with(em=0.6, lat_ms=80), criteria={},
                        tolerances={"em": 0.05, "lat_ms": 20}, baseline=baseline)
    assert passed(better)


def test_unmeasured_criteria_do_not_fail_unless_strict() -> None:
    checks = check_gate(run_with(f1=0.9), criteria={"accuracy": Criterion(threshold=0.9)})
    assert statuses(checks) == {"accuracy": "unmeasured"}
    assert passed(checks) and not passed(checks, strict=True)
    assert [c.name for c in failures(checks, strict=True)] == ["accuracy"]


def test_error_rate_and_suite_pass_rate() -> None:
    run = run_with(f1=0.9)
    run.suites = [SuiteSummary(kind="injection", passed=6, total=10, min_pass_rate=0.9)]
    checks = check_gate(run, criteria={}, max_error_rate=0.02)
    assert statuses(checks) == {"error_rate": "fail", "suite:injection": "fail"}
    assert "5.0% of rows" in checks[0].message


def test_an_untrusted_judge_does_not_gate() -> None:
    run = run_with(quality=0.2)
    run.judge_agreement = {"metric": "quality", "kappa": 0.1, "trusted": False, "min_kappa": 0.6}
    checks = check_gate(run, criteria={"quality": Criterion(threshold=0.8)})
    assert statuses(checks) == {"quality": "unmeasured"} and "not trusted" in checks[0].message
    run.judge_agreement = {**run.judge_agreement, "kappa": 0.9, "trusted": True}
    assert statuses(check_gate(run, criteria={"quality": Criterion(threshold=0.8)})) == {
        "quality": "fail"}
