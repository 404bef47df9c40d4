"""The retrieval benchmark: BM25, dense and hybrid on any BEIR-layout folder.

A BEIR folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and relevance judgments as ``qrels/test.tsv`` or ``qrels.test.tsv``
(``query-id``, ``corpus-id``, ``score``, with a header line). The benchmark indexes the corpus
once into a fresh folder (so timings are cold), re-ingests it to show that unchanged documents
cost nothing, then runs every judged query through each retriever one at a time (so queries
per second include embedding the query) and scores the rankings with
:func:`~compound.evaluation.metrics.ranking.evaluate_ranking`.

Embedding speed is given twice: documents per second of wall-clock time, and the CPU-time
equivalent (cores x documents / CPU seconds of every thread while embedding), which is what
the wall-clock figure would be with the cores to itself; the ``machine`` entry records the load
average, since the two differ on a machine shared with other work.

``compound bench retrieval`` and ``bench/retrieval.py`` both call :func:`run_retrieval_bench`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compound.datafiles import BadLine, delimited_records, jsonl_records
from compound.errors import UserError
from compound.evaluation.metrics.ranking import evaluate_ranking
from compound.intelligence.embedders import Embedder, OnnxEmbedder
from compound.orchestration.chunking import ChunkSettings
from compound.orchestration.ingest import Document
from compound.orchestration.retrieval.index import DocumentIndex, Progress
from compound.orchestration.retrieval.retrievers import (
    DenseRetriever,
    HybridRetriever,
    LexicalRetriever,
    Retriever,
)


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


def _machine() -> dict[str, Any]:
    """What the figures were measured on (the load average shows a shared machine)."""
    import platform

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cores": cores, "processor": platform.processor() or platform.machine(),
            "load_average_1m": round(load, 2) if load is not None else None}


def _evaluate(retriever: Retriever, dataset: BeirDataset) -> dict[str, float]:
    run: dict[str, list[str]] = {}
    start = time.perf_counter()
    for qid, text in dataset.queries.items():
        run[qid] = retriever.run(text, top_k=100).doc_ids()
    seconds = time.perf_counter() - start
    metrics = evaluate_ranking(run, dataset.qrels, ndcg_k=(10,), recall_k=(100,),
                               mrr_k=(10,), map_k=()).metrics
    return {**{k: round(v, 4) for k, v in metrics.items()},
            "queries_per_s": round(len(dataset.queries) / seconds, 1)}


def run_retrieval_bench(
    dataset_folder: str | os.PathLike[str],
    *,
    embedder: Embedder | None = None,
    chunking: ChunkSettings | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    max_queries: int | None = None,
    progress: Progress | None = None,
    note: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Index a BEIR dataset and measure BM25, dense and hybrid retrieval.

    Args:
        dataset_folder: a BEIR-layout folder.
        embedder: default :class:`OnnxEmbedder` (MiniLM, dynamic int8, 128 tokens).
        chunking: default one chunk per document (the BEIR convention).
        work_dir: where the index goes; default a temporary folder removed afterwards.
        max_queries: score only the first N judged queries (quick runs).
        progress: index progress callback (``compound`` passes a Rich bar).
        note: receives a line per stage, for the user to follow.

    Returns:
        The figures, ready for ``json.dumps``.
    """
    say = note or (lambda _: None)
    dataset = load_beir(dataset_folder, max_queries=max_queries)
    embedder = embedder or OnnxEmbedder()
    with tempfile.TemporaryDirectory(prefix="compound-bench-") as scratch:
        folder = Path(work_dir) if work_dir else Path(scratch)
        start = time.perf_counter()
        embedder.load()
        load_s = time.perf_counter() - start
        index = DocumentIndex(folder / "index", embedder=embedder,
                              chunking=chunking or ChunkSettings(strategy="none"))
        index.open()
        say(f"indexing {len(dataset.corpus)} documents")
        start = time.perf_counter()
        report = index.ingest(dataset.corpus, progress=progress)
        ingest_s = time.perf_counter() - start
        say("re-ingesting the unchanged corpus")
        start = time.perf_counter()
        again = index.ingest(dataset.corpus)
        reingest_s = time.perf_counter() - start
        embed_s = report.seconds.get("embedding", 0.0)
        cpu_s = report.seconds.get("embedding_cpu", 0.0)
        cores = _machine()["cores"] or 1
        results: dict[str, Any] = {
            "dataset": dataset.name,
            "machine": _machine(),
            "documents": len(dataset.corpus),
            "chunks": report.chunks,
            "queries": len(dataset.queries),
            "embedder": embedder.model_id,
            "embedder_load_s": round(load_s, 2),
            "index": {
                "lexical_build_s": round(report.seconds.get("lexical", 0.0), 2),
                "dense_embed_s": round(embed_s, 2),
                "documents_per_s_embedded": (
                    round(report.embedded / embed_s, 1) if embed_s else None
                ),
                "cpu_equivalent_documents_per_s_embedded": (
                    round(cores * report.embedded / cpu_s, 1) if cpu_s else None
                ),
                "total_ingest_s": round(ingest_s, 2),
                "reingest_unchanged_s": round(reingest_s, 2),
                "reingest_embedded": again.embedded,
                "reingest_unchanged": again.unchanged,
            },
        }
        retrievers: dict[str, Retriever] = {
            "bm25": LexicalRetriever(index),
            "dense": DenseRetriever(index),
            "hybrid_weighted": HybridRetriever(index, fusion="weighted"),
            "hybrid_rrf": HybridRetriever(index, fusion="rrf"),
        }
        for name, retriever in retrievers.items():
            say(f"querying: {name}")
            results[name] = _evaluate(retriever, dataset)
        results["machine_after"] = {"load_average_1m": _machine()["load_average_1m"]}
        index.close()
    results["hybrid"] = dict(results["hybrid_weighted"], fusion="weighted")
    return results
