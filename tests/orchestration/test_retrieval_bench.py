"""The retrieval benchmark on a tiny BEIR folder and a tiny HotpotQA file (fake embedder)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from typer.testing import CliRunner

from compound.cli import build
from compound.errors import UserError
from compound.intelligence.embedders import FakeEmbedder
from compound.orchestration.retrieval.bench import run_retrieval_bench
from compound.orchestration.retrieval.rerank import Reranker

DOCS = [
    ("d1", "Cats", "Cats purr when they are content."),
    ("d2", "Dogs", "Dogs bark at strangers and postmen."),
    ("d3", "Tax law", "Tax law changed in 1990 for small firms."),
    ("d4", "Purring", "Purring is a sound cats make; its cause was long debated."),
]


def _beir(folder: Path) -> Path:
    folder.mkdir()
    (folder / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in DOCS),
        encoding="utf-8")
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "why do cats purr"}) + "\n"
        + json.dumps({"_id": "q2", "text": "tax changes for firms"}) + "\n", encoding="utf-8")
    (folder / "qrels.test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td4\t1\nq1\td1\t1\nq2\td3\t1\n", encoding="utf-8")
    return folder


def test_bench_scores_every_retriever_and_plain_bm25s(tmp_path: Path) -> None:
    results = run_retrieval_bench(_beir(tmp_path / "tiny"), embedder=FakeEmbedder())
    assert (results["documents"], results["queries"]) == (4, 2)
    for name in ("bm25", "bm25_plain", "dense", "hybrid_weighted", "hybrid_rrf", "hybrid"):
        assert 0.0 <= results[name]["ndcg@10"] <= 1.0 and results[name]["queries_per_s"] > 0
    # The same text, tokenisation and parameters: compound's BM25 is plain bm25s.
    assert results["bm25"]["ndcg@10"] == results["bm25_plain"]["ndcg@10"]
    assert results["bm25"]["ndcg@10"] > 0.9
    assert results["index"]["reingest_unchanged"] == 4
    assert "not fit" in results["fit_on"]["hybrid_weighted"]


def test_bench_reads_hotpotqa_pooled(tmp_path: Path) -> None:
    row = {"id": "h1", "question": "Which river runs through the town of X?", "contexts": [
        {"title": "X (town)", "text": "X (town) lies on the river Y.", "supporting": True},
        {"title": "Y", "text": "Y is a river.", "supporting": True},
        {"title": "Z", "text": "Z is a hill.", "supporting": False}]}
    file = tmp_path / "dev500.jsonl"
    file.write_text(json.dumps(row) + "\n", encoding="utf-8")
    results = run_retrieval_bench(file, embedder=FakeEmbedder())
    assert (results["documents"], results["queries"]) == (3, 1)
    assert results["bm25"]["recall@100"] == 1.0


class Backwards(Reranker):
    """Reverses the first stage's order: a reranker that can only do harm here."""

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        return [float(i) for i in range(len(passages))]


def test_bench_scores_a_reranker_beside_the_hybrid_on_the_same_queries(tmp_path: Path) -> None:
    results = run_retrieval_bench(_beir(tmp_path / "tiny"), embedder=FakeEmbedder(),
                                  reranker=Backwards(), rerank_candidates=4, rerank_queries=1)
    row = results["hybrid_reranked"]
    assert (row["reranker"], row["candidates"], row["queries"]) == ("Backwards", 4, 1)
    assert row["ndcg@10"] < row["hybrid_same_queries"]["ndcg@10"]
    assert row["queries_per_s"] > 0
    assert "hybrid_reranked" not in run_retrieval_bench(_beir(tmp_path / "again"),
                                                         embedder=FakeEmbedder())


def test_bench_cli_refuses_an_unknown_reranker(tmp_path: Path) -> None:
    result = CliRunner().invoke(build(), [
        "bench", "retrieval", "--dataset", str(_beir(tmp_path / "tiny")), "--reranker", "bert"])
    assert isinstance(result.exception, UserError)
    assert "--reranker must be 'llm' or 'overlap'" in str(result.exception)
