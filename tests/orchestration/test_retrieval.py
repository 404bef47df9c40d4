"""Retrieval: the document index, every retriever and vector backend, fusion, filters,
reranking, crash consistency, the spec and the CLI."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from compound.errors import SpecError, UserError
from compound.intelligence.embedders import FakeEmbedder
from compound.intelligence.llm.errors import InvalidResponse
from compound.orchestration.ingest import ChunkSettings, Document, IngestProblem
from compound.orchestration.retrieval import (
    DenseRetriever,
    DocumentIndex,
    Filter,
    HybridRetriever,
    LexicalRetriever,
    OverlapReranker,
    Retriever,
    build_retriever,
    open_index,
    reciprocal_rank_fusion,
    weighted_score_fusion,
)
from compound.orchestration.retrieval.rerank import LLMReranker
from compound.orchestration.retrieval.tables import ChunkTables
from compound.orchestration.retrieval.types import Hit
from compound.orchestration.retrieval.vectors import VectorIndex
from compound.system import System

CORPUS = [
    Document("cats", "Cats purr when they are content and relaxed.", title="Cats",
             metadata={"lang": "en", "year": 2019, "tags": ["pets"]}),
    Document("dogs", "Dogs bark at strangers and wag their tails.", title="Dogs",
             metadata={"lang": "en", "year": 2021, "tags": ["pets"]}),
    Document("tax", "Income tax law changed in 1990 for small businesses.", title="Tax",
             metadata={"lang": "en", "year": 1990}),
    Document("chats", "Les chats ronronnent quand ils sont contents.", title="Chats",
             metadata={"lang": "fr", "year": 2020, "tags": ["pets"]}),
    Document("rates", "Central banks raised interest rates to fight inflation.", title="Rates",
             metadata={"lang": "en", "year": 2022}),
    Document("proteins", "Protein folding determines enzyme function in cells.",
             title="Proteins", metadata={"lang": "en", "year": 2018}),
]


def _qdrant_vectors(tmp_path: Path) -> VectorIndex:
    pytest.importorskip("qdrant_client", reason="needs compound[qdrant]")
    from compound.orchestration.retrieval.qdrant import QdrantVectorIndex

    return QdrantVectorIndex(collection="test", path=str(tmp_path / "qdrant"))


@pytest.fixture(params=["numpy", "qdrant"])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentIndex]:
    vectors = _qdrant_vectors(tmp_path) if request.param == "qdrant" else None
    built = DocumentIndex(tmp_path / "index", embedder=FakeEmbedder(), vectors=vectors)
    built.ingest(CORPUS)
    yield built
    built.close()


RETRIEVERS: dict[str, Callable[[DocumentIndex], Retriever]] = {
    "bm25": lambda i: LexicalRetriever(i, top_k=3),
    "dense": lambda i: DenseRetriever(i, top_k=3),
    "hybrid-weighted": lambda i: HybridRetriever(i, top_k=3, fusion="weighted"),
    "hybrid-rrf": lambda i: HybridRetriever(i, top_k=3, fusion="rrf"),
    "hybrid-reranked": lambda i: HybridRetriever(i, top_k=3, reranker=OverlapReranker()),
}


# -- the contract every retriever meets, on every vector backend -----------------------------


@pytest.mark.parametrize("kind", RETRIEVERS)
def test_retriever_contract(kind: str, index: DocumentIndex) -> None:
    retriever = RETRIEVERS[kind](index)
    result = retriever.run("why do cats purr when content")
    assert result.hits[0].doc_id == "cats"
    assert 1 <= len(result.hits) <= 3
    assert [h.rank for h in result.hits] == list(range(1, len(result.hits) + 1))
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    top = result.hits[0]
    assert (top.title, top.source, top.metadata["year"]) == ("Cats", "", 2019)
    again = retriever.run("why do cats purr when content")
    assert (again.hits, again.notes) == (result.hits, result.notes)  # deterministic
    assert len(retriever.run("cats", top_k=1).hits) == 1


@pytest.mark.parametrize("kind", RETRIEVERS)
def test_retriever_filters(kind: str, index: DocumentIndex) -> None:
    retriever = RETRIEVERS[kind](index)
    french = retriever.run("cats purr content chats", filters={"lang": "fr"})
    assert {h.doc_id for h in french.hits} == {"chats"}
    recent_pets = retriever.run("cats dogs pets", top_k=5,
                                filters={"tags": "pets", "year": {"gte": 2020}})
    assert {h.doc_id for h in recent_pets.hits} <= {"dogs", "chats"}
    none = retriever.run("cats", filters={"lang": "de"})
    assert none.hits == [] and "no chunk matched the filters" in none.notes


@pytest.mark.parametrize("kind", RETRIEVERS)
def test_retriever_empty_and_bad_queries(kind: str, index: DocumentIndex) -> None:
    retriever = RETRIEVERS[kind](index)
    assert retriever.run("   ").notes == ["the query is empty; nothing to search for"]
    with pytest.raises(UserError, match="top_k must be at least 1"):
        retriever.run("cats", top_k=0)
    with pytest.raises(UserError, match="must be a string"):
        retriever.run(42)  # type: ignore[arg-type]


def test_query_longer_than_the_window_is_truncated_and_reported(tmp_path: Path) -> None:
    index = DocumentIndex(tmp_path, embedder=FakeEmbedder(max_tokens=8))
    index.ingest(CORPUS)
    result = HybridRetriever(index).run("cats purr " * 50)
    assert result.hits[0].doc_id == "cats"
    assert any("the embedder reads the first 8" in n for n in result.notes)


# -- the index: incremental, persistent, consistent -------------------------------------------


def test_reingesting_unchanged_documents_does_nothing(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    index = DocumentIndex(tmp_path, embedder=embedder)
    first = index.ingest(CORPUS)
    generation, embedded = index.generation(), embedder.texts_embedded
    again = index.ingest(CORPUS)
    assert (first.added, again.added, again.unchanged, again.embedded) == (6, 0, 6, 0)
    assert index.generation() == generation and embedder.texts_embedded == embedded
    assert "lexical" not in again.seconds


def test_update_and_delete_by_id(tmp_path: Path) -> None:
    index = DocumentIndex(tmp_path, embedder=FakeEmbedder())
    index.ingest(CORPUS)
    changed = Document("tax", "Tax rules for freelancers were simplified.", title="Tax")
    report = index.ingest([changed])
    assert (report.updated, report.added, report.chunks) == (1, 0, 1)
    assert index.chunks(["tax#0"])["tax#0"].text == changed.text
    assert index.delete(["dogs", "unknown"]).deleted == 1
    assert index.stats()["documents"] == 5
    assert index.check() == []
    bm25 = LexicalRetriever(index, top_k=6)
    assert "dogs" not in {h.doc_id for h in bm25.run("dogs bark").hits}
    assert bm25.run("freelancers").hits[0].doc_id == "tax"


def test_duplicate_ids_and_problems_are_reported(tmp_path: Path) -> None:
    index = DocumentIndex(tmp_path, embedder=FakeEmbedder())
    problem = IngestProblem("x.txt", "the document is empty")
    report = index.ingest([CORPUS[0], problem, Document("cats", "another cat"), CORPUS[1]])
    assert report.added == 2
    assert report.problems[0] is problem
    assert "duplicate document id 'cats'" in report.problems[1].message
    assert index.chunks(["cats#0"])["cats#0"].text == CORPUS[0].text


def test_index_reopens_from_disk_with_the_same_results(tmp_path: Path) -> None:
    index = DocumentIndex(tmp_path, embedder=FakeEmbedder())
    index.ingest(CORPUS)
    before = HybridRetriever(index).run("interest rates inflation")
    index.close()
    embedder = FakeEmbedder()
    reopened = DocumentIndex(tmp_path, embedder=embedder)
    after = HybridRetriever(reopened).run("interest rates inflation")
    assert after.hits == before.hits
    assert reopened.notes == [] and embedder.texts_embedded == 1  # only the query


def test_a_stale_lexical_index_is_rebuilt_on_open(tmp_path: Path) -> None:
    index = DocumentIndex(tmp_path, embedder=FakeEmbedder())
    index.ingest(CORPUS)
    index.close()
    (tmp_path / "manifest.json").unlink()
    reopened = DocumentIndex(tmp_path, embedder=FakeEmbedder())
    reopened.open()
    assert any("BM25 index was behind" in n for n in reopened.notes)
    assert reopened.check() == []
    assert LexicalRetriever(reopened).run("enzyme").hits[0].doc_id == "proteins"


def test_changing_chunk_settings_rechunks_everything(tmp_path: Path) -> None:
    DocumentIndex(tmp_path, embedder=FakeEmbedder()).ingest(CORPUS)
    index = DocumentIndex(tmp_path, embedder=FakeEmbedder(),
                          chunking=ChunkSettings(size=3, overlap=1))
    report = index.ingest(CORPUS)
    assert report.updated == 6 and report.chunks > 6
    assert index.check() == []


def test_lexical_only_and_dense_only_indexes(tmp_path: Path) -> None:
    lexical = DocumentIndex(tmp_path / "l")
    lexical.ingest(CORPUS)
    assert LexicalRetriever(lexical).run("enzyme").hits[0].doc_id == "proteins"
    with pytest.raises(UserError, match="has no embedder"):
        DenseRetriever(lexical).run("enzyme")
    dense = DocumentIndex(tmp_path / "d", embedder=FakeEmbedder(), lexical=False)
    dense.ingest(CORPUS)
    assert DenseRetriever(dense).run("protein folding enzyme").hits[0].doc_id == "proteins"
    with pytest.raises(UserError, match="no BM25 part"):
        LexicalRetriever(dense).run("enzyme")


def test_qdrant_backend_resyncs_after_an_interrupted_ingest(tmp_path: Path) -> None:
    index = DocumentIndex(tmp_path / "i", embedder=FakeEmbedder(),
                          vectors=_qdrant_vectors(tmp_path))
    index.ingest(CORPUS)
    index.vectors.delete(["rates#0"])  # as if killed before the vectors were written
    index.tables.set_meta("vectors_generation", "0")
    index.close()
    embedder = FakeEmbedder()
    reopened = DocumentIndex(tmp_path / "i", embedder=embedder, vectors=_qdrant_vectors(tmp_path))
    reopened.open()
    assert any("resynced 1 chunks" in n for n in reopened.notes)
    assert embedder.texts_embedded == 0  # the vector came from the embedding cache
    assert reopened.check() == []
    assert DenseRetriever(reopened).run("interest rates inflation").hits[0].doc_id == "rates"


KILLABLE = textwrap.dedent("""
    import sys, time
    from compound.intelligence.embedders import FakeEmbedder
    from compound.orchestration.ingest import Document
    from compound.orchestration.retrieval import DocumentIndex

    def documents():
        for i in range(100_000):
            time.sleep(0.002)
            yield Document(f"d{i}", f"document number {i} about topic {i % 17}")

    index = DocumentIndex(sys.argv[1], embedder=FakeEmbedder(), batch_documents=50)
    index.ingest(documents())
""")


@pytest.mark.integration
def test_killed_mid_ingest_leaves_a_consistent_index(tmp_path: Path) -> None:
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE, encoding="utf-8")
    folder = tmp_path / "index"
    child = subprocess.Popen([sys.executable, str(script), str(folder)])
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if (folder / "index.sqlite").exists():
                probe = ChunkTables(folder / "index.sqlite")
                generation = probe.generation()
                probe.close()
                if generation >= 3:
                    break
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    index = DocumentIndex(folder, embedder=FakeEmbedder(), batch_documents=50)
    index.open()
    stats = index.stats()
    assert stats["documents"] >= 150 and stats["documents"] % 50 == 0
    assert index.check() == []
    hit = LexicalRetriever(index, top_k=1).run("document number 42").hits[0]
    assert hit.doc_id == "d42"
    report = index.ingest([Document("d0", "document number 0 about topic 0"),
                           Document("new", "a new document")])
    assert (report.unchanged, report.added) == (1, 1)


# -- fusion, filters and reranking -------------------------------------------------------------


def test_rrf_and_weighted_fusion_arithmetic() -> None:
    lists = {"lexical": [("a", 10.0), ("b", 5.0), ("c", 0.0)],
             "dense": [("c", 0.9), ("a", 0.5)]}
    rrf = dict(reciprocal_rank_fusion(lists, k=60))
    assert rrf["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert rrf["c"] == pytest.approx(1 / 63 + 1 / 61)
    weighted = dict(weighted_score_fusion(lists, weights={"lexical": 0.25, "dense": 0.75}))
    assert weighted["a"] == pytest.approx(0.25 * 1.0 + 0.75 * 0.0)
    assert weighted["b"] == pytest.approx(0.25 * 0.5)
    assert weighted["c"] == pytest.approx(0.75)
    with pytest.raises(UserError, match="unknown lists"):
        weighted_score_fusion(lists, weights={"sparse": 1.0})
    with pytest.raises(UserError, match="one above 0"):
        reciprocal_rank_fusion(lists, weights={"lexical": 0.0, "dense": 0.0})


def test_fusion_ties_break_by_id() -> None:
    lists = {"x": [("b", 1.0), ("a", 1.0)]}
    assert [i for i, _ in weighted_score_fusion(lists)] == ["a", "b"]


def test_filter_parsing_and_errors() -> None:
    f = Filter.parse({"tags": "pets", "year": {"gte": 2000, "lt": 2021}, "lang": ["en", "fr"]})
    assert f.matches({"tags": ["pets", "x"], "year": 2019, "lang": "fr"})
    assert not f.matches({"tags": ["x"], "year": 2019, "lang": "fr"})
    assert not f.matches({"tags": "pets", "year": "2019", "lang": "fr"})
    assert Filter.parse({"lang": {"nin": ["de"]}}).matches({})
    with pytest.raises(UserError, match="did you mean 'gte'"):
        Filter.parse({"year": {"gtee": 1}})
    with pytest.raises(UserError, match="takes a number"):
        Filter.parse({"year": {"gt": "2020"}})


class _GradingLLM:
    """Grades a passage by whether it mentions 'inflation'; answers one malformed reply."""

    def __init__(self) -> None:
        self.calls = 0

    def complete(self, prompt: str, **_: object) -> object:
        self.calls += 1
        passage = prompt.split("Passage:", 1)[1]
        text = "nonsense" if "Dogs" in passage else (
            '{"relevance": 9}' if "inflation" in passage else '{"relevance": 2}')
        data = json.loads(text) if text.startswith("{") else None
        return type("Completion", (), {"text": text, "data": data})()


def test_llm_reranker_reorders_and_survives_bad_replies(tmp_path: Path) -> None:
    index = DocumentIndex(tmp_path, embedder=FakeEmbedder())
    index.ingest(CORPUS)
    llm = _GradingLLM()
    retriever = LexicalRetriever(index, top_k=2, reranker=LLMReranker(llm), rerank_candidates=6)
    hits = retriever.run("banks dogs cats rates tax").hits
    assert hits[0].doc_id == "rates" and hits[0].scores["rerank"] == 9.0
    assert "lexical" in hits[0].scores and llm.calls >= 2


class _OutOfRangeLLM:
    """Answers like the embedded provider when a small model breaks the schema's bounds."""

    def complete(self, prompt: str, **_: object) -> object:
        passage = prompt.split("Passage:", 1)[1]
        if "inflation" in passage:
            raise InvalidResponse("JSON does not match the schema at relevance: 87 is greater "
                                  "than the maximum of 10", raw='{"relevance": 87}')
        text = '{"relevance": 3}' if "rates" in passage.lower() else "grade: 42"
        data = json.loads(text) if text.startswith("{") else None
        return type("Completion", (), {"text": text, "data": data})()


def test_llm_reranker_counts_an_out_of_range_grade_as_zero() -> None:
    hits = [Hit("a#0", "a", "inflation and central banks", 3.0, 1),
            Hit("b#0", "b", "interest rates rise", 2.0, 2),
            Hit("c#0", "c", "cats purr", 1.0, 3)]
    reranked = LLMReranker(_OutOfRangeLLM()).rerank("what moves rates", hits)
    assert [(h.doc_id, h.scores["rerank"]) for h in reranked] == [
        ("b", 3.0), ("a", 0.0), ("c", 0.0)]


# -- the spec and the CLI ----------------------------------------------------------------------

SPEC = """\
name: docs
loop: interaction
task: Answer from the docs.
models:
  llm: {provider: scripted}
retrievers:
  docs:
    kind: hybrid
    embedder: fake
    documents: [docs/]
    top_k: 2
    chunking: {strategy: headings, size: 50, overlap: 5}
    fusion: {method: rrf}
    filters: {lang: en}
    reranker: {kind: llm, model: llm}
"""


def test_spec_builds_the_retriever(tmp_path: Path) -> None:
    system = System.from_yaml(SPEC, source=tmp_path / "compound.yaml")
    index = open_index(system, "docs")
    assert index.folder == system.store_path().parent / "indexes" / "docs"
    assert index.chunking == ChunkSettings(strategy="headings", size=50, overlap=5)
    retriever = build_retriever(system, "docs", index=index,
                                llm_factory=lambda name: _GradingLLM())
    assert isinstance(retriever, HybridRetriever) and retriever.fusion == "rrf"
    assert retriever.filters == Filter.parse({"lang": "en"})
    with pytest.raises(UserError, match=r"no retriever 'doc'.*did you mean 'docs'"):
        build_retriever(system, "doc")


@pytest.mark.parametrize(("change", "message"), [
    ("    chunkin: {}\n", "unknown key 'chunkin' (did you mean 'chunking'?)"),
    ("    chunking: {size: 10, overlap: 10}\n", "overlap (10) must be smaller than size (10)"),
    ("    backend: qdrant\n", "needs a 'qdrant' section"),
    ("    filters: {year: {gt: soon}}\n", "takes a number"),
])
def test_spec_errors_say_what_to_fix(change: str, message: str) -> None:
    text = SPEC.replace("    filters: {lang: en}\n", "").replace("    chunking: {strategy: "
                                                                  "headings, size: 50, overlap: "
                                                                  "5}\n", "") + change
    with pytest.raises(SpecError, match=re.escape(message)):
        System.from_yaml(text)


def test_spec_llm_reranker_must_name_a_declared_model() -> None:
    with pytest.raises(SpecError, match="model 'judge' is not declared"):
        System.from_yaml(SPEC.replace("model: llm}", "model: judge}"))


def _compound(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "compound", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


@pytest.mark.integration
def test_cli_ingest_then_search(tmp_path: Path) -> None:
    (tmp_path / "compound.yaml").write_text(SPEC.replace("    reranker: {kind: llm, model: "
                                                         "llm}\n", ""), encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "cats.md").write_text(
        "---\nlang: en\n---\n# Cats\nCats purr when content.\n# Dogs\nDogs bark.\n",
        encoding="utf-8")
    (tmp_path / "docs" / "bad.txt").write_bytes(b"\xff\xfe tax law")
    first = _compound("ingest", ".", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["added"], report["chunks"], report["index"]["documents"]) == (2, 3, 2)
    assert any("not valid UTF-8" in p for p in report["problems"])
    again = json.loads(_compound("ingest", ".", "--json", cwd=tmp_path).stdout)
    assert (again["unchanged"], again["embedded"]) == (2, 0)
    found = _compound("search", ".", "why do cats purr", "--json", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)["hits"]
    assert hits[0]["chunk_id"] == "docs/cats.md#0" and hits[0]["heading"] == "Cats"
    assert all(h["doc_id"] == "docs/cats.md" for h in hits)  # the spec filters lang: en
    table = _compound("search", ".", "dogs", "--filter", "heading=Dogs", cwd=tmp_path)
    assert "Dogs bark" in table.stdout and "docs/cats.md" in table.stdout
    missing = _compound("search", ".", "x", "--retriever", "nope", cwd=tmp_path)
    assert missing.returncode == 2 and "no retriever 'nope'" in missing.stderr


# -- the real thing on a SciFact slice ---------------------------------------------------------


@pytest.mark.integration
@pytest.mark.dataset
def test_minilm_hybrid_on_a_scifact_slice(
    shared_dataset: Callable[[str], Path], tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime", reason="needs compound[retrieval]")
    from compound.intelligence.embedders import OnnxEmbedder
    from compound.metrics.ranking import evaluate_ranking
    from compound.orchestration.retrieval.bench import load_beir

    data = load_beir(shared_dataset("scifact/corpus.jsonl").parent, max_queries=40)
    relevant = {d for rel in data.qrels.values() for d in rel}
    corpus = [d for d in data.corpus if d.id in relevant] + [
        d for d in data.corpus if d.id not in relevant][:160]
    index = DocumentIndex(tmp_path, embedder=OnnxEmbedder(threads=2),
                          chunking=ChunkSettings(strategy="none"))
    index.ingest(corpus)
    scores = {}
    for name, retriever in {"bm25": LexicalRetriever(index), "dense": DenseRetriever(index),
                            "hybrid": HybridRetriever(index)}.items():
        run = {q: retriever.run(text, top_k=10).doc_ids() for q, text in data.queries.items()}
        scores[name] = evaluate_ranking(run, data.qrels).metrics["ndcg@10"]
    # On 200 documents the task is easy; each retriever must clearly work, and fusing the
    # two must not fall below the weaker of them.
    assert scores["bm25"] > 0.6 and scores["dense"] > 0.6, scores
    assert scores["hybrid"] >= min(scores["bm25"], scores["dense"]), scores


def test_workflow_step_adapter_shares_one_index(tmp_path: Path) -> None:
    from compound.workflow.adapters import AdapterRequest
    from compound.workflow.kinds.retriever import retriever_step

    system = System.from_yaml(SPEC.replace("    reranker: {kind: llm, model: llm}\n", ""),
                              source=tmp_path / "compound.yaml")
    shared: dict[str, object] = {}
    requests = [AdapterRequest(system=system, step=None, component="docs",  # type: ignore[arg-type]
                               kind="retriever", spec=system.retrievers["docs"], shared=shared)
                for _ in range(2)]
    first, second = (retriever_step(r) for r in requests)
    assert first.index is second.index
    first.index.ingest(CORPUS)
    assert second.run("cats purr").hits[0].doc_id == "cats"


def test_cross_encoder_reranker_feeds_pairs_and_reads_logits(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx", reason="needs compound[retrieval]")
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer

    from compound.intelligence.embedders.onnx import default_minilm_files
    from compound.orchestration.retrieval.rerank import CrossEncoderReranker

    # A stand-in cross-encoder whose logit is the sum of the pair's token ids.
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["b", "l"])
              for n in ("input_ids", "attention_mask", "token_type_ids")]
    graph = helper.make_graph(
        [helper.make_node("Mul", ["input_ids", "attention_mask"], ["kept"]),
         helper.make_node("Cast", ["kept"], ["as_float"], to=TensorProto.FLOAT),
         helper.make_node("ReduceSum", ["as_float", "axes"], ["logits"], keepdims=1)],
        "sum_of_ids", inputs,
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", 1])],
        initializer=[helper.make_tensor("axes", TensorProto.INT64, [1], [1])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "ce.onnx"))
    _, tokenizer_file = default_minilm_files()
    reranker = CrossEncoderReranker(model_path=tmp_path / "ce.onnx",
                                    tokenizer_path=tokenizer_file, max_tokens=16, batch_size=2)
    passages = ["zebra zebra", "a", "yellow " * 40]
    scores = reranker.score("query words", passages)
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=16, strategy="only_second")
    expected = [float(sum(tokenizer.encode("query words", p).ids)) for p in passages]
    assert scores == pytest.approx(expected)
    hits = [Hit(f"{i}#0", str(i), p, 0.0) for i, p in enumerate(passages)]
    ranked = reranker.rerank("query words", hits)
    assert [h.doc_id for h in ranked] == [str(i) for i in
                                          sorted(range(3), key=lambda i: -expected[i])]


def test_bad_input_is_reported_and_the_index_stays_consistent(tmp_path: Path) -> None:
    from compound.orchestration.ingest import read_documents

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "empty.txt").write_text("", encoding="utf-8")
    (docs / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (docs / "big.txt").write_text("word " * 1000, encoding="utf-8")  # over the 1 KiB limit
    (docs / "recs.jsonl").write_text(
        '{"_id": "a", "text": "alpha"}\n{"_id": "a", "text": "again"}\n{"_id": "b"}\n',
        encoding="utf-8")
    index = DocumentIndex(tmp_path / "index", embedder=FakeEmbedder(max_tokens=8))
    report = index.ingest(read_documents([docs], base_dir=docs, max_document_bytes=1024))
    assert sorted(index.tables.document_hashes(["a", "latin1.txt", "b", "big.txt"])) == [
        "a", "latin1.txt"]
    reasons = " | ".join(str(p) for p in report.problems)
    for expected in ("the document is empty", "not valid UTF-8", "above the 1.0 KiB limit",
                     "duplicate document id 'a'", "no text"):
        assert expected in reasons
    assert index.check() == []
    result = HybridRetriever(index).run("café " * 100)
    assert result.hits and any("reads the first 8" in n for n in result.notes)
