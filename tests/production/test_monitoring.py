"""Monitoring: Prometheus metrics from requests and spans, rollups over time, online quality."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from serving_apps import Query, make_app

from compound.production.monitoring.quality import OnlineEvaluator
from compound.production.monitoring.rollups import Rollups, percentile, read_series
from compound.production.serving import create_app
from compound.production.serving_spec import ServeSpec
from compound.store import MemoryStore
from compound.workflow import RunContext, Workflow


def guarded_answer(text: str, ctx: RunContext) -> str:
    """A step that reports what other areas report through their spans."""
    with ctx.span("cache", kind="strategy", **{"compound.cache.name": "answers",
                                                "compound.cache.hit": "again" in text}):
        pass
    with ctx.span("rail pii", kind="rail", **{"compound.rail.name": "pii",
                                              "compound.rail.action": "redact"}):
        pass
    failed_over = "fail over" in text
    with ctx.span("fallback", kind="strategy", **{
            "compound.fallback.chain": "big-llm", "compound.fallback.count": int(failed_over),
            "compound.fallback.used": "small-llm" if failed_over else "big-llm"}):
        pass
    return text.upper()


def test_span_attributes_become_prometheus_metrics() -> None:
    flow = Workflow([guarded_answer], name="guarded", input=Query)
    with TestClient(create_app({"guarded": flow}, store=MemoryStore(),
                               spec=ServeSpec(auth=False))) as client:
        for text in ("hello", "hello again", "please fail over"):
            assert client.post("/v1/workflows/guarded", json={"text": text}).status_code == 200
        client.post("/v1/workflows/guarded", json={"text": 3})
        metrics = client.get("/metrics").text
    assert 'compound_cache_lookups_total{cache="answers",result="hit"} 1.0' in metrics
    assert 'compound_cache_lookups_total{cache="answers",result="miss"} 2.0' in metrics
    assert 'compound_guardrail_verdicts_total{rail="pii",verdict="redact"} 3.0' in metrics
    assert 'compound_fallbacks_total{component="big-llm",to="small-llm"} 1.0' in metrics
    assert 'compound_runs_total{status="completed",workflow="guarded"} 3.0' in metrics
    assert ('compound_http_requests_total{method="POST",route="/v1/workflows/guarded",'
            'status="422"} 1.0') in metrics
    assert 'compound_errors_total{type="422",where="http"} 1.0' in metrics
    assert "compound_http_request_duration_seconds_bucket" in metrics


def test_model_tokens_and_failures_are_counted() -> None:
    with TestClient(make_app(MemoryStore(), spec=ServeSpec(auth=False))) as client:
        client.post("/v1/workflows/answer", json={"text": "capital?"})
        client.post("/v1/workflows/broken", json={"text": "x"})
        metrics = client.get("/metrics").text
    assert 'compound_tokens_total{direction="output",model="scripted"} 13.0' in metrics
    assert 'compound_runs_total{status="failed",workflow="broken"} 1.0' in metrics
    assert 'compound_errors_total{type="RunFailed",where="run"} 1.0' in metrics


def test_the_series_charts_traffic_latency_errors_fallbacks_and_cost() -> None:
    flow = Workflow([guarded_answer], name="guarded", input=Query)
    with TestClient(create_app({"guarded": flow}, store=MemoryStore(),
                               spec=ServeSpec(auth=False, rate_limit=None))) as client:
        for i in range(10):
            client.post("/v1/workflows/guarded",
                        json={"text": "fail over" if i < 3 else "hello again"})
        series = client.get("/v1/monitoring/series", params={"window_s": 300,
                                                             "points": 30}).json()
    points = [p for p in series["points"] if p["requests"]]
    assert sum(p["requests"] for p in points) == 10
    # ten runs may straddle two intervals: add the intervals up (one cache lookup per run)
    assert sum(p["fallback_rate"] * p["requests"] for p in points) == pytest.approx(3)
    assert sum(p["cache_hit_rate"] * p["requests"] for p in points) == pytest.approx(7)
    assert sum(p["verdicts"]["redact"] for p in points) == 10
    assert all(p["p99_ms"] >= p["p50_ms"] > 0 for p in points)


def test_rollups_merge_instances_and_percentiles_come_from_the_histogram() -> None:
    store = MemoryStore()
    a, b = Rollups(store, instance="a", bucket_s=10), Rollups(store, instance="b", bucket_s=10)
    for ms in range(1, 101):
        (a if ms % 2 else b).record_request("w", latency_s=ms / 1000, error=None, now=1005.0)
    a.record_request("w", latency_s=0.5, error="RunFailed", now=1015.0)
    a.flush(now=1016.0)
    b.flush(now=1016.0)
    points = read_series(store, since=1000, until=1020, step_s=10)
    assert [p["requests"] for p in points] == [100, 1]
    assert points[0]["p50_ms"] == pytest.approx(50, rel=0.15)
    assert points[0]["p99_ms"] == pytest.approx(99, rel=0.15)
    assert points[1]["error_rate"] == 1.0 and points[1]["error_types"] == {"RunFailed": 1}
    assert percentile({}, 0.5) is None


def test_a_written_bucket_is_replaced_by_the_live_one_of_the_same_process() -> None:
    store = MemoryStore()
    rollups = Rollups(store, instance="me", bucket_s=10)
    rollups.record_request("w", latency_s=0.01, error=None, now=1001.0)
    rollups.flush(now=1002.0)
    rollups.record_request("w", latency_s=0.01, error=None, now=1003.0)
    assert read_series(store, since=1000, until=1010, step_s=10,
                       live=rollups)[0]["requests"] == 2


def test_online_evaluators_chart_quality_over_time() -> None:
    short = OnlineEvaluator("short", lambda prediction: len(prediction) < 30)
    app = make_app(MemoryStore(), spec=ServeSpec(auth=False, flush_every_s=60),
                   evaluators=[short])
    with TestClient(app) as client:
        for _ in range(4):
            client.post("/v1/workflows/classify", json={"text": "card"})  # 'card_arrival'
        client.post("/v1/workflows/answer", json={"text": "long one"})  # 66 characters
        flushed = app.state.compound.monitor.flush()
        assert flushed["scores"] == 5
        series = client.get("/v1/monitoring/series", params={"window_s": 300}).json()
        scores = [p["quality"]["short"] for p in series["points"] if p["quality"]]
        assert scores and scores[-1] == pytest.approx(0.8)
        stored = [r.data for r in app.state.compound.store.read("quality")]
        assert len(stored) == 5 and {s["metric"] for s in stored} == {"short"}
        assert 'compound_quality_score{metric="short"}' in client.get("/metrics").text


def test_recent_runs_list_newest_first_across_flushes() -> None:
    app = make_app(MemoryStore(), spec=ServeSpec(auth=False, flush_every_s=60))
    with TestClient(app) as client:
        first = client.post("/v1/workflows/classify", json={"text": "a"}).json()["run_id"]
        app.state.compound.monitor.flush()
        time.sleep(0.01)
        second = client.post("/v1/workflows/classify", json={"text": "b"}).json()["run_id"]
        runs = client.get("/v1/runs").json()
    assert [r["run_id"] for r in runs[:2]] == [second, first]
    assert runs[0]["status"] == "completed" and runs[0]["workflow"] == "classify"
