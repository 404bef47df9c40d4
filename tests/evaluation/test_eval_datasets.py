"""Eval datasets: content-hashed versions, splits, rows with problems kept, the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compound.errors import UserError
from compound.evaluation.dataset_store import DatasetRegistry
from compound.evaluation.datasets import Dataset
from compound.evaluation.trace_datasets import dataset_from_stream, dataset_from_traces
from compound.store import MemoryStore, SQLiteStore

ROWS = [{"id": str(i), "question": f"q{i}", "answer": f"a{i}"} for i in range(20)]


def test_version_is_the_content_hash() -> None:
    a = Dataset(ROWS, name="qa")
    assert a.version == Dataset([dict(r) for r in ROWS], name="other-name").version
    edited = [*ROWS[:-1], {**ROWS[-1], "answer": "changed"}]
    assert Dataset(edited, name="qa").version != a.version
    assert a.ref == f"qa@{a.version}"


def test_rows_with_missing_fields_become_examples_with_problems() -> None:
    ds = Dataset([{"id": "1", "question": "q"}, {"id": "2", "answer": "a"},
                  {"id": "3", "question": "q", "answer": "a"}], name="d")
    examples = ds.examples(inputs=["question"], expected="answer")
    assert [e.problems for e in examples] == [
        ("missing expected field 'answer'",),
        ("missing input field 'question'",),
        (),
    ]
    assert [e.valid for e in examples] == [False, False, True]


def test_malformed_jsonl_lines_are_kept_as_invalid_rows(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "1", "q": "x", "a": "y"}\n{broken\n[1, 2]\n\n{"id": "4", "q": "z", '
                    '"a": "w"}\n')
    ds = Dataset.from_file(path)
    examples = ds.examples(inputs=["q"], expected="a")
    assert len(examples) == 4
    problems = [e.problems for e in examples if not e.valid]
    assert len(problems) == 2
    assert "d.jsonl:2: not valid JSON" in problems[0][0]
    assert "d.jsonl:3: expected a JSON object, received a list" in problems[1][0]
    assert ds.id_field == "id"


def test_csv_files_and_unknown_formats(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("id,question,answer\n1,What?,That\n2,Who?,Them\n")
    ds = Dataset.from_file(path)
    assert [e.inputs for e in ds.examples(expected="answer")] == [
        {"question": "What?"}, {"question": "Who?"}]
    (tmp_path / "d.xlsx").write_text("")
    with pytest.raises(UserError, match="unknown format 'xlsx'"):
        Dataset.from_file(tmp_path / "d.xlsx")
    with pytest.raises(UserError, match="does not exist"):
        Dataset.from_file(tmp_path / "missing.jsonl")


def test_splits_are_deterministic_and_stable_when_rows_are_added() -> None:
    ds = Dataset(ROWS, name="qa").with_splits({"train": 0.7, "test": 0.3}, seed=3)
    more = Dataset([*ROWS, {"id": "new", "question": "q", "answer": "a"}], name="qa")
    more = more.with_splits({"train": 0.7, "test": 0.3}, seed=3)
    before = {r["id"]: r["split"] for r in ds.rows}
    after = {r["id"]: r["split"] for r in more.rows}
    assert all(after[k] == v for k, v in before.items())
    assert set(ds.splits()) == {"train", "test"}
    test = ds.select_split("test")
    assert len(test) == ds.splits()["test"]
    with pytest.raises(UserError, match="splits present: test, train"):
        ds.select_split("valid")


def test_sample_is_seeded_and_keeps_order() -> None:
    ds = Dataset(ROWS, name="qa")
    one, two = ds.sample(5, seed=1), ds.sample(5, seed=1)
    assert one.rows == two.rows
    ids = [int(r["id"]) for r in one.rows]
    assert ids == sorted(ids)
    assert ds.sample(5, seed=2).rows != one.rows


def test_duplicate_ids_are_made_unique() -> None:
    ds = Dataset([{"id": "a"}, {"id": "a"}, {"x": 1}, {"x": 1}], name="d", id_field="id")
    ids = ds.ids()
    assert ids[:2] == ["a", "a#2"]
    assert ids[3] == ids[2] + "#2"  # rows without an id are named by their content hash
    assert len(set(ids)) == 4


def test_registry_saves_lists_loads_and_diffs(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db")
    registry = DatasetRegistry(store)
    v1 = registry.save(Dataset(ROWS[:10], name="qa", source="a.jsonl"))
    assert registry.save(Dataset(ROWS[:10], name="qa")) == v1  # idempotent
    changed = [{**r, "answer": "new"} if r["id"] == "3" else r for r in ROWS[1:12]]
    v2 = registry.save(Dataset(changed, name="qa"))
    assert [i.version for i in registry.list("qa")] == [v1.version, v2.version]
    assert registry.info("qa").version == v2.version
    assert registry.info(f"qa@{v1.version[:5]}").version == v1.version
    loaded = registry.load(v1.ref)
    assert loaded.rows == Dataset(ROWS[:10], name="qa").rows and loaded.version == v1.version
    diff = registry.diff(v1.ref, v2.ref)
    assert diff.added == ["10", "11"] and diff.removed == ["0"] and diff.changed == ["3"]
    assert diff.unchanged == 8
    with pytest.raises(UserError, match=r"no dataset named 'qaa'.*did you mean 'qa'"):
        registry.info("qaa")
    with pytest.raises(UserError, match="no version starting with 'zz'"):
        registry.info("qa@zz")
    store.close()


def test_dataset_from_traces_joined_with_feedback() -> None:
    store = MemoryStore()
    for i in range(3):
        store.append("traces", {"run": f"r{i}", "input": {"question": f"q{i}"}, "output": "x"})
    store.append("feedback", {"run": "r1", "rating": 1, "correction": "right answer"})
    ds = dataset_from_stream(
        store, "traces", name="corrections", inputs={"question": "input.question"},
        expected="feedback.correction", id_path="run", join_stream="feedback",
        where=lambda rec: rec["feedback"] is not None,
    )
    assert [(r["id"], r["question"], r["expected"]) for r in ds.rows] == [
        ("r1", "q1", "right answer")]
    assert json.loads(ds.to_jsonl().decode())["expected"] == "right answer"


def test_dataset_from_real_workflow_traces_and_feedback() -> None:
    from compound.intelligence.llm import ScriptedLLM
    from compound.workflow.graph import Workflow
    from compound.workflow.runs import start

    def answer(question: str) -> str:
        return ScriptedLLM(["5"]).complete(question).text

    store = MemoryStore()
    first = start(Workflow([answer], name="qa"), {"question": "2+2?"}, store=store)
    start(Workflow([answer], name="qa"), {"question": "3+3?"}, store=store)
    store.append("feedback", {"run": first.run_id, "rating": 1, "correction": "4"})
    ds = dataset_from_traces(store, name="corrections", workflow="qa",
                             where=lambda row: row["feedback"] is not None)
    assert len(ds) == 1
    row = ds.rows[0]
    assert (row["id"], row["question"], row["output"], row["expected"]) == (
        first.run_id, "2+2?", "5", "4")
    examples = ds.examples(inputs=["question"], expected="expected")
    assert examples[0].valid
