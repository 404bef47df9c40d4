"""Converters from each dataset's published files to the layout compound reads.

Each converter reads the downloaded sources from ``sources`` (one file per
:class:`~compound.datafetch.manifest.Source`, by its ``filename``) and writes the dataset's
files under ``stage`` at their manifest paths (``banking77/train.jsonl``...). The caller checks
every written file against its pinned sha256 before anything reaches the datasets folder.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> src, stage = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> for split in ("train", "valid", "test"):
    ...     _ = (src / f"{split}.seq.in").write_text("hello there \\n")
    ...     _ = (src / f"{split}.label").write_text("greeting\\n")
    >>> intent_lines("demo", src, stage)
    >>> (stage / "demo" / "test.jsonl").read_text()
    '{"text": "hello there", "label": "greeting"}\\n'
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from compound.errors import RuntimeFailure
from compound.expansion_limits import read_parquet, read_zip_member

Converter = Callable[[str, Path, Path], None]


class ConversionFailed(RuntimeFailure):
    """A downloaded source does not have the shape its converter expects."""


def _member(archive: zipfile.ZipFile, name: str, path: Path) -> str:
    """One zip member as text, bounded by the expansion limit (the sources are not hashed)."""
    return read_zip_member(archive, name, source=str(path)).decode("utf-8")


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")


def intent_lines(name: str, sources: Path, stage: Path) -> None:
    """Few-Shot-Intent-Detection's ``{split}/seq.in`` and ``{split}/label`` (one utterance and
    one intent a line) to ``{name}/{split}.jsonl`` with ``text`` and ``label``."""
    for split in ("train", "valid", "test"):
        texts = (sources / f"{split}.seq.in").read_text(encoding="utf-8").splitlines()
        labels = (sources / f"{split}.label").read_text(encoding="utf-8").splitlines()
        if len(texts) != len(labels):
            raise ConversionFailed(f"{name} {split}: {len(texts)} utterances but {len(labels)} "
                                   "labels; the download is not the pinned one")
        _write_jsonl(stage / name / f"{split}.jsonl", (
            {"text": text.strip(), "label": label.strip()}
            for text, label in zip(texts, labels, strict=True)))


def pubmedqa(name: str, sources: Path, stage: Path) -> None:
    """PubMedQA's ``ori_pqal.json`` (id -> question, contexts, long answer, decision) to
    ``pqal.jsonl``, each row marked ``test`` when its id is in ``test_ground_truth.json``."""
    labelled = json.loads((sources / "ori_pqal.json").read_text(encoding="utf-8"))
    test = json.loads((sources / "test_ground_truth.json").read_text(encoding="utf-8"))
    _write_jsonl(stage / name / "pqal.jsonl", (
        {"id": key, "split": "test" if key in test else "train", "question": item["QUESTION"],
         "contexts": item["CONTEXTS"], "long_answer": item["LONG_ANSWER"],
         "decision": item["final_decision"]} for key, item in labelled.items()))
    shutil.copyfile(sources / "LICENSE", stage / name / "LICENSE")


def tabular(name: str, sources: Path, stage: Path) -> None:
    """pycaret's ``income.csv`` and ``credit.csv``, unchanged, under compound's names."""
    (stage / name).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sources / "income.csv", stage / name / "adult-income.csv")
    shutil.copyfile(sources / "credit.csv", stage / name / "credit-default.csv")


def parquet_text_label(name: str, sources: Path, stage: Path) -> None:
    """Hugging Face Parquet splits with ``text`` and ``label`` to ``{split}.jsonl``."""
    from compound.errors import require

    require("pyarrow", extra="ml", what=f"converting {name} from Parquet")

    for split in ("train", "test"):  # bounded: the source is not hashed and may be a bomb
        table = read_parquet(sources / f"{split}.parquet", columns=["text", "label"])
        _write_jsonl(stage / name / f"{split}.jsonl", (
            {"text": row["text"], "label": int(row["label"])} for row in table.to_pylist()))


def beir(name: str, sources: Path, stage: Path) -> None:
    """A BEIR zip to ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl`` (the
    test queries: ``_id``, ``text``) and ``qrels.test.tsv``."""
    path = sources / f"{name}.zip"
    with zipfile.ZipFile(path) as archive:  # members read by name (no extraction, no zip-slip)
        qrels = _member(archive, f"{name}/qrels/test.tsv", path)
        wanted = {line.split("\t")[0] for line in qrels.splitlines()[1:] if line}
        corpus = _member(archive, f"{name}/corpus.jsonl", path).splitlines()
        queries = _member(archive, f"{name}/queries.jsonl", path).splitlines()
    _write_jsonl(stage / name / "corpus.jsonl", (
        {"_id": d["_id"], "title": d["title"], "text": d["text"]}
        for d in map(json.loads, corpus)))
    _write_jsonl(stage / name / "queries.jsonl", (
        {"_id": q["_id"], "text": q["text"]} for q in map(json.loads, queries)
        if q["_id"] in wanted))
    (stage / name / "qrels.test.tsv").write_text(qrels, encoding="utf-8", newline="\n")


def ircot_hotpotqa(name: str, sources: Path, stage: Path) -> None:
    """IRCoT's ``processed_data/hotpotqa/dev_subsampled.jsonl`` (500 dev questions) to
    ``dev500.jsonl``: ``id``, ``question``, ``answers``, ``contexts`` (title, text,
    supporting)."""
    path = sources / "processed_data.zip"
    with zipfile.ZipFile(path) as archive:
        lines = _member(archive, "processed_data/hotpotqa/dev_subsampled.jsonl", path)
    _write_jsonl(stage / name / "dev500.jsonl", (
        {"id": q["question_id"], "question": q["question_text"],
         "answers": q["answers_objects"][0]["spans"],
         "contexts": [{"title": c["title"], "text": c["paragraph_text"],
                       "supporting": c["is_supporting"]} for c in q["contexts"]]}
        for q in map(json.loads, lines.splitlines()) if q))


CONVERTERS: dict[str, Converter] = {
    "intent_lines": intent_lines,
    "pubmedqa": pubmedqa,
    "tabular": tabular,
    "parquet_text_label": parquet_text_label,
    "beir": beir,
    "ircot_hotpotqa": ircot_hotpotqa,
}
