"""The one gate: its checks, its decision, and a metric's direction read from the metric."""

from __future__ import annotations

import pytest

from compound.evaluation.gates import check_gate
from compound.evaluation.results import MetricSummary, RunSummary
from compound.gating import (
    GateCheck,
    baseline_check,
    criterion_check,
    failures,
    passed,
    warnings,
)
from compound.intelligence.promotion import gate_checks
from compound.metrics.registry import available_metrics, get_metric, lower_is_better
from compound.metrics.trained import TRAINED_METRICS
from compound.system import Criterion, System


def test_one_check_type_for_every_gate() -> None:
    from compound.evaluation import results

    assert results.GateCheck is GateCheck
    run = RunSummary(id="r", eval="e", metrics=[MetricSummary(name="f1", metric="f1", value=0.9)])
    [from_eval] = check_gate(run, criteria={"f1": Criterion(threshold=0.5)})
    [from_promotion] = gate_checks({"accuracy": 0.9}, None,
                                   criteria={"accuracy": Criterion(threshold=0.5)})
    assert type(from_eval) is GateCheck and type(from_promotion) is GateCheck


@pytest.mark.parametrize("name", ["latency_ms", "latency_s", "cost_usd", "total_tokens", "mae",
                                  "rmse", "log_loss", "brier", "ece", "ece_uncalibrated"])
def test_lower_is_better_comes_from_the_metric_definition(name: str) -> None:
    assert lower_is_better(name)


@pytest.mark.parametrize("name", ["accuracy", "macro_f1", "roc_auc", "r2", "ndcg@10", "mrr@10",
                                  "token_f1", "groundedness", "recall"])
def test_higher_is_better_for_the_others(name: str) -> None:
    assert not lower_is_better(name)


def test_a_metric_defined_twice_has_one_direction() -> None:
    registered = set(available_metrics())
    both = registered & set(TRAINED_METRICS)
    assert {"accuracy", "mae", "rmse", "r2"} <= both
    for name in both:
        assert get_metric(name).higher_is_better == TRAINED_METRICS[name].higher_is_better, name


def test_every_metric_a_trained_model_reports_is_defined() -> None:
    from compound.evaluation.checks import MODEL_METRICS

    assert {m.partition("@")[0] for m in MODEL_METRICS} <= set(TRAINED_METRICS)


def test_a_criterion_without_direction_takes_its_metrics() -> None:
    system = System.model_validate({
        "name": "s", "loop": "interaction", "task": "t",
        "criteria": {"calibrated": {"metric": "ece_uncalibrated", "threshold": 0.1},
                     "forced": {"metric": "ece", "threshold": 0.1, "direction": "higher"}},
    })
    checks = {c.name: c for c in gate_checks({"ece_uncalibrated": 0.05, "ece": 0.05}, None,
                                              criteria=system.criteria)}
    # ece 0.05 is under the 0.1 allowed; only the explicit `direction: higher` makes it fail
    assert (checks["calibrated"].status, checks["calibrated"].direction) == ("pass", "lower")
    assert (checks["forced"].status, checks["forced"].direction) == ("fail", "higher")
    run = RunSummary(id="r", eval="e", metrics=[
        MetricSummary(name="p95", metric="latency_ms", value=900.0, higher_is_better=False)])
    [latency] = check_gate(run, criteria={"p95": Criterion(threshold=1000)})
    assert (latency.status, latency.direction) == ("pass", "lower")


def test_the_primary_metric_is_held_in_its_own_direction() -> None:
    # ece_uncalibrated was missing from the promotion gate's list: a rise read as a gain
    [worse] = gate_checks({"ece_uncalibrated": 0.2}, {"ece_uncalibrated": 0.1}, criteria={},
                          primary="ece_uncalibrated")
    assert worse.status == "regressed" and worse.direction == "lower"
    [better] = gate_checks({"ece_uncalibrated": 0.05}, {"ece_uncalibrated": 0.1},
                           criteria={}, primary="ece_uncalibrated")
    assert better.status == "pass"


def test_threshold_regression_and_min_gain() -> None:
    both = criterion_check("c", metric="m", value=0.3, threshold=0.5, direction="higher",
                           baseline=0.7, tolerance=0.02)
    assert both.status == "fail" and "needs >= 0.5" in both.message and "regressed" in both.message
    within = criterion_check("c", metric="m", value=120.0, threshold=200.0, direction="lower",
                             baseline=100.0, tolerance=20.0)
    assert within.status == "pass"
    assert criterion_check("c", metric="m", value=121.0, threshold=200.0, direction="lower",
                           baseline=100.0, tolerance=20.0).status == "regressed"
    short = baseline_check("m (improve)", metric="m", value=0.91, baseline=0.90,
                           direction="higher", min_gain=0.05)
    assert short.status == "regressed" and "less than the 0.05 required" in short.message
    assert baseline_check("m", metric="m", value=0.2, baseline=None,
                          direction="lower").status == "pass"


def test_a_failed_latency_check_warns_only_where_asked() -> None:
    slow = GateCheck(name="p95", metric="latency_ms", value=9000.0, status="fail",
                     threshold=8000.0, direction="lower", kind="latency")
    wrong = GateCheck(name="acc", metric="accuracy", value=0.5, status="fail", threshold=0.8)
    unmeasured = GateCheck(name="f1", metric="f1", value=None, status="unmeasured")
    assert failures([slow, wrong]) == [slow, wrong]  # compound eval: every failure counts
    assert failures([slow, wrong], latency_warns=True) == [wrong]
    assert warnings([slow, wrong]) == [slow]
    assert passed([slow], latency_warns=True) and not passed([slow])
    assert passed([unmeasured]) and not passed([unmeasured], strict=True)


def test_the_declared_direction_follows_the_eval_metric_to_its_definition() -> None:
    from compound.evaluation.gates import declared_direction

    system = System.model_validate({
        "name": "s", "loop": "interaction", "task": "t",
        "criteria": {"p95": {"threshold": 4000}, "f1": {"metric": "token_f1", "threshold": 0.5},
                     "slow_is_good": {"metric": "p95", "threshold": 1, "direction": "higher"}},
        "evals": {"speed": {
            "dataset": {"path": "data.jsonl", "inputs": ["question"], "expected": "answer"},
            "target": {"model": "llm", "prompt": "{question}"},
            "metrics": [{"name": "p95", "metric": "latency_ms", "aggregate": "p95"},
                        "token_f1"]}},
    })
    assert [declared_direction(system, k) for k in system.criteria] == [
        "lower", "higher", "higher"]
