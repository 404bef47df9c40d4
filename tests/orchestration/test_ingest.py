"""Reading documents from files, and chunking them with their metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compound.errors import UserError
from compound.orchestration.html_text import html_to_text
from compound.orchestration.ingest import (
    ChunkSettings,
    Document,
    IngestProblem,
    chunk_document,
    read_documents,
)


def _read(
    paths: list[Path], base: Path, **options: int
) -> tuple[list[Document], list[IngestProblem]]:
    items = list(read_documents(paths, base_dir=base, **options))
    return ([i for i in items if isinstance(i, Document)],
            [i for i in items if isinstance(i, IngestProblem)])


def test_reads_each_format_with_title_and_metadata(tmp_path: Path) -> None:
    (tmp_path / "guide.md").write_text(
        "---\nlang: en\nyear: 2021\n---\n# Install guide\nRun pip.\n", encoding="utf-8"
    )
    (tmp_path / "page.html").write_text(
        "<html><head><title>Cats</title><style>p{}</style></head>"
        "<body><h2>Purring</h2><p>Cats purr &amp; sleep.</p><script>x()</script></body></html>",
        encoding="utf-8",
    )
    (tmp_path / "note.txt").write_text("Plain words.", encoding="utf-8")
    (tmp_path / "recs.jsonl").write_text(
        json.dumps({"_id": "r1", "title": "Dogs", "text": "Dogs bark.", "tag": ["pets"]}) + "\n",
        encoding="utf-8",
    )
    docs, problems = _read([tmp_path], tmp_path)
    assert problems == []
    by_id = {d.id: d for d in docs}
    assert by_id["guide.md"].title == "Install guide"
    assert by_id["guide.md"].metadata == {"lang": "en", "year": 2021}
    assert by_id["guide.md"].text.startswith("# Install guide")
    assert by_id["page.html"].title == "Cats"
    assert by_id["page.html"].text == "## Purring\nCats purr & sleep."
    assert by_id["note.txt"].title == "note"
    assert by_id["r1"].title == "Dogs" and by_id["r1"].metadata == {"tag": ["pets"]}
    assert by_id["r1"].source == "recs.jsonl"


def test_folders_are_walked_in_order_skipping_hidden_and_unknown_files(tmp_path: Path) -> None:
    for name in ("b.txt", "a.txt", ".hidden.txt", "image.png", "sub/c.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("some words", encoding="utf-8")
    docs, _ = _read([tmp_path], tmp_path)
    assert [d.id for d in docs] == ["a.txt", "b.txt", "sub/c.md"]
    _, problems = _read([tmp_path / "image.png"], tmp_path)
    assert "unsupported file type '.png'" in problems[0].message


def test_python_source_is_read_as_text(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "slug.py").write_text("def slugify(title):\n    ...\n")
    docs, problems = _read([tmp_path], tmp_path)
    assert [(d.id, d.title) for d in docs] == [("pkg/slug.py", "slug")] and not problems
    assert docs[0].text.startswith("def slugify(title):")


def test_bad_input_is_reported_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "empty.md").write_text("   \n", encoding="utf-8")
    (tmp_path / "recs.jsonl").write_bytes(
        b'{"_id": "ok", "text": "fine"}\nnot json\n[1, 2]\n{"_id": "x"}\n'
        b'{"_id": "blank", "text": ""}\n\n{"id": "bytes", "text": "caf\xe9"}\n'
    )
    docs, problems = _read([tmp_path], tmp_path)
    assert sorted(d.id for d in docs) == ["bytes", "latin1.txt", "ok"]
    latin = next(d for d in docs if d.id == "latin1.txt")
    assert latin.text == "caf\ufffd cr\ufffdme"
    messages = {p.source: (p.skipped, p.message) for p in problems}
    assert messages["latin1.txt"][0] is False and "not valid UTF-8" in messages["latin1.txt"][1]
    assert messages["empty.md"] == (True, "the document is empty")
    assert "not valid JSON" in messages["recs.jsonl:2"][1]
    assert "expected a JSON object" in messages["recs.jsonl:3"][1]
    assert "no text" in messages["recs.jsonl:4"][1]
    assert messages["recs.jsonl:5"][1] == "the document is empty"
    assert messages["recs.jsonl:7"][0] is False


def test_a_50_mb_file_is_skipped_with_the_limit_named(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    with big.open("wb") as handle:
        handle.write(b"word " * (10 * 2**20))  # 50 MiB
    small = tmp_path / "small.txt"
    small.write_text("still read", encoding="utf-8")
    docs, problems = _read([tmp_path], tmp_path)
    assert [d.id for d in docs] == ["small.txt"]
    assert "50.0 MiB, above the 10.0 MiB limit" in problems[0].message
    assert "max_document_mb" in problems[0].message


def test_missing_path_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file or folder"):
        list(read_documents([tmp_path / "nope"]))


def test_html_to_text_survives_broken_markup() -> None:
    title, text = html_to_text("<p>open <b>never closed <div>and <h3>Head</p> tail")
    assert title == ""
    assert "open never closed" in text and "### Head" in text and "tail" in text


# -- chunking ----------------------------------------------------------------------------------


def test_token_windows_overlap_and_point_back_into_the_text() -> None:
    words = [f"w{i}" for i in range(25)]
    doc = Document("d", "  " + " ".join(words), title="T", source="s.txt", metadata={"k": 1})
    chunks = chunk_document(doc, ChunkSettings(strategy="tokens", size=10, overlap=3))
    assert [c.text.split()[0] for c in chunks] == ["w0", "w7", "w14", "w21"]
    assert [len(c.text.split()) for c in chunks] == [10, 10, 10, 4]
    assert [c.position for c in chunks] == [0, 1, 2, 3]
    assert [c.id for c in chunks] == ["d#0", "d#1", "d#2", "d#3"]
    for chunk in chunks:
        assert doc.text[chunk.start : chunk.end] == chunk.text
        assert (chunk.title, chunk.source, chunk.metadata) == ("T", "s.txt", {"k": 1})
    assert chunks[-1].text.split()[-1] == "w24"


def test_heading_chunks_carry_the_heading_path() -> None:
    text = "Intro words.\n# Install\nRun pip.\n## Linux\nUse apt.\n# Use\nCall run()."
    chunks = chunk_document(Document("d", text), ChunkSettings(strategy="headings"))
    assert [c.heading for c in chunks] == ["", "Install", "Install > Linux", "Use"]
    assert chunks[2].text == "## Linux\nUse apt."
    assert chunks[2].indexed_text().startswith("Install > Linux\n")


def test_long_sections_are_cut_by_tokens() -> None:
    text = "# Big\n" + " ".join(["x"] * 30)
    chunks = chunk_document(Document("d", text), ChunkSettings(strategy="headings", size=10,
                                                                overlap=0))
    assert len(chunks) == 4 and {c.heading for c in chunks} == {"Big"}


def test_no_chunking_and_empty_documents() -> None:
    doc = Document("d", "one two three " * 200)
    assert len(chunk_document(doc, ChunkSettings(strategy="none"))) == 1
    assert chunk_document(Document("e", "  \n")) == []
    assert chunk_document(Document("t", "", title="Only a title"))[0].text == "Only a title"


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_chunk_settings_are_checked(size: int, overlap: int) -> None:
    with pytest.raises(UserError):
        ChunkSettings(size=size, overlap=overlap)


def test_content_hash_tracks_everything_indexed() -> None:
    doc = Document("d", "text", title="T", metadata={"a": 1})
    assert doc.content_hash() == Document("d", "text", title="T", metadata={"a": 1}).content_hash()
    assert doc.content_hash() != Document("d", "text", title="T", metadata={"a": 2}).content_hash()
    assert doc.content_hash() != Document("d", "text!", title="T", metadata={"a": 1}).content_hash()
