"""The review queue: submit, list, show, resolve; resolutions become labelled data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from compound.errors import UserError
from compound.store import MemoryStore, SQLiteStore
from compound.strategy.review import ReviewQueue


def test_round_trip_through_a_real_sqlite_file(tmp_path: Any) -> None:
    path = tmp_path / "store.db"
    with SQLiteStore(path) as store:
        queue = ReviewQueue(store, labels=["card_arrival", "lost_or_stolen_card"])
        a = queue.submit("where is my card", proposed="card_arrival", confidence=0.55,
                         reason="below_threshold", source="intent", run_id="r1")
        b = queue.submit("card gone", proposed="card_arrival", confidence=0.4,
                         reason="below_threshold", source="intent")
        c = queue.submit("spam", reason="flagged: injection", source="rail")
    with SQLiteStore(path) as store:
        queue = ReviewQueue(store, labels=["card_arrival", "lost_or_stolen_card"])
        assert [i.id for i in queue.entries()] == [a.id, b.id, c.id]
        assert queue.get(a.id).run_id == "r1"
        queue.resolve(a.id, "approve", reviewer="ana")
        queue.resolve(b.id, "correct", label="lost_or_stolen_card", reviewer="ana",
                      note="says gone")
        queue.resolve(c.id, "reject")
        assert queue.counts() == {"open": 0, "approved": 1, "corrected": 1, "rejected": 1}
        assert queue.labelled() == [
            {"input": "where is my card", "label": "card_arrival"},
            {"input": "card gone", "label": "lost_or_stolen_card"},
        ]
        assert queue.get(b.id).resolution.note == "says gone"  # type: ignore[union-attr]


def test_mistakes_are_explained() -> None:
    queue = ReviewQueue(MemoryStore(), labels=["card_arrival", "lost_or_stolen_card"])
    item = queue.submit("x", reason="below_threshold")
    with pytest.raises(UserError, match="no proposed answer to approve"):
        queue.resolve(item.id, "approve")
    with pytest.raises(UserError, match="did you mean 'card_arrival'"):
        queue.resolve(item.id, "correct", label="card_arival")
    with pytest.raises(UserError, match="needs the right label"):
        queue.resolve(item.id, "correct")
    queue.resolve(item.id, "reject")
    with pytest.raises(UserError, match="already rejected"):
        queue.resolve(item.id, "approve")
    with pytest.raises(UserError, match="has no item 99"):
        queue.get(99)
    with pytest.raises(UserError, match="is a number"):
        queue.get("abc")


def test_queues_are_separate() -> None:
    store = MemoryStore()
    ReviewQueue(store, queue="a").submit("x", reason="r")
    assert ReviewQueue(store, queue="b").entries() == []


def test_review_cli_list_show_resolve_export(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from compound.cli import app, build
    from compound.store import open_store
    from compound.system import System

    (tmp_path / "compound.yaml").write_text(
        "name: r\nloop: interaction\ntask: t\n"
        "models:\n  llm: {kind: llm, provider: scripted}\n"
        "strategy:\n  review: {queue: support, labels: [refund, card]}\n")
    system = System.load(tmp_path)
    with open_store(system) as store:
        queue = ReviewQueue(store, queue="support")
        first = queue.submit("money back pls", proposed="card", confidence=0.3,
                             reason="below_threshold", source="intent")
        second = queue.submit("need refund", proposed="refund", confidence=0.5,
                              reason="disagreement", source="vote")
    build()
    runner = CliRunner()
    listed = runner.invoke(app, ["review", "list", str(tmp_path)])
    assert listed.exit_code == 0, listed.output
    assert "money back pls" in listed.output and "2 open" in listed.output
    shown = runner.invoke(app, ["review", "show", str(tmp_path), str(first.id)])
    assert "below_threshold" in shown.output and "0.3" in shown.output
    corrected = runner.invoke(app, ["review", "resolve", str(tmp_path), str(first.id),
                                    "--correct", "refund", "--reviewer", "sam"])
    assert corrected.exit_code == 0 and "corrected" in corrected.output
    approved = runner.invoke(app, ["review", "resolve", str(tmp_path), str(second.id),
                                   "--approve"])
    assert "approved" in approved.output
    both = runner.invoke(app, ["review", "resolve", str(tmp_path), str(second.id),
                               "--approve", "--reject"])
    assert both.exit_code != 0
    out = tmp_path / "labels.jsonl"
    exported = runner.invoke(app, ["review", "export", str(tmp_path), str(out)])
    assert exported.exit_code == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [{"input": "money back pls", "label": "refund"},
                    {"input": "need refund", "label": "refund"}]
    as_json = runner.invoke(app, ["review", "list", str(tmp_path), "--status", "all", "--json"])
    assert [i["status"] for i in json.loads(as_json.output)] == ["corrected", "approved"]
