"""A served system, over real HTTP on 127.0.0.1: personal data and secrets sent in requests
and feedback never reach the store's files nor a read-scope key; a failing step or upstream
answers with a typed error and an id, and the server log has the detail, redacted."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from privacy_payloads import API_KEY, CARD_SPACES, EMAIL, PASSWORD, QUESTION, RAW, leaks
from served_privacy import EchoingUpstream, make_app, serving

pytestmark = pytest.mark.integration


@pytest.fixture
def served(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> Iterator[dict[str, Any]]:
    upstream = EchoingUpstream()
    db = tmp_path / "store" / "compound.db"
    app = make_app(db, upstream.base_url)
    state = app.state.compound
    write, _ = state.keys.create("client", scope="write")
    read, _ = state.keys.create("dashboard", scope="read")
    with caplog.at_level(logging.WARNING, logger="compound.errors"), serving(app) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        yield {"client": client, "state": state, "db": db, "caplog": caplog,
               "write": {"Authorization": f"Bearer {write}"},
               "read": {"Authorization": f"Bearer {read}"}}
    upstream.close()


def _settle(state: Any) -> None:
    """Everything a request left on its way to the store is committed (no WAL checkpoint)."""
    assert state.runner.recorder.flush(10) and state.runner.tracer.flush(10)
    state.monitor.flush()


def _no_raw(body: Any) -> list[str]:
    text = json.dumps(body, ensure_ascii=False)
    return [value for value in RAW if value in text]


def test_requests_and_feedback_leave_no_personal_data_in_the_store_files(
        served: dict[str, Any]) -> None:
    client, state = served["client"], served["state"]
    runs = []
    for workflow in ("ask", "echo"):
        response = client.post(f"/v1/workflows/{workflow}", json={"question": QUESTION},
                               headers=served["write"])
        assert response.status_code == 200, response.text
        assert CARD_SPACES in response.json()["output"]  # the caller gets its own answer
        runs.append(response.json()["run_id"])
    for body in ({"kind": "edit", "value": f"Refund card {CARD_SPACES}", "comment": EMAIL},
                 {"kind": "comment", "value": f"my key is {API_KEY}"}):
        sent = client.post("/v1/feedback", json={"run_id": runs[0], **body},
                           headers=served["write"])
        assert sent.status_code in (200, 201), sent.text
    _settle(state)
    assert leaks(served["db"]) == []
    assert state.store.get("runs", runs[0])["input"]["question"].count("<CREDIT_CARD>") == 2


def test_a_read_key_gets_no_raw_inputs_from_runs_and_review(served: dict[str, Any]) -> None:
    client, state = served["client"], served["state"]
    ask = client.post("/v1/workflows/ask", json={"question": QUESTION}, headers=served["write"])
    echo = client.post("/v1/workflows/echo", json={"question": QUESTION},
                       headers=served["write"])
    # asked before the batch of run records is written, and after
    early = client.get(f"/v1/runs/{echo.json()['run_id']}", headers=served["read"])
    assert early.status_code == 200 and _no_raw(early.json()) == []
    _settle(state)
    for run_id in (ask.json()["run_id"], echo.json()["run_id"]):
        detail = client.get(f"/v1/runs/{run_id}", headers=served["read"])
        assert detail.status_code == 200
        body = detail.json()
        assert "<EMAIL_ADDRESS>" in json.dumps(body["record"]["input"])
        assert _no_raw(body) == []
    review = client.get("/v1/review", headers=served["read"])
    assert review.status_code == 200 and len(review.json()) == 1
    assert "<CREDIT_CARD>" in review.json()[0]["input"] and _no_raw(review.json()) == []
    listed = client.get("/v1/runs", headers=served["read"])
    assert listed.status_code == 200 and _no_raw(listed.json()) == []


@pytest.mark.parametrize(("workflow", "secret", "cause"), [
    ("db", PASSWORD, "RuntimeError"),
    ("upstream", API_KEY, "ProviderUnavailable"),
])
def test_a_failure_answers_a_typed_error_with_an_id_and_logs_the_detail_redacted(
        served: dict[str, Any], workflow: str, secret: str, cause: str) -> None:
    client, state, caplog = served["client"], served["state"], served["caplog"]
    response = client.post(f"/v1/workflows/{workflow}", json={"question": "hello"},
                           headers=served["write"])
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "run_failed" and error["id"].startswith("err_")
    assert cause in error["message"] and error["id"] in error["message"]
    assert secret not in response.text
    stream = client.post(f"/v1/workflows/{workflow}/stream", json={"question": "hello"},
                         headers=served["write"])
    assert stream.status_code == 200 and "err_" in stream.text and secret not in stream.text
    _settle(state)
    record = state.store.get("runs", error["run_id"])
    assert error["id"] in record["error"] and secret not in json.dumps(record)
    assert leaks(served["db"], (secret,)) == []
    logged = [r.getMessage() for r in caplog.records if error["id"] in r.getMessage()]
    assert logged and all(secret not in line for line in logged)
    assert any("<PASSWORD>" in line or "<API_KEY>" in line for line in logged)
    assert secret not in caplog.text
