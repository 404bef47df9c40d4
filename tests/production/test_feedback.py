"""User signals: every kind, validation, linking to runs, the client helper, and durability
under `kill -9`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from serving_apps import ServerProcess, make_app

from compound.production.feedback import FeedbackClient, FeedbackLog, FeedbackRejected
from compound.production.serving.keys import ApiKeys
from compound.production.serving_spec import ServeSpec
from compound.store import MemoryStore, SQLiteStore


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app(MemoryStore(), spec=ServeSpec(auth=False))) as test_client:
        yield test_client


def run_id_of(client: TestClient, text: str = "card?") -> str:
    run_id: str = client.post("/v1/workflows/classify", json={"text": text}).json()["run_id"]
    return run_id


def test_every_kind_of_signal_is_recorded_against_its_run(client: TestClient) -> None:
    run_id = run_id_of(client)
    sent = [
        {"kind": "thumbs", "value": "down", "user": "u1"},
        {"kind": "rating", "value": 2},
        {"kind": "edit", "value": "Your card arrives in 3 days.", "step": "intent"},
        {"kind": "retry", "new_run_id": run_id_of(client, "again")},
        {"kind": "suggestion", "value": "ignored"},
        {"kind": "comment", "value": "wrong intent"},
        {"kind": "correction", "value": "card_arrival", "step": "classify"},
    ]
    for signal in sent:
        response = client.post("/v1/feedback", json={"run_id": run_id, **signal})
        assert response.status_code == 201, response.json()
        stored = response.json()
        assert stored["workflow"] == "classify" and stored["id"] > 0 and stored["ts"] > 0
    listed = client.get("/v1/feedback", params={"run_id": run_id}).json()
    assert [s["kind"] for s in listed] == [s["kind"] for s in sent]
    assert listed[2]["value"] == "Your card arrives in 3 days." and listed[2]["step"] == "intent"
    detail = client.get(f"/v1/runs/{run_id}").json()
    assert listed[6]["value"] == "card_arrival" and listed[6]["step"] == "classify"
    assert len(detail["feedback"]) == 7


@pytest.mark.parametrize("signal", [
    {"kind": "rating", "value": 6},
    {"kind": "rating", "value": "5"},
    {"kind": "thumbs", "value": "sideways"},
    {"kind": "edit"},
    {"kind": "comment", "value": ""},
    {"kind": "applause", "value": 1},
    {"kind": "thumbs", "value": "up", "extra": True},
    {"kind": "correction"},
    {"kind": "correction", "value": ""},
    {"kind": "correction", "value": True},
    {"kind": "correction", "value": "card_arrival", "field": "two words"},
])
def test_a_malformed_signal_is_refused_with_422(client: TestClient, signal: dict) -> None:
    run_id = run_id_of(client)
    response = client.post("/v1/feedback", json={"run_id": run_id, **signal})
    assert response.status_code == 422
    assert response.json()["error"]["problems"]
    assert client.get("/v1/feedback", params={"run_id": run_id}).json() == []


def test_a_signal_about_an_unknown_run_is_404(client: TestClient) -> None:
    response = client.post("/v1/feedback", json={"run_id": "0" * 32, "kind": "thumbs",
                                                 "value": "up"})
    assert response.status_code == 404
    assert "no run '" + "0" * 32 + "'" in response.json()["error"]["message"]


def test_feedback_is_counted_in_metrics_and_the_series(client: TestClient) -> None:
    run_id = run_id_of(client)
    for value in ("up", "up", "down"):
        client.post("/v1/feedback", json={"run_id": run_id, "kind": "thumbs", "value": value})
    client.post("/v1/feedback", json={"run_id": run_id, "kind": "rating", "value": 4})
    metrics = client.get("/metrics").text
    assert 'compound_feedback_total{kind="thumbs",value="up"} 2.0' in metrics
    points = client.get("/v1/monitoring/series", params={"window_s": 600, "points": 6}).json()
    last = [p for p in points["points"] if p["feedback"]][-1]
    assert last["feedback"] == {"thumbs": 3, "rating": 1}
    assert last["thumbs_up_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert last["mean_rating"] == 4.0


def test_the_client_helper_sends_each_kind_and_reports_refusals(client: TestClient) -> None:
    run_id = run_id_of(client)
    helper = FeedbackClient("http://testserver", http=client)
    assert helper.thumbs(run_id, up=True)["value"] == "up"
    assert helper.rate(run_id, 5)["value"] == 5
    assert helper.edit(run_id, "better answer")["kind"] == "edit"
    assert helper.retry(run_id)["kind"] == "retry"
    assert helper.suggestion(run_id, "accepted")["value"] == "accepted"
    assert helper.comment(run_id, "thanks", user="ada")["user"] == "ada"
    assert helper.correct(run_id, "card_arrival", step="classify")["step"] == "classify"
    with pytest.raises(FeedbackRejected) as refused:
        helper.rate("f" * 32, 3)
    assert refused.value.status == 404 and "no run" in refused.value.message


def test_the_log_summarises_signals_over_time() -> None:
    store = MemoryStore()
    store.put("runs", "r1", {"workflow": "w"})
    from compound.production.feedback import parse_signal

    log = FeedbackLog(store)
    for value in ("up", "down", "up"):
        log.record(parse_signal({"run_id": "r1", "kind": "thumbs", "value": value}))
    log.record(parse_signal({"run_id": "r1", "kind": "rating", "value": 3}))
    summary = log.summary(since=0)
    assert summary["by_kind"] == {"thumbs": 3, "rating": 1}
    assert summary["thumbs_up_rate"] == pytest.approx(2 / 3)
    assert summary["mean_rating"] == 3.0
    assert log.count() == 4


@pytest.mark.integration
def test_kill_9_during_a_feedback_stream_loses_no_acknowledged_signal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "compound.db")
    key, _ = ApiKeys(store).create("writer", scope="write")
    headers = {"Authorization": f"Bearer {key}"}
    acked: dict[int, str] = {}
    errors: list[str] = []
    stop = threading.Event()
    with ServerProcess(tmp_path) as server:
        run_id = httpx.post(f"{server.url}/v1/workflows/classify", json={"text": "card"},
                            headers=headers).json()["run_id"]

        def writer(worker: int) -> None:
            with httpx.Client(base_url=server.url, headers=headers, timeout=5.0) as http:
                for i in range(100_000):
                    if stop.is_set():
                        return
                    text = f"w{worker}-{i}"
                    try:
                        response = http.post("/v1/feedback", json={
                            "run_id": run_id, "kind": "comment", "value": text})
                    except httpx.HTTPError as exc:  # the server died under us
                        errors.append(type(exc).__name__)
                        return
                    if response.status_code == 201:
                        acked[response.json()["id"]] = text

        workers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for worker in workers:
            worker.start()
        deadline = time.time() + 30
        while len(acked) < 300 and time.time() < deadline:
            time.sleep(0.01)
        server.kill9()  # mid-stream: the writers still have requests in flight
        stop.set()
        for worker in workers:
            worker.join(10)
    assert len(acked) >= 300, f"only {len(acked)} signals acknowledged before the kill"
    assert errors, "the writers should have seen the server die mid-stream"
    reopened = SQLiteStore(tmp_path / "compound.db")
    stored = {r.seq: r.data["value"] for r in reopened.read("feedback")}
    missing = {seq: text for seq, text in acked.items() if stored.get(seq) != text}
    assert not missing, f"{len(missing)} acknowledged signals lost: {list(missing.items())[:5]}"
    per_run = {r.data["id"] for r in reopened.read(f"feedback:{run_id}")}
    assert set(acked) <= per_run
    assert len(stored) - len(acked) <= len(workers)  # at most one in flight per writer


def test_a_signal_about_a_run_another_server_is_still_committing_is_accepted() -> None:
    # two servers over one store (Ray Serve replicas, processes behind a load balancer):
    # the run was answered by the other one, whose record reaches the store a moment later
    store = MemoryStore()
    with TestClient(make_app(store, spec=ServeSpec(auth=False))) as client:
        writer = threading.Timer(0.3, store.put, args=(
            "runs", "f" * 32, {"workflow": "classify", "status": "completed"}))
        writer.start()
        response = client.post("/v1/feedback", json={"run_id": "f" * 32, "kind": "thumbs",
                                                     "value": "up"})
        writer.join()
        assert response.status_code == 201, response.text
        assert response.json()["workflow"] == "classify"
