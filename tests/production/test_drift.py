"""Drift: PSI, Kolmogorov-Smirnov, embedding drift, and the monitor that writes alerts."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serving_apps import make_app

from compound.intelligence.embedders import FakeEmbedder
from compound.production.monitoring.drift import embedding_drift, ks_2samp, psi, psi_categorical
from compound.production.monitoring.drift_monitor import DriftMonitor, InputLog, recent_alerts
from compound.production.serving_spec import DriftSpec, ServeSpec
from compound.store import MemoryStore

RNG = np.random.default_rng(7)


def test_psi_is_zero_for_identical_windows_and_grows_with_the_shift() -> None:
    reference = RNG.normal(0, 1, 2000)
    assert psi(reference, reference) == pytest.approx(0.0, abs=1e-9)
    values = [psi(reference, RNG.normal(shift, 1, 2000)) for shift in (0.0, 0.25, 0.5, 1.0)]
    assert values[0] < 0.05 and values == sorted(values) and values[-1] > 0.5


def test_psi_matches_a_hand_computed_value() -> None:
    # two bins cut at the reference's median; current puts 80% where the reference had 50%
    reference = [1, 2, 3, 4] * 25
    current = [1] * 80 + [4] * 20
    by_hand = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert psi(reference, current, bins=2) == pytest.approx(by_hand, rel=1e-6)


def test_categorical_psi_notices_a_new_category() -> None:
    before = ["FR"] * 50 + ["DE"] * 50
    assert psi_categorical(before, before) == pytest.approx(0.0, abs=1e-9)
    assert psi_categorical(before, ["FR"] * 50 + ["BR"] * 50) > 1.0


def test_ks_statistic_and_p_value_agree_with_scipy() -> None:
    stats = pytest.importorskip("scipy.stats", reason="scipy (the ml extra) checks our KS")
    for shift, n, m in ((0.0, 300, 200), (0.3, 300, 200), (1.0, 80, 120)):
        a, b = RNG.normal(0, 1, n), RNG.normal(shift, 1, m)
        ours = ks_2samp(a, b)
        theirs = stats.ks_2samp(a, b, method="asymp")
        assert ours.statistic == pytest.approx(theirs.statistic, abs=1e-12)
        assert ours.p_value == pytest.approx(theirs.pvalue, abs=0.02)


def test_ks_separates_same_from_shifted_distributions() -> None:
    reference = RNG.uniform(0, 1, 500)
    assert ks_2samp(reference, RNG.uniform(0, 1, 500)).p_value > 0.01
    assert ks_2samp(reference, RNG.uniform(0.2, 1.2, 500)).p_value < 1e-6


def test_embedding_drift_flags_a_change_of_topic_not_a_resample() -> None:
    embedder = FakeEmbedder(dim=64)
    cards = [f"when will my new card {w} arrive" for w in ("visa", "debit", "credit", "metal")]
    rates = [f"what is the exchange rate for {c}" for c in ("euro", "yen", "pound", "franc")]
    rng = np.random.default_rng(0)

    def sample(texts: list[str], n: int) -> np.ndarray:
        return embedder.embed([texts[i] for i in rng.integers(0, len(texts), n)])

    same = embedding_drift(sample(cards, 80), sample(cards, 80), permutations=100)
    moved = embedding_drift(sample(cards, 80), sample(rates, 80), permutations=100)
    assert same.p_value > 0.05
    assert moved.p_value < 0.02 and moved.centroid_distance > same.centroid_distance


def test_the_input_log_keeps_a_bounded_uniform_sample() -> None:
    store = MemoryStore()
    log = InputLog(store, per_flush=10, seed=1)
    for i in range(1000):
        log.add("w", {"x": i, "nested": {"skipped": True}})
    assert log.flush() == 10
    kept = [r.data["input"] for r in store.read("inputs:w")]
    assert all(set(row) == {"x"} for row in kept)
    assert np.mean([row["x"] for row in kept]) > 200  # not just the first ten


def drift_spec() -> DriftSpec:
    return DriftSpec(reference_size=100, min_samples=30, window_s=3600, embedder="fake",
                     max_per_s=1000)


def test_the_monitor_reports_drift_per_field_and_alerts_once() -> None:
    store = MemoryStore()
    log = InputLog(store, per_flush=10_000)
    for _ in range(100):
        log.add("score", {"amount": float(RNG.normal(100, 10)), "country": "FR"})
    for i in range(100):
        log.add("score", {"amount": float(RNG.normal(100, 10)),
                          "country": "FR" if i % 2 else "BR"})
    log.flush()
    monitor = DriftMonitor(store, drift_spec())
    report = monitor.check("score")
    fields = {f.field: f for f in report.fields}
    assert report.status == "drift"
    assert not fields["amount"].drifted and fields["amount"].kind == "numeric"
    assert fields["country"].drifted and fields["country"].kind == "categorical"
    monitor.check("score")  # still drifting: no second alert
    alerts = recent_alerts(store)
    assert len(alerts) == 1 and "'country'" in alerts[0]["message"]


def test_too_few_inputs_give_no_verdict() -> None:
    store = MemoryStore()
    log = InputLog(store, per_flush=100)
    for i in range(20):
        log.add("score", {"amount": float(i)})
    log.flush()
    report = DriftMonitor(store, drift_spec()).check("score")
    assert report.status == "insufficient_data" and "need 30" in report.message


def test_a_pinned_reference_replaces_the_first_inputs() -> None:
    store = MemoryStore()
    monitor = DriftMonitor(store, drift_spec())
    log = InputLog(store, per_flush=1000)
    for _ in range(100):
        log.add("score", {"amount": float(RNG.normal(0, 1))})
    log.flush()
    assert monitor.check("score").status == "insufficient_data"  # all of it is reference
    assert monitor.pin_reference("score", since=0, until=1e12) == 100
    for _ in range(100):
        log.add("score", {"amount": float(RNG.normal(3, 1))})
    log.flush()
    monitor.pin_reference("score", since=0, until=1e12)
    report = monitor.check("score")
    assert report.n_reference == 200


def test_served_inputs_feed_drift_and_the_check_endpoint_writes_alerts() -> None:
    spec = ServeSpec(auth=False, rate_limit=None, drift=drift_spec())
    with TestClient(make_app(MemoryStore(), spec=spec, embedder=FakeEmbedder())) as client:
        for i in range(100):
            client.post("/v1/workflows/score", json={"amount": 10.0 + i % 7, "country": "FR"})
        client.post("/v1/drift/check")  # the first 100 inputs become the reference
        for i in range(60):
            client.post("/v1/workflows/score", json={"amount": 900.0 + i, "country": "FR"})
        reports = client.post("/v1/drift/check").json()["reports"]
        score = next(r for r in reports if r["workflow"] == "score")
        assert score["status"] == "drift"
        amount = next(f for f in score["fields"] if f["field"] == "amount")
        assert amount["drifted"] and amount["psi"] > 1 and amount["p_value"] < 1e-6
        shown = client.get("/v1/drift").json()
        assert any(a["field"] == "amount" for a in shown["alerts"])
        assert 'compound_drift_alerts_active{workflow="score"} 1.0' in client.get("/metrics").text


def test_a_psi_that_small_samples_produce_by_chance_is_not_significant() -> None:
    from compound.production.monitoring.drift import psi_bins, psi_p_value

    chance = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        value, bins = psi_bins(rng.normal(0, 1, 100), rng.normal(0, 1, 100))
        chance.append(psi_p_value(value, 100, 100, bins))
    # same distribution: p-values spread over (0, 1), about 1% fall below 0.01
    assert np.mean(np.array(chance) < 0.01) < 0.05
    assert 0.3 < float(np.median(chance)) < 0.7
    value, bins = psi_bins(RNG.normal(0, 1, 100), RNG.normal(1.5, 1, 100))
    assert psi_p_value(value, 100, 100, bins) < 1e-6


def test_free_text_fields_are_compared_by_their_embeddings() -> None:
    store = MemoryStore()
    log = InputLog(store, per_flush=10_000)
    cards = ["when will the replacement card I ordered last week finally arrive",
             "my new debit card has still not arrived in the post, what can I do",
             "how long does delivery of a physical card usually take these days"]
    rates = ["which exchange rate do you apply when I pay abroad in another currency",
             "why was I charged a different exchange rate than the one shown online",
             "is there a fee on top of the exchange rate for foreign card payments"]
    for i in range(100):
        log.add("ask", {"question": cards[i % 3]})
    for i in range(60):
        log.add("ask", {"question": cards[i % 3] if i % 4 else rates[i % 3]})
    for i in range(60):
        log.add("ask", {"question": rates[i % 3]})
    log.flush()
    monitor = DriftMonitor(store, drift_spec(), embedder=FakeEmbedder())
    report = monitor.check("ask")
    question = report.fields[0]
    assert question.kind == "text" and question.drifted
    assert question.p_value is not None and question.p_value < 0.01
    assert question.centroid_distance is not None and question.centroid_distance > 0.05
