"""Reading documents from files and folders, reporting what is wrong with them.

Files: JSONL (one document per line: ``_id``/``id``, ``text``/``content``, ``title``; other
fields become metadata), plain text, Python source (as plain text), Markdown (a ``# heading``
gives the title, YAML front matter gives metadata) and HTML (``<title>``, headings kept as
Markdown-style lines, scripts and styles dropped). Folders are walked in sorted order, so ids
and positions are stable.

Problems with the input never stop an ingest and never reach the index half-done: each one is
reported as an :class:`IngestProblem` (empty document, bytes that are not UTF-8, a file above
the size limit, a line that is not JSON, a duplicate id) and the run goes on.

Cutting documents into chunks lives in :mod:`compound.orchestration.chunking` (its names are
re-exported here).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "guide.md").write_text("# Install\\nRun pip.\\n")
    >>> [(d.id, d.title) for d in read_documents([folder], base_dir=folder)]
    [('guide.md', 'Install')]
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compound.datafiles import NotJSON, parse_json
from compound.errors import UserError
from compound.orchestration.chunking import (
    HEADING,
    Chunk,
    ChunkSettings,
    Document,
    chunk_document,
)
from compound.orchestration.html_text import html_to_text

SUFFIXES: dict[str, str] = {
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "text", ".text": "text",
    ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
    ".py": "text",  # source code, read as plain text (a code assistant's repository)
}
ID_FIELDS = ("_id", "id", "doc_id")
TEXT_FIELDS = ("text", "content", "body")
DEFAULT_MAX_DOCUMENT_BYTES = 10 * 1024 * 1024

__all__ = [
    "DEFAULT_MAX_DOCUMENT_BYTES",
    "Chunk",
    "ChunkSettings",
    "Document",
    "IngestProblem",
    "chunk_document",
    "read_documents",
]


@dataclass(frozen=True)
class IngestProblem:
    """Something wrong with the input, and what was done about it.

    Attributes:
        source: the file (and line, for JSONL).
        message: what was wrong and what to do.
        skipped: True when the document was left out; False for a warning only.
        doc_id: the document, when known.
    """

    source: str
    message: str
    skipped: bool = True
    doc_id: str | None = None

    def __str__(self) -> str:
        action = "skipped" if self.skipped else "warning"
        return f"{self.source}: {action}: {self.message}"


# -- reading ---------------------------------------------------------------------------------


def read_documents(
    paths: Iterable[str | os.PathLike[str]],
    *,
    base_dir: str | os.PathLike[str] | None = None,
    max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
) -> Iterator[Document | IngestProblem]:
    """Documents from files and folders, with a problem for each thing that went wrong.

    Args:
        paths: files or folders (walked recursively, hidden entries skipped).
        base_dir: ids of file documents are their paths relative to this folder (default:
            the working directory) when inside it, else absolute paths.
        max_document_bytes: a text, Markdown or HTML file (or one JSONL line) above this is
            skipped and reported.

    Yields:
        A :class:`Document` or an :class:`IngestProblem`, in file order.

    Raises:
        UserError: a path that does not exist.
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UserError(f"{path}: no such file or folder to ingest")
        for file in _walk(path):
            yield from _read_file(file, _doc_id(file, base), max_document_bytes)


def _walk(path: Path) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in SUFFIXES:
                yield Path(root) / name


def _doc_id(file: Path, base: Path) -> str:
    resolved = file.resolve()
    try:
        return resolved.relative_to(base.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count / 2**10:.1f} KiB"


def _decode(data: bytes, source: str, doc_id: str | None) -> tuple[str, IngestProblem | None]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8", errors="replace")
        return text, IngestProblem(
            source,
            f"not valid UTF-8 (first bad byte at offset {exc.start}); undecodable bytes were "
            "replaced with U+FFFD. Re-save the file as UTF-8 to keep them.",
            skipped=False,
            doc_id=doc_id,
        )


def _read_file(file: Path, doc_id: str, limit: int) -> Iterator[Document | IngestProblem]:
    kind = SUFFIXES.get(file.suffix.lower())
    source = doc_id  # the path relative to the base folder
    if kind is None:
        yield IngestProblem(
            source,
            f"unsupported file type '{file.suffix or '(none)'}'; supported: "
            f"{', '.join(sorted(SUFFIXES))}",
            doc_id=doc_id,
        )
        return
    if kind == "jsonl":
        yield from _read_jsonl(file, source, limit)
        return
    size = file.stat().st_size
    if size > limit:
        yield IngestProblem(
            source,
            f"the file is {_size(size)}, above the {_size(limit)} limit for one document; "
            "split it into smaller files, or raise max_document_mb in the retriever's "
            "chunking settings",
            doc_id=doc_id,
        )
        return
    text, problem = _decode(file.read_bytes(), source, doc_id)
    if problem:
        yield problem
    title, metadata = file.stem, {}
    if kind == "markdown":
        text, metadata = _front_matter(text)
        title = _first_heading(text) or title
    elif kind == "html":
        html_title, text = html_to_text(text)
        title = html_title or _first_heading(text) or title
    if not text.strip():
        yield IngestProblem(source, "the document is empty", doc_id=doc_id)
        return
    yield Document(id=doc_id, text=text, title=title, source=source, metadata=metadata)


def _read_jsonl(file: Path, source: str, limit: int) -> Iterator[Document | IngestProblem]:
    with file.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            where = f"{source}:{number}"
            if not line.strip():
                continue
            if len(line) > limit:
                yield IngestProblem(
                    where,
                    f"the line is {_size(len(line))}, above the {_size(limit)} limit for one "
                    "document; split the document",
                )
                continue
            text, problem = _decode(line, where, None)
            if problem:
                yield problem
            try:
                record = parse_json(text)
            except NotJSON as exc:  # malformed, nested too deeply, a number too long
                yield IngestProblem(where, str(exc))
                continue
            yield _record_document(record, where, source, number)


def _record_document(
    record: Any, where: str, source: str, number: int
) -> Document | IngestProblem:
    if not isinstance(record, dict):
        return IngestProblem(where, f"expected a JSON object; received {type(record).__name__}")
    doc_id = next((str(record[k]) for k in ID_FIELDS if record.get(k) not in (None, "")), None)
    doc_id = doc_id or f"{Path(source).name}:{number}"
    body = next((record[k] for k in TEXT_FIELDS if k in record), None)
    if not isinstance(body, str):
        return IngestProblem(
            where,
            f"no text: expected a string under one of {', '.join(TEXT_FIELDS)}; "
            f"keys present: {', '.join(sorted(record)) or 'none'}",
            doc_id=doc_id,
        )
    title = str(record.get("title") or "")
    if not body.strip() and not title.strip():
        return IngestProblem(where, "the document is empty", doc_id=doc_id)
    used = {*ID_FIELDS, *TEXT_FIELDS, "title"}
    metadata = {k: v for k, v in record.items() if k not in used}
    return Document(id=doc_id, text=body, title=title, source=source, metadata=metadata)


def _first_heading(text: str) -> str:
    match = HEADING.search(text)
    return match.group(2).strip() if match else ""


def _front_matter(text: str) -> tuple[str, dict[str, Any]]:
    if not text.startswith("---\n"):
        return text, {}
    end = text.find("\n---", 4)
    if end < 0:
        return text, {}
    from compound.yaml_loader import load_yaml

    try:  # the bounded reader every YAML goes through: no tags, no alias bombs, no deep nesting
        data = load_yaml(text[4:end], source="front matter").data
    except UserError:  # not front matter after all: the text stays as it is
        return text, {}
    if not isinstance(data, dict):
        return text, {}
    rest = text[end + 4 :].lstrip("-").lstrip("\n")
    return rest, {str(k): v for k, v in data.items()}


