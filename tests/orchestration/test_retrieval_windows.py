"""Long chunks as windows ("MaxP"): one vector per window, a chunk scored by its best one."""

from __future__ import annotations

from pathlib import Path

import pytest

from compound.errors import UserError
from compound.intelligence.embedders import FakeEmbedder
from compound.orchestration.ingest import ChunkSettings, Document
from compound.orchestration.retrieval import DenseRetriever, DocumentIndex, VectorIndex
from compound.orchestration.retrieval.index import LongText, entry_chunk_id, window_entry_id

#: 24 words about parks; the penguin sentence only in what comes after them
FILLER = " ".join(f"council parks budget line {i} reviewed" for i in range(4))
LONG = Document("long", f"{FILLER} penguins huddle together for warmth in antarctic winter")
SHORT = [
    Document("volcano", "volcanoes erupt molten lava and ash"),
    Document("market", "stock markets fell sharply on monday"),
    Document("recipe", "bake the bread for forty minutes"),
]
QUERY = "penguins huddle warmth antarctic winter"


def _index(folder: Path, long_text: LongText = "windows", vectors: VectorIndex | None = None,
           embedder: FakeEmbedder | None = None) -> DocumentIndex:
    return DocumentIndex(
        folder, embedder=embedder or FakeEmbedder(dim=256, max_tokens=16, stride=4),
        lexical=False, chunking=ChunkSettings(strategy="none"), long_text=long_text,
        vectors=vectors,
    )


def _qdrant(tmp_path: Path) -> VectorIndex:
    pytest.importorskip("qdrant_client", reason="needs compound[qdrant]")
    from compound.orchestration.retrieval.qdrant import QdrantVectorIndex

    return QdrantVectorIndex(collection="windows", path=str(tmp_path / "qdrant"))


def test_entry_ids_cannot_collide_with_chunk_ids() -> None:
    # chunk ids end in '#N': a window id with '#N' could name another document's chunk
    assert window_entry_id("doc#0", 2) == "doc#0#w2"
    assert entry_chunk_id("doc#0#w2") == "doc#0"
    assert entry_chunk_id("doc#0#2") == "doc#0#2"


def test_an_answer_past_the_window_is_found_only_with_windows(tmp_path: Path) -> None:
    results = {}
    modes: tuple[LongText, ...] = ("cut", "windows")
    for mode in modes:
        index = _index(tmp_path / mode, mode)
        index.ingest([LONG, *SHORT])
        hits = DenseRetriever(index, top_k=4).run(QUERY).hits
        results[mode] = [h.doc_id for h in hits]
        assert index.check() == []
    assert results["windows"][0] == "long"
    assert results["cut"][0] != "long"
    # one hit per chunk, however many of its windows match, and still k of them
    assert sorted(results["windows"]) == sorted(["long", *(d.id for d in SHORT)])


def test_search_asks_for_more_entries_until_k_chunks(tmp_path: Path) -> None:
    index = _index(tmp_path)
    many = [Document(f"d{n}", f"{FILLER} penguins huddle {n}") for n in range(6)]
    index.ingest([*many, *SHORT])
    assert len(index.vectors) > len(many) + len(SHORT)  # type: ignore[arg-type]
    found = index.vector_search(index.embedder.embed_query(QUERY), 8)  # type: ignore[union-attr]
    assert len(found) == 8 and len({chunk for chunk, _ in found}) == 8
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


@pytest.mark.parametrize("backend", ["numpy", "qdrant"])
def test_update_delete_and_reopen_keep_windows_consistent(tmp_path: Path, backend: str) -> None:
    def vectors() -> VectorIndex | None:
        return _qdrant(tmp_path) if backend == "qdrant" else None

    index = _index(tmp_path / "i", vectors=vectors())
    index.ingest([LONG, *SHORT])
    assert index.check() == []
    windows = len(index.vectors.keys())  # type: ignore[union-attr]
    index.ingest([Document("long", "now a short text about penguins")])  # windows shrink to one
    assert index.check() == []
    assert len(index.vectors.keys()) < windows  # type: ignore[union-attr]
    index.ingest([Document("long2", LONG.text)])
    index.delete(["long2", "market"])
    assert index.check() == []
    assert set(index.vectors.keys()) == {"long#0", "volcano#0", "recipe#0"}  # type: ignore[union-attr]
    index.ingest([LONG])
    index.close()
    embedder = FakeEmbedder(dim=256, max_tokens=16, stride=4)
    reopened = _index(tmp_path / "i", vectors=vectors(), embedder=embedder)
    assert reopened.check() == []
    assert embedder.texts_embedded == 0  # every window came from the embedding cache
    assert DenseRetriever(reopened, top_k=1).run(QUERY).hits[0].doc_id == "long"
    reopened.close()


@pytest.mark.parametrize("backend", ["numpy", "qdrant"])
def test_turning_windows_on_and_off_resyncs(tmp_path: Path, backend: str) -> None:
    def vectors() -> VectorIndex | None:
        return _qdrant(tmp_path) if backend == "qdrant" else None

    index = _index(tmp_path / "i", "cut", vectors=vectors())
    index.ingest([LONG, *SHORT])
    index.close()
    modes: tuple[LongText, ...] = ("windows", "cut")
    for mode in modes:
        reopened = _index(tmp_path / "i", mode, vectors=vectors())
        assert reopened.check() == [], mode
        expected = "long" if mode == "windows" else "volcano"
        top = DenseRetriever(reopened, top_k=4).run(QUERY).doc_ids()
        assert (top[0] == "long") == (expected == "long"), (mode, top)
        reopened.close()


class CountingWindows(FakeEmbedder):
    """A fake embedder that counts the texts it cuts into windows."""

    def __init__(self) -> None:
        super().__init__(dim=256, max_tokens=16, stride=4)
        self.cut = 0

    def windows(self, text: str) -> list[str]:
        self.cut += 1
        return super().windows(text)


def test_reopening_reads_windows_from_the_cache(tmp_path: Path) -> None:
    first = CountingWindows()
    index = _index(tmp_path, embedder=first)
    index.ingest([LONG, *SHORT])
    assert first.cut == 4
    index.close()
    again = CountingWindows()
    reopened = _index(tmp_path, embedder=again)
    hits = DenseRetriever(reopened, top_k=1).run(QUERY).hits
    assert again.cut == 0 and hits[0].doc_id == "long"
    assert reopened.check() == []


def test_windows_that_are_not_substrings_are_used_but_not_kept() -> None:
    from compound.intelligence.embedders.cache import CachedEmbedder, EmbeddingCache

    class Rewording(CountingWindows):
        def windows(self, text: str) -> list[str]:
            self.cut += 1
            return [piece.upper() for piece in FakeEmbedder.windows(self, text)]

    inner = Rewording()
    cached = CachedEmbedder(inner, EmbeddingCache(":memory:"))
    text = LONG.text
    assert cached.windows_many([text, text]) == [inner.windows(text)] * 2
    plain = CountingWindows()
    kept = CachedEmbedder(plain, EmbeddingCache(":memory:"))
    assert kept.windows_many([text]) == kept.windows_many([text]) == [plain.windows(text)]
    assert plain.cut == 2  # once through the cache, once above


def test_long_text_is_checked() -> None:
    with pytest.raises(UserError, match="long_text must be 'cut' or 'windows'"):
        DocumentIndex("unused", embedder=FakeEmbedder(), long_text="split")  # type: ignore[arg-type]


def test_spec_chooses_windows_or_cut(tmp_path: Path) -> None:
    from compound.orchestration.retrieval.build import open_index
    from compound.system import System

    def system(retriever: str) -> System:
        return System.from_yaml(
            f"name: demo\nloop: interaction\ntask: Answer.\nretrievers:\n  docs: {retriever}\n"
        )

    default = system("{kind: dense, embedder: fake}")
    assert default.retrievers["docs"].long_text == "windows"
    assert open_index(default, "docs", embedder=FakeEmbedder()).long_text == "windows"
    cut = system("{kind: dense, embedder: fake, long_text: cut}")
    assert open_index(cut, "docs", embedder=FakeEmbedder()).long_text == "cut"


@pytest.mark.integration
def test_minilm_windows_find_the_second_window(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="needs compound[retrieval]")
    from compound.intelligence.embedders import OnnxEmbedder

    filler = " ".join(f"The council reviewed budget line {i} for the parks department."
                      for i in range(6))
    long = Document("long", f"{filler} Penguins huddle together to keep warm in winter.")
    others = [Document("volcano", "Volcanoes erupt molten lava."),
              Document("market", "Stock markets fell sharply on Monday.")]
    tops = {}
    modes: tuple[LongText, ...] = ("cut", "windows")
    for mode in modes:
        embedder = OnnxEmbedder(max_tokens=64, stride=16, threads=1)
        assert len(embedder.windows(long.text)) > 1
        assert all(embedder.count_tokens(w) <= 64 for w in embedder.windows(long.text))
        index = DocumentIndex(tmp_path / mode, embedder=embedder, lexical=False,
                              chunking=ChunkSettings(strategy="none"),
                              long_text=mode)
        index.ingest([long, *others])
        tops[mode] = DenseRetriever(index, top_k=3).run("how do penguins keep warm").doc_ids()
        assert index.check() == []
        index.close()
    assert tops["windows"][0] == "long" and tops["cut"][0] != "long", tops
