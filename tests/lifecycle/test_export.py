"""`compound export`: fine-tuning data from accepted and edited answers (sft) and from edits,
verdicts and pairwise judgements (preference), redacted and deduplicated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compound.errors import UserError
from compound.evaluation.judges.pairwise import PairwiseVerdict
from compound.lifecycle.export import JudgedPair, Redactor, export_records
from compound.production.feedback import FeedbackLog, parse_signal
from compound.store import MemoryStore, SQLiteStore, Store
from compound.system import System
from compound.workflow.loader import build_workflow
from compound.workflow.runs import start

SPEC = """\
name: helpdesk
loop: interaction
task: Answer banking questions.
store: {path: store.db}
models:
  llm: {kind: llm, provider: scripted, options: {replies: ["Cards arrive in 3 days."]}}
workflows:
  answer:
    input: {question: str}
    steps:
      - name: draft
        uses: llm
        inputs: {question: input.question}
        options: {system: "You are the bank's assistant.", template: "Answer: {question}"}
"""
SYSTEM = {"role": "system", "content": "You are the bank's assistant."}


def run(store: Store, run_id: str, question: str, answer: str) -> None:
    """A run whose trace holds one model call (the shape the tracer writes)."""
    store.put("runs", run_id, {"workflow": "answer", "input": {"question": question}})
    step = {"kind": "step", "name": "draft", "span_id": f"{run_id}-s", "parent_id": None,
            "start_ns": 1, "end_ns": 4, "attributes": {"compound.step": "draft"}}
    call = {"kind": "model", "name": "chat", "span_id": f"{run_id}-m",
            "parent_id": f"{run_id}-s", "start_ns": 2, "end_ns": 3, "attributes": {
                "gen_ai.input.messages": [SYSTEM, {"role": "user", "content": question}],
                "gen_ai.output.messages": [{"role": "assistant", "content": answer}]}}
    store.append(f"trace:{run_id}", {"spans": [step, call]})


def signal(store: Store, run_id: str, kind: str, value: Any = None, **fields: Any) -> None:
    data = {"run_id": run_id, "kind": kind, **fields}
    if value is not None:
        data["value"] = value
    FeedbackLog(store).record(parse_signal(data))


def test_sft_keeps_accepted_and_edited_answers_only() -> None:
    store = MemoryStore()
    for run_id, answer in (("up", "A1"), ("five", "A2"), ("edited", "A3"), ("down", "A4"),
                           ("retried", "A5"), ("changed", "A6"), ("three", "A7")):
        run(store, run_id, f"question {run_id}", answer)
    signal(store, "up", "thumbs", "up")
    signal(store, "five", "rating", 5)
    signal(store, "edited", "thumbs", "up")
    signal(store, "edited", "edit", "A3, corrected")
    signal(store, "down", "thumbs", "down")
    signal(store, "retried", "retry")
    signal(store, "changed", "thumbs", "up")
    signal(store, "changed", "thumbs", "down")  # the latest verdict wins
    signal(store, "three", "rating", 3)  # neither accepted nor rejected

    result = export_records(store, "sft")

    answers = {r["messages"][1]["content"]: r["messages"][-1]["content"] for r in result.records}
    assert answers == {"question up": "A1", "question five": "A2",
                       "question edited": "A3, corrected"}
    assert result.records[0]["messages"][0] == SYSTEM
    assert result.records[0]["messages"][-1]["role"] == "assistant"
    assert result.sources == {"accepted": 2, "edited": 1}


def test_duplicates_are_written_once() -> None:
    store = MemoryStore()
    for run_id in ("r1", "r2", "r3"):
        run(store, run_id, "When does my card arrive?", "In 3 days.")
        signal(store, run_id, "thumbs", "up")
    result = export_records(store, "sft")
    assert len(result.records) == 1 and result.duplicates == 2


def test_personal_data_and_secrets_are_redacted_everywhere() -> None:
    store = MemoryStore()
    run(store, "r1", "I'm at ada@example.com, call +44 20 7946 0958", "Noted.")
    signal(store, "r1", "edit", "We'll mail ada@example.com; key sk-proj-abcdefghijklmnop1234")
    result = export_records(store, "sft")
    text = json.dumps(result.records)
    assert "ada@example.com" not in text and "7946" not in text and "sk-proj" not in text
    assert "<EMAIL_ADDRESS>" in text and "<PHONE_NUMBER>" in text
    assert result.redacted == 2


def test_the_spec_pii_rail_chooses_what_is_redacted() -> None:
    system = System.from_yaml(SPEC + "guardrails:\n  pii: {type: pii, entities: [EMAIL_ADDRESS]}\n")
    redactor = Redactor.for_system(system)
    assert redactor.text("ada@example.com +44 20 7946 0958") == "<EMAIL_ADDRESS> +44 20 7946 0958"


def test_preference_pairs_from_edits_verdicts_and_judgements() -> None:
    store = MemoryStore()
    run(store, "edited", "Fees?", "No idea.")
    signal(store, "edited", "edit", "Transfers are free.")
    run(store, "good", "Card lost?", "Freeze it in the app.")
    signal(store, "good", "rating", 5)
    run(store, "bad", "Card lost?", "Buy a new phone.")
    signal(store, "bad", "rating", 1)
    run(store, "unmatched", "Another question", "Whatever.")
    signal(store, "unmatched", "thumbs", "down")  # no accepted answer to the same prompt
    judged = [
        JudgedPair("2+2?", "4", "5", PairwiseVerdict("a", "A", "B", True)),
        JudgedPair("3+3?", "7", "6", PairwiseVerdict("b", "B", "A", True)),
        JudgedPair("1+1?", "2", "3", PairwiseVerdict("tie", "A", "A", False)),
    ]

    result = export_records(store, "preference", judged=judged)

    pairs = {(r["prompt"][-1]["content"], r["chosen"][0]["content"], r["rejected"][0]["content"])
             for r in result.records}
    assert pairs == {("Fees?", "Transfers are free.", "No idea."),
                     ("Card lost?", "Freeze it in the app.", "Buy a new phone."),
                     ("2+2?", "4", "5"), ("3+3?", "6", "7")}
    assert result.sources == {"edit": 1, "verdicts": 1, "pairwise": 2}
    assert result.skipped == {"pairwise judgement with no winner": 1}


def test_an_edit_identical_to_the_answer_gives_no_pair() -> None:
    store = MemoryStore()
    run(store, "r1", "Hi?", "Hello.")
    signal(store, "r1", "edit", "Hello. ")
    assert export_records(store, "preference").records == []


def test_runs_without_a_recorded_model_call_are_counted_not_fatal() -> None:
    store = MemoryStore()
    store.put("runs", "r1", {"workflow": "answer"})
    signal(store, "r1", "thumbs", "up")
    store.append("feedback", {"kind": "thumbs", "value": "up"})  # malformed: no run id
    store.append("feedback", {"run_id": "r1", "kind": "edit", "value": 42})  # not text
    result = export_records(store, "sft")
    assert result.records == []
    assert result.skipped == {"no model call recorded in the run's trace": 1}


def test_bad_arguments_are_user_errors() -> None:
    with pytest.raises(UserError, match="export format must be one of sft, preference"):
        export_records(MemoryStore(), "csv")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="min_rating must be 1 to 5"):
        export_records(MemoryStore(), "sft", min_rating=7)


def test_a_real_traced_run_exports_what_the_model_saw(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(SPEC)
    system = System.load(tmp_path)
    with SQLiteStore(tmp_path / "store.db") as store:
        first = start(build_workflow(system, "answer"), {"question": "Where is my card?"},
                      store=store)
        second = start(build_workflow(system, "answer"), {"question": "Fees?"}, store=store)
        signal(store, first.run_id, "thumbs", "up")
        signal(store, second.run_id, "edit", "Transfers are free.", step="draft")
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "compound", "export", "compound.yaml",
                           "--format", "sft", "--out", "data/sft.jsonl"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wrote 2 sft records to data/sft.jsonl" in done.stdout
    lines = [json.loads(x) for x in (tmp_path / "data" / "sft.jsonl").read_text().splitlines()]
    assert lines[0]["messages"] == [
        SYSTEM, {"role": "user", "content": "Answer: Where is my card?"},
        {"role": "assistant", "content": "Cards arrive in 3 days."}]
    assert lines[1]["messages"][-1] == {"role": "assistant", "content": "Transfers are free."}
    wrong = subprocess.run([sys.executable, "-m", "compound", "export", "compound.yaml",
                            "--format", "csv"], cwd=tmp_path, capture_output=True, text=True,
                           env=env, timeout=300)
    assert wrong.returncode == 2 and "--format must be one of sft, preference" in wrong.stderr


CRITIQUED = """\
name: helpdesk
loop: interaction
task: Answer banking questions.
models:
  llm:
    kind: llm
    provider: scripted
    options:
      cycle: false
      replies:
        - "Mail help@bank.example; cards arrive in 1 day."
        - '{"ok": false, "problems": ["The sources say 3 days."]}'
        - "Cards arrive in 3 days; mail help@bank.example."
        - '{"ok": true, "problems": []}'
workflows:
  answer:
    input: {question: str}
    steps:
      - name: draft
        uses: llm
        inputs: {question: input.question}
        options: {system: "You are the bank's assistant.", template: "Answer: {question}"}
      - name: critique
        uses: critique
        inputs: {draft: draft, question: input.question}
        options: {llm: llm, principles: [Only facts from the sources.]}
"""


def test_a_critique_that_revised_its_draft_becomes_a_preference_pair(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(CRITIQUED)
    system = System.load(tmp_path)
    store = MemoryStore()
    start(build_workflow(system, "answer"), {"question": "When does my card come?"},
          store=store)
    result = export_records(store, "preference")
    assert result.sources == {"critique": 1}
    [record] = result.records
    assert record["prompt"] == [SYSTEM, {"role": "user",
                                         "content": "Answer: When does my card come?"}]
    assert record["chosen"] == [{"role": "assistant",
                                 "content": "Cards arrive in 3 days; mail <EMAIL_ADDRESS>."}]
    assert record["rejected"] == [{"role": "assistant",
                                   "content": "Mail <EMAIL_ADDRESS>; cards arrive in 1 day."}]
    assert export_records(store, "preference", workflow="other").records == []
    assert export_records(store, "sft").records == []  # a critique is no accepted answer
