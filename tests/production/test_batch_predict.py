"""`compound predict`: a predictor or a workflow over a JSONL, CSV or Parquet file, written in
the output's format, a failing row recorded with its error, a malformed file refused with
its line."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from compound.cli import main

SPEC = textwrap.dedent('''
    name: desk
    loop: hybrid
    task: Route requests.
    store: {path: store/compound.db}    # in the folder: the model outlives each test's home
    models:
      intent: {kind: predictor, task: text_classification, dataset: train.jsonl,
               target: label, features: [text], split: {test: 0.25}}
      llm: {kind: llm, provider: scripted, options: {replies: ["On it."]}}
    workflows:
      reply:
        input: {text: str}
        steps:
          - {name: answer, uses: llm, options: {template: "Reply to {text}."}}
''')

ROWS = [{"id": i, "text": text} for i, text in enumerate(
    ["my card is lost", "please top up", "card gone", "add money now", "where is my card"])]


def make_desk(folder: Path) -> Path:
    """The spec folder, with its intent model trained and promoted."""
    folder.mkdir(parents=True, exist_ok=True)
    train = [{"text": t, "label": label} for t, label in
             [("lost card", "card"), ("card gone", "card"), ("stolen card", "card"),
              ("top up", "topup"), ("add money", "topup"), ("top up my account", "topup")]
             ] * 8
    (folder / "train.jsonl").write_text("\n".join(json.dumps(r) for r in train) + "\n")
    (folder / "compound.yaml").write_text(SPEC)
    main(["train", str(folder), "intent", "--promote"])
    return folder


def write_rows(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".csv":
        columns = list(dict.fromkeys(k for r in rows for k in r))
        lines = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns)
                                       for r in rows]
        path.write_text("\n".join(lines) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def read_rows(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if path.suffix == ".csv":
        import csv

        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_desk(tmp_path_factory.mktemp("desk"))


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
def test_a_predictor_labels_every_row_in_each_format(
        kind: str, tmp_path: Path, desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_rows(tmp_path / f"in.{kind}", ROWS)
    main(["predict", str(desk), "intent", "-i", str(source), "-o", str(tmp_path / f"out.{kind}"),
          "--no-progress"])
    out = read_rows(tmp_path / f"out.{kind}")
    assert [str(r["id"]) for r in out] == [str(r["id"]) for r in ROWS]  # order kept
    assert [r["prediction"] for r in out] == ["card", "topup", "card", "topup", "card"]
    assert all(0.5 < float(r["probability"]) <= 1 for r in out)
    assert all(r["error"] in (None, "") for r in out)
    assert "wrote 5 rows" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.partial"))


def test_a_failing_row_is_written_with_its_error(tmp_path: Path, desk: Path) -> None:
    rows = [*ROWS[:2], {"id": 9, "txet": "misspelt field"}, ROWS[3]]
    source = write_rows(tmp_path / "in.jsonl", rows)
    main(["predict", str(desk), "intent", "-i", str(source), "-o", str(tmp_path / "out.jsonl"),
          "--no-progress", "--chunk", "2"])
    out = read_rows(tmp_path / "out.jsonl")
    assert [r["prediction"] for r in out] == ["card", "topup", None, "topup"]
    assert out[2]["error"].startswith("UserError: ") and "has no 'text'" in out[2]["error"]
    assert out[2]["txet"] == "misspelt field"


def test_a_workflow_answers_each_row_and_a_bad_input_is_its_error(
        tmp_path: Path, desk: Path) -> None:
    rows = [{"id": 1, "text": "hello"}, {"id": 2}, {"id": 3, "text": "bye"}]
    source = write_rows(tmp_path / "in.jsonl", rows)
    main(["predict", str(desk), "reply", "-i", str(source), "-o", str(tmp_path / "out.csv"),
          "--no-progress"])
    out = read_rows(tmp_path / "out.csv")
    assert [json.loads(r["output"])["text"] if r["output"] else None for r in out] == [
        "On it.", None, "On it."]
    assert out[1]["error"] and not out[0]["error"]
    assert [r["id"] for r in out] == ["1", "2", "3"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("in.jsonl", b'{"text": "a"}\n{"text": "b"}\n{not json\n', r"in\.jsonl:3: not valid JSON"),
    ("in.jsonl", b'{"text": "a"}\n[1, 2]\n', r"in\.jsonl:2: expected a JSON object"),
    ("in.csv", b"text,id\nhi,1\nragged,2,3\n", r"in\.csv:3: expected 2 fields"),
    ("in.csv", b"text\nhi\n\xff\n", r"in\.csv:3: not UTF-8 text"),
    ("in.parquet", b"PAR1 not really", r"in\.parquet: not a readable Parquet file"),
    ("in.txt", b"hi\n", r"in\.txt: the input file must end in \.jsonl"),
    ("in.jsonl", b'{"text": "a", "error": "x"}\n', r"the input has a field 'error'"),
])
def test_a_malformed_input_names_the_file_and_line(
        name: str, content: bytes, message: str, tmp_path: Path, desk: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import re

    (tmp_path / name).write_bytes(content)
    with pytest.raises(SystemExit) as exit_:
        main(["predict", str(desk), "intent", "-i", str(tmp_path / name), "-o",
              str(tmp_path / "out.jsonl"), "--no-progress"])
    assert exit_.value.code == 2
    assert re.search(message, " ".join(capsys.readouterr().err.split()))
    assert not (tmp_path / "out.jsonl").exists()
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_an_unknown_model_lists_the_predictors_and_workflows(
        tmp_path: Path, desk: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_rows(tmp_path / "in.jsonl", ROWS)
    with pytest.raises(SystemExit):
        main(["predict", str(desk), "llm", "-i", str(source), "-o", str(tmp_path / "o.jsonl")])
    err = " ".join(capsys.readouterr().err.split())
    assert "'llm' is neither a predictor nor a workflow" in err
    assert "predictors: intent; workflows: reply" in err


@pytest.mark.ray
def test_on_ray_the_output_files_are_the_local_ones(
        ray_cluster: object, tmp_path: Path, desk: Path) -> None:
    from compound.production.batch.predict import BatchModel, predict_file
    from compound.scale.predict import RayChunks
    from compound.system import System

    rows = [{"id": i, "text": ROWS[i % 5]["text"]} for i in range(40)]
    rows[13] = {"id": 13, "txet": "misspelt"}
    model = BatchModel(System.load(desk), "intent")
    with RayChunks(desk, "intent", actors=2) as chunks:  # the actors serve all three files
        for kind in ("jsonl", "csv", "parquet"):
            source = write_rows(tmp_path / f"in.{kind}", rows)
            local = predict_file(model, source, tmp_path / f"local.{kind}", chunk_rows=4,
                                 progress=False)
            on_ray = predict_file(model, source, tmp_path / f"ray.{kind}", chunk_rows=4,
                                  progress=False, run_chunks=chunks)
            assert (local.rows, local.errors) == (on_ray.rows, on_ray.errors)
            # a CSV row has every column (empty here), so only JSONL's row 13 lacks 'text'
            assert on_ray.rows == 40 and (on_ray.errors == 1 or kind != "jsonl")
            assert read_rows(tmp_path / f"ray.{kind}") == read_rows(tmp_path / f"local.{kind}")
    assert len(set(chunks.pids)) == 2


@pytest.mark.ray
def test_on_ray_a_workflow_answers_every_row_in_order(
        ray_cluster: object, tmp_path: Path, desk: Path) -> None:
    from compound.production.batch.predict import BatchModel, predict_file
    from compound.scale.predict import RayChunks
    from compound.system import System

    rows = [{"id": i, "text": f"message {i}"} for i in range(30)]
    source = write_rows(tmp_path / "in.parquet", rows)
    chunks = RayChunks(desk, "reply", actors=2)
    done = predict_file(BatchModel(System.load(desk), "reply"), source,
                        tmp_path / "out.jsonl", chunk_rows=4, progress=False,
                        run_chunks=chunks)
    out = read_rows(tmp_path / "out.jsonl")
    assert (done.rows, done.errors) == (30, 0)
    assert [r["id"] for r in out] == list(range(30))
    assert {r["output"]["text"] for r in out} == {"On it."}
    assert len(set(chunks.pids)) == 2
