"""Every dataset reader, fed hostile or broken files (issue 14, part 2).

Evaluation datasets (JSONL, CSV, TSV), a predictor's data (JSONL, CSV, Parquet), ingested
documents (JSONL, Markdown with front matter, HTML, text), the safety suites' prompt files and
BEIR folders. Each fuzzer asserts: the reader succeeds (bad lines kept as problems naming their
line), or raises a :class:`UserError` naming the file; never another exception, never a hang.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compound.datafiles import BadLine, delimited_records, jsonl_records, parse_json
from compound.errors import UserError
from compound.evaluation.datasets import INVALID_KEY, Dataset
from compound.orchestration.ingest import Document, IngestProblem, read_documents

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

JSON_TOKENS = st.sampled_from([
    b'{"q": "hi", "a": "yo"}', b'{"id": 1, "text": "t", "label": "1"}', b"{", b"}", b"[", b"]",
    b'"', b":", b",", b"\n", b"\r\n", b" ", b"null", b"NaN", b"-Infinity", b"1e999",
    b"9" * 5000, b"[" * 3000, b"{\"a\":" * 2000, b'"\\ud800"', b'"\\u0000"', b"\xff\xfe",
    b"\xef\xbb\xbf", b"\xe2\x80\xa8", b"\x00", b'{"_invalid": 1}', b'{"split": ["x"]}',
    b'{"q": {"nested": [1, {"deep": null}]}}', b'{"q": "\\ud83d"}', b"true", b'"str"',
    b'{"query-id": "q1", "corpus-id": "d1", "score": "x"}', b'{"_id": "d1", "text": 5}',
])
CSV_TOKENS = st.sampled_from([
    b"q,a", b"q\ta", b"id,text,label", b"hi,yo", b",", b"\t", b'"', b'""', b"\n", b"\r\n",
    b"\r", b" ", b"\x00", b"\xff", b"\xef\xbb\xbf", b"x" * 140_000, b'"unclosed', b"a,b,c,d",
    b"q,q", b"\xe2\x80\xa8", b"1", b"=cmd|' /C calc'!A0", b"query-id\tcorpus-id\tscore",
    b"q1\td1\t1", b"q1\td1\tnot-a-number",
])


def fuzz_bytes(tokens: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.lists(tokens, max_size=40).map(b"".join)


# one scratch folder for every example, removed when the session ends
_SCRATCH = tempfile.TemporaryDirectory(prefix="compound-fuzz-")


def write(data: bytes, name: str) -> Path:
    folder = Path(tempfile.mkdtemp(dir=_SCRATCH.name))
    path = folder / name
    path.write_bytes(data)
    return path


def bounded(call: Callable[[], Any]) -> Any:
    """Run ``call``; a hang would fail the 10-second bound (pytest's timeout catches worse)."""
    started = time.monotonic()
    try:
        return call()
    finally:
        assert time.monotonic() - started < 10, "a reader took more than 10 s"


def assert_names_file(exc: UserError, path: Path) -> None:
    assert path.name in str(exc), str(exc)


# -- the shared record readers -------------------------------------------------------------------


@FUZZ
@given(fuzz_bytes(JSON_TOKENS))
def test_jsonl_records_are_records_or_bad_lines(data: bytes) -> None:
    path = write(data, "d.jsonl")
    lines = data.split(b"\n")
    for record in bounded(lambda: list(jsonl_records(path))):
        if isinstance(record, BadLine):
            assert 1 <= record.line <= len(lines) and record.problem
        else:
            assert isinstance(record[1], dict)


@FUZZ
@given(fuzz_bytes(CSV_TOKENS), st.sampled_from([",", "\t"]))
def test_delimited_records_are_rows_bad_lines_or_a_user_error(data: bytes, delimiter: str
                                                               ) -> None:
    path = write(data, "d.csv")
    try:
        records = bounded(lambda: list(delimited_records(path, delimiter=delimiter)))
    except UserError as exc:
        assert_names_file(exc, path)
        assert f"{path}:" in str(exc), "a CSV error names the line"
        return
    for record in records:
        if isinstance(record, BadLine):
            assert record.line >= 2 and "fields as in the header" in record.problem
        else:
            assert record[0] >= 2 and all(isinstance(v, str) for v in record[1].values())


@pytest.mark.parametrize("text", ["[" * 100_000, "9" * 100_000, '{"a": ' * 50_000, "\x00",
                                  "NaN]", '"\\ud800'])
def test_parse_json_fails_with_a_reason_never_a_recursion_or_digit_error(text: str) -> None:
    from compound.datafiles import NotJSON

    with pytest.raises(NotJSON, match=r"^not valid JSON"):
        parse_json(text)


# -- evaluation datasets -------------------------------------------------------------------------


def check_dataset(path: Path, **options: Any) -> None:
    try:
        dataset = bounded(lambda: Dataset.from_file(path, **options))
    except UserError as exc:
        assert_names_file(exc, path)
        return
    examples = dataset.examples(expected="a")
    assert len(examples) == len(dataset) and len(dataset.version) == 12
    for row, example in zip(dataset.rows, examples, strict=True):
        if INVALID_KEY in row:
            assert str(row[INVALID_KEY]).startswith(f"{path.name}:"), row
            assert not example.valid
    again = Dataset.from_jsonl_bytes(dataset.to_jsonl(), name=dataset.name)
    assert again.version == dataset.version  # what the store keeps reads back the same
    dataset.splits()


@FUZZ
@given(fuzz_bytes(JSON_TOKENS))
def test_eval_jsonl_datasets_fuzzed(data: bytes) -> None:
    check_dataset(write(data, "d.jsonl"))


@FUZZ
@given(fuzz_bytes(CSV_TOKENS), st.sampled_from(["d.csv", "d.tsv"]))
def test_eval_csv_and_tsv_datasets_fuzzed(data: bytes, name: str) -> None:
    check_dataset(write(data, name))


def test_a_ragged_csv_keeps_its_good_rows_and_names_the_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_text("q,a\nhi,yo\nextra,field,here\nshort\n\"multi\nline\",ok\nlast,one\n")
    dataset = Dataset.from_file(path)
    examples = dataset.examples(inputs=["q"], expected="a")
    assert [e.inputs.get("q") for e in examples if e.valid] == ["hi", "multi\nline", "last"]
    assert [e.problems for e in examples if not e.valid] == [
        ("qa.csv:3: expected 2 fields as in the header (q, a), received 3",),
        ("qa.csv:4: expected 2 fields as in the header (q, a), received 1",)]


def test_a_csv_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "qa.csv"
    path.write_bytes(b"q,a\nhi,yo\n\xff\xfe,x\n")
    with pytest.raises(UserError, match=r"qa\.csv:3: not UTF-8 text"):
        Dataset.from_file(path)


# -- a predictor's data (pandas) -----------------------------------------------------------------


def check_table(path: Path) -> None:
    from compound.intelligence.ml.data import read_table

    try:
        frame = bounded(lambda: read_table(path))
    except UserError as exc:
        assert_names_file(exc, path)
        return
    assert len(frame) > 0 and all(isinstance(c, str) for c in frame.columns)


@FUZZ
@given(fuzz_bytes(JSON_TOKENS))
def test_ml_jsonl_data_fuzzed(data: bytes) -> None:
    pytest.importorskip("pandas", reason="needs compound[ml]")
    check_table(write(data, "train.jsonl"))


@FUZZ
@given(fuzz_bytes(CSV_TOKENS))
def test_ml_csv_data_fuzzed(data: bytes) -> None:
    pytest.importorskip("pandas", reason="needs compound[ml]")
    check_table(write(data, "train.csv"))


def _parquet_bytes() -> bytes:
    import pandas as pd

    buffer = io.BytesIO()
    pd.DataFrame({"text": ["a", "b", "c"], "label": [1, 0, 1]}).to_parquet(buffer)
    return buffer.getvalue()


@FUZZ
@given(st.data())
def test_ml_parquet_data_fuzzed(data: st.DataObject) -> None:
    pytest.importorskip("pyarrow", reason="needs compound[ml]")
    good = _parquet_bytes()
    cut = data.draw(st.integers(0, len(good)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(good) - 1), st.integers(0, 255)),
                               max_size=8))
    broken = bytearray(good[:cut] + good[cut:])
    for position, value in flips:
        if position < len(broken):
            broken[position] = value
    if data.draw(st.booleans()):
        broken = broken[:cut]
    check_table(write(bytes(broken), "train.parquet"))


def test_ml_jsonl_problems_name_the_line(tmp_path: Path) -> None:
    from compound.intelligence.ml.data import read_table

    pytest.importorskip("pandas", reason="needs compound[ml]")
    for content, message in [(b'{"a": 1}\n' + b"[" * 5000 + b"\n", r"t\.jsonl:2: not valid JSON"),
                             (b'{"a": 1}\n{"a": ' + b"9" * 5000 + b"}\n", r"t\.jsonl:2: "),
                             (b'{"a": 1}\n\xff\n', r"t\.jsonl:2: not UTF-8")]:
        (tmp_path / "t.jsonl").write_bytes(content)
        with pytest.raises(UserError, match=message):
            read_table(tmp_path / "t.jsonl")
    (tmp_path / "t.csv").write_bytes(b"a,b\n1,2\n\xff,3\n")
    with pytest.raises(UserError, match=r"t\.csv:3: not UTF-8"):
        read_table(tmp_path / "t.csv")


# -- ingested documents --------------------------------------------------------------------------

DOC_TOKENS = st.sampled_from([
    b"---\n", b"title: x\n", b"a: &a [*a]\n", b"x: !!python/object/apply:os.system [ls]\n",
    b"l0: &l0 [a, a, a, a, a, a, a, a, a]\nl1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\n"
    b"l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\nl3: [*l2, *l2, *l2, *l2, *l2, *l2]\n",
    b"[" * 1000, b"# Heading\n", b"body text\n", b"<html><title>t</title>", b"<script>x",
    b"</", b"<!--", b"&amp;", b"&#99999999;", b"\xff", b"\x00", b"\n", b"<p>" * 200,
])


@FUZZ
@given(fuzz_bytes(DOC_TOKENS), st.sampled_from(["doc.md", "doc.html", "doc.txt"]))
def test_documents_fuzzed(data: bytes, name: str) -> None:
    path = write(data, name)
    items = bounded(lambda: list(read_documents([path], base_dir=path.parent)))
    assert all(isinstance(i, Document | IngestProblem) for i in items)


@FUZZ
@given(fuzz_bytes(JSON_TOKENS))
def test_jsonl_documents_fuzzed(data: bytes) -> None:
    path = write(data, "docs.jsonl")
    items = bounded(lambda: list(read_documents([path], base_dir=path.parent)))
    for item in items:
        assert isinstance(item, Document | IngestProblem)
        if isinstance(item, IngestProblem) and item.source.startswith("docs.jsonl:"):
            assert item.source.split(":")[1].isdigit()


def test_hostile_front_matter_is_not_metadata(tmp_path: Path) -> None:
    for body in ("a: &a [*a]", "x: !!python/object/apply:os.system ['touch CANARY']",
                 "d: " + "[" * 500 + "]" * 500):
        (tmp_path / "doc.md").write_text(f"---\n{body}\n---\n# Title\ntext\n")
        (document,) = read_documents([tmp_path / "doc.md"], base_dir=tmp_path)
        assert isinstance(document, Document) and document.metadata == {}
    assert not (tmp_path / "CANARY").exists()


# -- the safety suites' prompts and BEIR folders -------------------------------------------------


@FUZZ
@given(fuzz_bytes(JSON_TOKENS))
def test_injection_prompt_files_fuzzed(data: bytes) -> None:
    from compound.evaluation.suites.runner import _injection_prompts

    path = write(data, "prompts.jsonl")
    try:
        prompts = bounded(lambda: _injection_prompts(str(path)))
    except UserError as exc:
        assert_names_file(exc, path)
        return
    assert prompts and all(isinstance(p, str) for p in prompts)


@FUZZ
@given(fuzz_bytes(JSON_TOKENS), fuzz_bytes(JSON_TOKENS), fuzz_bytes(CSV_TOKENS))
def test_beir_folders_fuzzed(corpus: bytes, queries: bytes, qrels: bytes) -> None:
    try:  # the BEIR reader is moving to its own module
        from compound.orchestration.retrieval.benchdata import load_beir
    except ImportError:
        from compound.orchestration.retrieval.bench import load_beir

    folder = write(corpus, "corpus.jsonl").parent
    (folder / "queries.jsonl").write_bytes(queries)
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_bytes(qrels)
    try:
        dataset = bounded(lambda: load_beir(folder))
    except UserError as exc:
        assert str(folder) in str(exc) or "BEIR" in str(exc), str(exc)
        return
    assert all(isinstance(d, Document) for d in dataset.corpus)
