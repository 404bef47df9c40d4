"""The datasets the retrieval benchmark reads: BEIR folders, and HotpotQA pooled.

* :func:`load_beir`: a BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``),
  ``queries.jsonl`` (``_id``, ``text``) and relevance judgments as ``qrels/test.tsv`` or
  ``qrels.test.tsv`` (``query-id``, ``corpus-id``, ``score``, with a header line).
* :func:`load_hotpotqa`: HotpotQA in the distractor setting gives each question ten
  paragraphs, two of which support the answer. Pooling every question's paragraphs makes a
  multi-hop corpus (about 4,900 Wikipedia paragraphs for the 500-question dev sample) in which
  each question must find its two supporting paragraphs among all of them. Many paragraphs
  begin with their own title, which is what exposed a chunk's indexed text leaving the title
  out (issue 18).
* :func:`load_retrieval_dataset`: either, by what the path holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compound.datafiles import BadLine, delimited_records, jsonl_records
from compound.errors import UserError
from compound.orchestration.ingest import Document


@dataclass(frozen=True)
class BeirDataset:
    """A BEIR-layout dataset read into memory (queries without judgments are left out)."""

    name: str
    corpus: list[Document]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(folder: str | os.PathLike[str], *, split: str = "test",
              max_queries: int | None = None) -> BeirDataset:
    """Read a BEIR folder.

    Raises:
        UserError: a missing file, naming what a BEIR folder must hold.
    """
    root = Path(folder)
    qrels_file = next((p for p in (root / "qrels" / f"{split}.tsv", root / f"qrels.{split}.tsv")
                       if p.exists()), None)
    missing = [n for n in ("corpus.jsonl", "queries.jsonl") if not (root / n).exists()]
    if missing or qrels_file is None:
        raise UserError(
            f"{root} is not a BEIR-layout folder: missing "
            f"{', '.join(missing + ([] if qrels_file else [f'qrels/{split}.tsv']))}. It needs "
            "corpus.jsonl, queries.jsonl and qrels/<split>.tsv (or qrels.<split>.tsv)."
        )
    qrels: dict[str, dict[str, int]] = {}
    for line, row in _records(qrels_file, ("query-id", "corpus-id", "score")):
        try:
            score = int(row["score"])
        except (TypeError, ValueError):
            raise UserError(f"{qrels_file}:{line}: score {str(row['score'])[:40]!r} is not a "
                            "whole number") from None
        qrels.setdefault(str(row["query-id"]), {})[str(row["corpus-id"])] = score
    queries = {}
    for _, record in _records(root / "queries.jsonl", ("_id", "text")):
        if str(record["_id"]) in qrels:
            queries[str(record["_id"])] = str(record["text"])
    if max_queries is not None:
        queries = dict(list(queries.items())[:max_queries])
        qrels = {q: qrels[q] for q in queries}
    corpus = [
        Document(id=str(r["_id"]), text=str(r.get("text") or ""), title=str(r.get("title") or ""),
                 source="corpus.jsonl")
        for _, r in _records(root / "corpus.jsonl", ("_id",))
    ]
    return BeirDataset(root.name, corpus, queries, qrels)


def _records(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The records of a BEIR file (JSONL, or TSV for qrels); a bad line is a UserError."""
    records = (delimited_records(path, delimiter="\t") if path.suffix == ".tsv"
               else jsonl_records(path))
    for record in records:
        if isinstance(record, BadLine):
            raise UserError(f"{path}:{record.line}: {record.problem}")
        line, row = record
        missing = [name for name in required if name not in row]
        if missing:
            raise UserError(f"{path}:{line}: no {', '.join(repr(m) for m in missing)} field; "
                            f"a BEIR {path.name} row needs {', '.join(required)}")
        yield line, row


def load_hotpotqa(path: str | os.PathLike[str], *, max_queries: int | None = None
                  ) -> BeirDataset:
    """HotpotQA (``id``, ``question``, ``contexts`` of ``title``/``text``/``supporting``) with
    every question's paragraphs pooled into one corpus; a paragraph's id is its title.

    Args:
        path: the JSONL file, or a folder holding ``dev500.jsonl``.
        max_queries: keep the first N questions (the corpus keeps every paragraph).

    Raises:
        UserError: a missing file or a row without the fields above, with its line.
    """
    file = Path(path)
    if file.is_dir():
        file = file / "dev500.jsonl"
    if not file.is_file():
        raise UserError(f"{file} does not exist; a HotpotQA folder holds dev500.jsonl")
    corpus: dict[str, Document] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for line, row in _records(file, ("id", "question", "contexts")):
        contexts = row["contexts"]
        if not isinstance(contexts, list) or not all(
            isinstance(c, dict) and {"title", "text"} <= set(c) for c in contexts
        ):
            raise UserError(f"{file}:{line}: 'contexts' must be a list of objects with "
                            "'title', 'text' and 'supporting'")
        qid = str(row["id"])
        for context in contexts:
            title = str(context["title"])
            corpus.setdefault(title, Document(id=title, text=str(context["text"]), title=title,
                                              source=file.name))
            if context.get("supporting") is True:
                qrels.setdefault(qid, {})[title] = 1
        if qid in qrels:
            queries[qid] = str(row["question"])
    if max_queries is not None:
        queries = dict(list(queries.items())[:max_queries])
    qrels = {q: qrels[q] for q in queries}
    return BeirDataset(file.parent.name, list(corpus.values()), queries, qrels)


def load_retrieval_dataset(path: str | os.PathLike[str], *, max_queries: int | None = None
                           ) -> BeirDataset:
    """A BEIR folder, or HotpotQA (a ``.jsonl`` file, or a folder holding ``dev500.jsonl``)."""
    root = Path(path)
    if root.suffix == ".jsonl" or (root / "dev500.jsonl").is_file():
        return load_hotpotqa(root, max_queries=max_queries)
    return load_beir(root, max_queries=max_queries)
