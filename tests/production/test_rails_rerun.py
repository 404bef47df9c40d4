"""Rails around resumed and replayed runs: `compound resume` and `compound replay` go through
the rails that guard the workflow (and that no step of it uses) as `compound run` does, and a
run those rails escalate is queued for human review."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compound.store import Store, open_store
from compound.strategy.review import ReviewQueue
from compound.system import System
from compound.workflow.state import RUNS

ANSWER = "Write to help@bank.example and we will reply within a day."
SPEC = """
name: desk
loop: interaction
task: Answer customers about their orders.
models:
  llm: {{kind: llm, provider: scripted, options: {{replies: ["{answer}"]}}}}
tools:
  lookup: {{function: "tests.production.test_rails_rerun:lookup"}}
guardrails:
  pii: {{type: pii, stage: output, action: {action}}}
  topics:
    type: topic
    stage: input
    denied_topics:
      medical: {{examples: ["What dose of ibuprofen should I take?"], keywords: [diagnosis]}}
workflows:
  answer:
    input: {{question: str, order: str}}
    steps:
      - {{name: find, uses: lookup, inputs: {{order_id: input.order}}}}
      - name: draft
        uses: llm
        inputs: {{question: input.question, status: find.status}}
        options: {{template: "Order status: {{status}}. Question: {{question}}"}}
{store}"""
#: a store that redacts card numbers only: the emails in a run's journal are the model's own
#: words, so that what a replay shows redacted is the rails' doing, not the store's
CARDS_ONLY = "store: {path: db/compound.db, redact: {entities: [CREDIT_CARD]}}\n"
REDACTED = "Write to <EMAIL_ADDRESS> and we will reply within a day."
BLOCKED = "rails: block topics: denied topic 'medical' (keyword 'diagnosis')"


@dataclass(frozen=True)
class OrderStatus:
    status: str


def lookup(order_id: str) -> OrderStatus:
    """Find an order. The order service is down once when the file ``$DESK_OUTAGE`` names
    exists (a file: the spec imports this module under another name than pytest does)."""
    outage = Path(os.environ.get("DESK_OUTAGE", "/nonexistent"))
    if outage.exists():
        outage.unlink()
        raise ConnectionError("the order service is down")
    return OrderStatus(f"{order_id} shipped")


@pytest.fixture()
def desk(tmp_path: Path) -> Path:
    return _spec(tmp_path, "redact", CARDS_ONLY)


def _spec(tmp_path: Path, action: str, store: str = "") -> Path:
    path = tmp_path / "compound.yaml"
    path.write_text(SPEC.format(answer=ANSWER, action=action, store=store))
    return path


def _cli(*args: str) -> object:
    from compound.cli import build

    return CliRunner().invoke(build(), list(args))


def _run(path: Path, question: str, run_id: str, *where: str) -> object:
    return _cli("run", str(path), "answer", "--input",
                json.dumps({"question": question, "order": "B-2"}), "--run-id", run_id,
                *where)


def _store(path: Path) -> Store:
    return open_store(System.load(path))


def _output(result: object) -> object:
    return json.loads(result.stdout)  # type: ignore[attr-defined]


def test_a_resumed_run_has_its_output_checked_by_the_rails_around_it(
        desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = desk
    monkeypatch.setenv("DESK_OUTAGE", str(tmp_path / "outage"))
    (tmp_path / "outage").touch()
    failed = _run(path, "Where is my order?", "a" * 32)
    assert failed.exit_code != 0  # type: ignore[attr-defined]
    resumed = _cli("resume", "a" * 32, "--spec", str(path))
    assert resumed.exit_code == 0, resumed.output  # type: ignore[attr-defined]
    assert _output(resumed)["text"] == REDACTED
    assert "rails: redact pii:" in resumed.stderr  # type: ignore[attr-defined]
    record = _store(path).get(RUNS, "a" * 32)
    assert record is not None and record["status"] == "completed"
    assert record["output"]["text"] == REDACTED and record["guard"]["action"] == "redact"


def test_a_replayed_run_has_its_output_checked_and_matches_what_was_answered(desk) -> None:
    path = desk
    ran = _run(path, "Where is my order?", "b" * 32)
    assert ran.exit_code == 0, ran.output  # type: ignore[attr-defined]
    assert _output(ran)["text"] == REDACTED
    replayed = _cli("replay", "b" * 32, "--spec", str(path))
    assert replayed.exit_code == 0, replayed.output  # type: ignore[attr-defined]
    assert _output(replayed)["text"] == REDACTED  # the recorded answer has the email
    assert "rails: redact pii:" in replayed.stderr  # type: ignore[attr-defined]
    assert f"gave the same output as run {'b' * 32}" in replayed.stderr  # type: ignore[attr-defined]


def test_a_blocked_input_is_blocked_again_on_replay_with_the_same_decision(desk) -> None:
    path = desk
    ran = _run(path, "Can you give me a diagnosis?", "c" * 32)
    assert ran.exit_code == 0, ran.output  # type: ignore[attr-defined]
    assert _output(ran) is None and BLOCKED in ran.stderr  # type: ignore[attr-defined]
    replayed = _cli("replay", "c" * 32, "--spec", str(path))
    assert replayed.exit_code == 0, replayed.output  # type: ignore[attr-defined]
    assert _output(replayed) is None
    ran_says = [line for line in ran.stderr.splitlines()  # type: ignore[attr-defined]
                if line.startswith("rails:")]
    replay_says = [line for line in replayed.stderr.splitlines()  # type: ignore[attr-defined]
                   if line.startswith("rails:")]
    assert ran_says == replay_says == [BLOCKED]
    record = _store(path).get(RUNS, "c" * 32)
    assert record is not None and record["guard"]["action"] == "block"


def test_a_run_the_rails_escalate_is_queued_for_review_as_is_a_resumed_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, home = _spec(tmp_path, "escalate"), tmp_path / "home"
    ran = _run(path, "Where is my order?", "d" * 32, "--home", str(home))
    assert ran.exit_code == 0, ran.output  # type: ignore[attr-defined]
    assert _output(ran) is None
    assert "rails: escalate pii:" in ran.stderr  # type: ignore[attr-defined]
    store = open_store(path=home / "compound.db")
    [item] = ReviewQueue(store).entries()
    assert f"queued for review as item {item.id}" in ran.stderr  # type: ignore[attr-defined]
    assert item.run_id == "d" * 32 and item.reason.startswith("flagged: pii:")
    assert item.input == {"question": "Where is my order?", "order": "B-2"}
    assert item.proposed == REDACTED  # the answer that escalated, redacted as stored
    assert item.context == {"stage": "output", "workflow": "answer", "rails": ["pii"]}
    record = store.get(RUNS, "d" * 32)
    assert record is not None and record["guard"]["review_id"] == item.id
    # a run that failed before its answer, resumed: the answer escalates then
    monkeypatch.setenv("DESK_OUTAGE", str(tmp_path / "outage"))
    (tmp_path / "outage").touch()
    failed = _run(path, "And now?", "e" * 32, "--home", str(home))
    assert failed.exit_code != 0  # type: ignore[attr-defined]
    resumed = _cli("resume", "e" * 32, "--home", str(home))
    first, second = ReviewQueue(store).entries()
    assert (first.run_id, second.run_id) == ("d" * 32, "e" * 32)
    assert f"queued for review as item {second.id}" in resumed.stderr  # type: ignore[attr-defined]
