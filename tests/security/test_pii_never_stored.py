"""Personal data and secrets never reach the store's files: every record kind passes the
redacting layer (compound.store.redacting) before it is written.

Each record kind is written through the code that writes it in a real system, to a real
SQLite file opened by ``open_store``; then the raw bytes of the database, its -wal and -shm
files are searched for every payload, without a checkpoint first.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from privacy_payloads import (
    API_KEY,
    CARD_DASHES,
    CARD_SPACES,
    EMAIL,
    IBAN,
    PASSWORD,
    PHONE,
    QUESTION,
    leaks,
)

from compound.intelligence.llm import Message, ScriptedLLM
from compound.production.feedback.log import FeedbackLog
from compound.production.feedback.signals import parse_signal
from compound.production.monitoring.drift_monitor import InputLog
from compound.production.monitoring.quality import record_score
from compound.store import RedactingStore, SQLiteStore, Store, open_store
from compound.strategy.cache.exact import StoreBackend
from compound.strategy.review import ReviewQueue
from compound.system import System
from compound.workflow import Step, Workflow
from compound.workflow.context import RunContext
from compound.workflow.engine import StepFailed
from compound.workflow.runs import resume, start
from compound.workflow.state import RUNS, Checkpoints, Journal, Session
from compound.workflow.tracing import StoreSink, Tracer, read_spans

REPLY = f"I will write to {EMAIL} about card {CARD_SPACES}."


def _open(tmp_path: Path) -> tuple[Store, Path]:
    db = tmp_path / "store" / "compound.db"
    return open_store(path=db), db


def _answer_flow(llm: ScriptedLLM) -> Workflow:
    def intake(question: str, ctx: RunContext) -> dict[str, Any]:
        draft = ctx.complete(llm, f"Answer the customer: {question}").text
        assert ctx.store is not None
        ReviewQueue(ctx.store).submit(question, proposed=draft, confidence=0.3,
                                      reason="below_threshold", run_id=ctx.run_id,
                                      context={"customer": question})
        return {"question": question, "draft": draft}

    def reply(intake: dict[str, Any]) -> str:
        return f"{intake['draft']} (you asked: {intake['question']})"

    return Workflow([Step(intake, name="intake", inputs={"question": "input.question"}),
                     Step(reply, name="reply", inputs={"intake": "intake"})], name="answer")


def _run_kinds(store: Store) -> str:
    result = start(_answer_flow(ScriptedLLM([REPLY])), {"question": QUESTION}, store=store)
    assert CARD_SPACES in result.output  # the caller gets the raw answer; the store does not
    return result.run_id


def _write_run_checkpoints_journal_trace_review(store: Store) -> None:
    run_id = _run_kinds(store)
    record = store.get(RUNS, run_id)
    assert "<CREDIT_CARD>" in json.dumps(record["input"]) and "<EMAIL_ADDRESS>" in json.dumps(
        record["output"])
    assert "<IBAN_CODE>" in json.dumps(Checkpoints(store, run_id).completed())
    assert "<EMAIL_ADDRESS>" in json.dumps(Journal.of_run(store, run_id))
    assert "<API_KEY>" in json.dumps(read_spans(store, run_id))
    item = ReviewQueue(store).entries()[0]
    assert "<PHONE_NUMBER>" in item.input and "<EMAIL_ADDRESS>" in item.proposed


def _write_feedback(store: Store) -> None:
    store.put(RUNS, "ab" * 16, {"workflow": "answer", "status": "completed"})
    log = FeedbackLog(store)
    for body in ({"kind": "edit", "value": f"Refund to {IBAN}, card {CARD_DASHES}",
                  "comment": f"customer is {EMAIL}"},
                 {"kind": "comment", "value": f"call {PHONE}, key {API_KEY}"},
                 {"kind": "correction", "step": "intent", "value": f"password={PASSWORD}"}):
        log.record(parse_signal({"run_id": "ab" * 16, **body}))
    stored = json.dumps(log.for_run("ab" * 16))
    assert "<IBAN_CODE>" in stored and "<API_KEY>" in stored and "<PASSWORD>" in stored


def _write_monitoring(store: Store) -> None:
    inputs = InputLog(store, per_flush=4)
    inputs.add("answer", {"question": QUESTION, "amount": 12.5}, "cd" * 16)
    assert inputs.flush() == 1
    record_score(store, evaluator="grounded", workflow="answer", run_id="cd" * 16, value=0.2,
                 reason=f"the answer quotes {EMAIL}")
    sample = next(store.read("inputs:answer")).data
    assert "<CREDIT_CARD>" in sample["input"]["question"] and sample["input"]["amount"] == 12.5


def _write_session_and_cache(store: Store) -> None:
    Session(store, "user-1").append(Message("user", QUESTION), Message("assistant", REPLY))
    StoreBackend(store).put("k1", {"prompt": QUESTION, "completion": {"text": REPLY}})
    assert "<EMAIL_ADDRESS>" in Session(store, "user-1").messages()[0].content


def _write_numbers_and_keys(store: Store) -> None:
    # a card number sent as a JSON number, and secrets under secret-sounding keys
    store.put(RUNS, "ef" * 16, {"input": {"card_number": int(CARD_SPACES.replace(" ", "")),
                                          "api_key": "short", "password": PASSWORD},
                                "trace_id": "9f86d081884c7d659f86d081884c7d65"})
    record = store.get(RUNS, "ef" * 16)
    assert record["input"] == {"card_number": "<CREDIT_CARD>", "api_key": "<SECRET>",
                               "password": "<SECRET>"}
    assert record["trace_id"] == "9f86d081884c7d659f86d081884c7d65"  # ids are left alone


KINDS: dict[str, Callable[[Store], None]] = {
    "run, inputs, checkpoints, journal, trace, review": _write_run_checkpoints_journal_trace_review,
    "feedback": _write_feedback,
    "monitoring": _write_monitoring,
    "session and cache": _write_session_and_cache,
    "numbers and secret keys": _write_numbers_and_keys,
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_no_payload_reaches_the_store_files(kind: str, tmp_path: Path) -> None:
    store, db = _open(tmp_path)
    assert isinstance(store, RedactingStore)
    KINDS[kind](store)
    # searched while the store is open: nothing was checkpointed into the main file
    assert leaks(db) == []
    store.close()


def test_the_check_finds_raw_values_when_redaction_is_off(tmp_path: Path) -> None:
    """The search above can fail: with ``store.redact: false`` the payloads are in the WAL."""
    system = System.from_yaml("name: raw\nloop: interaction\ntask: t\nstore:\n  redact: false\n")
    store = open_store(system, path=tmp_path / "compound.db")
    assert isinstance(store, SQLiteStore)
    _run_kinds(store)
    found = leaks(tmp_path / "compound.db")
    assert any(EMAIL in hit for hit in found) and any(CARD_SPACES in hit for hit in found)
    store.close()


def test_structural_collections_are_written_as_they_come(tmp_path: Path) -> None:
    store, _ = _open(tmp_path)
    store.put("datasets", "faq@1", {"rows": 3, "note": f"curated by {EMAIL}"})
    assert store.get("datasets", "faq@1")["note"] == f"curated by {EMAIL}"
    store.close()


def test_a_resumed_run_continues_from_the_redacted_checkpoints(tmp_path: Path) -> None:
    """The choice documented in compound.store.redacting: resume uses redacted values."""
    store, db = _open(tmp_path)
    calls: list[str] = []

    def intake(question: str) -> str:
        return f"seen: {question}"

    def flaky(intake: str) -> str:
        calls.append(intake)
        if len(calls) == 1:
            raise RuntimeError(f"password={PASSWORD} for db")
        return intake.upper()

    flow = Workflow([Step(intake, name="intake", inputs={"question": "input.question"}),
                     Step(flaky, name="flaky", inputs={"intake": "intake"})], name="resumable")
    with pytest.raises(StepFailed, match="flaky"):
        start(flow, {"question": QUESTION}, store=store, run_id="12" * 16)
    record = store.get(RUNS, "12" * 16)
    assert record["status"] == "failed" and record["error"].startswith("StepFailed (err_")
    result = resume(flow, "12" * 16, store=store)
    assert "<CREDIT_CARD>" in calls[1] and CARD_SPACES not in calls[1]
    assert "<CREDIT_CARD>" in result.output
    assert leaks(db) == []
    store.close()


def test_a_failing_step_leaves_an_error_id_and_logs_the_detail_redacted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, db = _open(tmp_path)
    def connect(question: str) -> str:
        raise RuntimeError(f"password={PASSWORD} for db; user {EMAIL}")

    def after(connect: str) -> str:
        return connect

    tracer = Tracer(StoreSink(store))
    with caplog.at_level(logging.WARNING, logger="compound.errors"), \
            pytest.raises(StepFailed, match="connect"):
        start(Workflow([Step(connect, name="connect", inputs={"question": "input.question"}),
                        Step(after, name="after", inputs={"connect": "connect"})],
                       name="db"), {"question": "hi"}, store=store, tracer=tracer,
              run_id="34" * 16)
    tracer.flush()
    record = store.get(RUNS, "34" * 16)
    spans = {s["name"]: s for s in read_spans(store, "34" * 16)}
    error_id = record["error"].split("(")[1].rstrip(")")
    assert spans["connect"]["error"] == f"RuntimeError ({error_id})"
    logged = [r.getMessage() for r in caplog.records if error_id in r.getMessage()]
    assert len(logged) == 1 and "<PASSWORD>" in logged[0] and "<EMAIL_ADDRESS>" in logged[0]
    assert PASSWORD not in caplog.text and EMAIL not in caplog.text
    assert leaks(db) == []
    store.close()
