"""The document index: documents and chunks in SQLite, with the lexical and vector indexes
derived from them and kept in step.

Layout of an index folder::

    index.sqlite        documents, chunks, the embedding cache, the generation counter
    lexical-g{N}-*/     the BM25 index built from generation N
    manifest.json       which lexical folder is current (replaced atomically)

**The SQLite tables are the source of truth** (:mod:`.tables`). Every ingest batch commits in
one transaction and bumps the generation; derived indexes record the generation they were
built from. When the index opens and a derived index is behind (a process was killed
mid-ingest), it is rebuilt from the tables, so a crash at any point leaves an index that
opens and agrees with itself. Embeddings are written to the cache before their batch
commits, so the rebuild embeds nothing twice. An index written by a compound that built a
chunk's indexed text (:meth:`~compound.orchestration.chunking.Chunk.indexed_text`) differently
is caught up the same way when it opens.

**Long chunks** (``long_text``): ``cut`` gives each chunk one vector, of the text the embedder
reads (the first ``max_tokens``); ``windows`` (the default, since a default chunk of 256 words
often runs past 256 word pieces) gives a chunk one vector per window of
:meth:`~compound.intelligence.embedders.Embedder.windows`, and dense search scores the chunk by
its best window ("MaxP"; on SciFact, dense nDCG@10 0.643 -> 0.648 with the int8 graph and
hybrid 0.728 -> 0.732 with the float one, for about 1.9 embeddings an abstract). Vector entry
ids are the chunk id for the first window and ``CHUNKID#w2``, ``CHUNKID#w3``... for the others
(``#w``, not ``#``: a chunk id already ends in ``#N``, so ``#2`` could name another chunk); each
entry's key hashes its window's text, so the embedding cache serves windows like chunks.

Re-ingesting a document whose content (text, title, source, metadata) and chunk settings are
unchanged does nothing; a changed one has its chunks replaced; :meth:`DocumentIndex.delete`
removes documents by id.

Example:
    >>> import tempfile
    >>> from compound.intelligence.embedders import FakeEmbedder
    >>> from compound.orchestration.ingest import Document
    >>> index = DocumentIndex(tempfile.mkdtemp(), embedder=FakeEmbedder())
    >>> index.ingest([Document("d1", "cats purr"), Document("d2", "dogs bark")]).added
    2
    >>> index.ingest([Document("d1", "cats purr")]).unchanged
    1
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from compound.errors import UserError
from compound.intelligence.embedders import CachedEmbedder, Embedder, EmbeddingCache, text_hash
from compound.orchestration.chunking import (
    INDEXED_TEXT_VERSION,
    Chunk,
    ChunkSettings,
    chunk_document,
)
from compound.orchestration.ingest import Document, IngestProblem
from compound.orchestration.retrieval.filters import Filter
from compound.orchestration.retrieval.lexical import LexicalIndex
from compound.orchestration.retrieval.tables import ChunkTables, payload
from compound.orchestration.retrieval.vectors import NumpyVectorIndex, VectorEntry, VectorIndex

#: ``progress(stage, done, total)``: stage is ``documents``, ``embedding`` or ``lexical``.
Progress = Callable[[str, int, int | None], None]

#: What a chunk longer than the embedder's window gets: one vector of its start, or one a window.
LongText = Literal["cut", "windows"]

_WINDOW = re.compile(r"#w(\d+)$")


def window_entry_id(chunk_id: str, number: int) -> str:
    """The vector entry id of a chunk's window ``number`` (1 is the chunk id itself).

    Example:
        >>> window_entry_id("doc#0", 1), window_entry_id("doc#0", 2)
        ('doc#0', 'doc#0#w2')
    """
    return chunk_id if number == 1 else f"{chunk_id}#w{number}"


def entry_chunk_id(entry_id: str) -> str:
    """The chunk a vector entry belongs to (the inverse of :func:`window_entry_id`).

    Example:
        >>> entry_chunk_id("doc#0#w2"), entry_chunk_id("doc#0")
        ('doc#0', 'doc#0')
    """
    return _WINDOW.sub("", entry_id)


@dataclass
class IngestReport:
    """What an ingest did.

    Attributes:
        added: new documents.
        updated: documents whose content changed.
        unchanged: documents already indexed as they are (nothing was done for them).
        deleted: documents removed.
        chunks: chunks written.
        embedded: texts the embedder actually ran on (cache misses).
        problems: inputs skipped or warned about, with the reason.
        seconds: time per stage (``chunking``, ``embedding``, ``writing``, ``lexical``), and
            ``embedding_cpu``: CPU seconds (all threads) spent embedding.
    """

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks: int = 0
    embedded: int = 0
    problems: list[IngestProblem] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.deleted)

    def timed(self, stage: str, start: float) -> None:
        """Add the time since ``start`` to ``stage``."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


class DocumentIndex:
    """Documents, chunks, and the indexes that search them.

    Args:
        folder: where the index lives (created on :meth:`open`).
        embedder: embeds chunks for dense search; None for a lexical-only index.
        lexical: keep a BM25 index.
        vectors: where vectors go; default :class:`NumpyVectorIndex` (in memory, filled from
            the tables).
        chunking: how documents are cut.
        lexical_options: :class:`LexicalIndex` settings (``method``, ``k1``, ``b``...).
        batch_documents: documents per committed batch (a kill loses at most one batch).
        embedding_cache: the cache's SQLite file; default the index's own file.
        long_text: ``cut`` (one vector a chunk, of what the embedder reads of it) or
            ``windows`` (one vector per window of the embedder's ``windows()``, dense search
            scoring a chunk by its best window). Ignored without an embedder.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        embedder: Embedder | None = None,
        lexical: bool = True,
        vectors: VectorIndex | None = None,
        chunking: ChunkSettings | None = None,
        lexical_options: Mapping[str, Any] | None = None,
        batch_documents: int = 256,
        embedding_cache: str | os.PathLike[str] | None = None,
        long_text: LongText = "windows",
    ) -> None:
        if not lexical and embedder is None:
            raise UserError("an index needs BM25 (lexical=True), an embedder, or both")
        if long_text not in ("cut", "windows"):
            raise UserError(f"long_text must be 'cut' or 'windows'; received {long_text!r}")
        self.long_text: LongText = long_text
        self.folder = Path(folder)
        self.embedder = embedder
        self.lexical = lexical
        self.vectors: VectorIndex | None = (
            (vectors or NumpyVectorIndex()) if embedder is not None else None
        )
        self.chunking = chunking or ChunkSettings()
        self.lexical_options = dict(lexical_options or {})
        self.batch_documents = batch_documents
        self.embedding_cache = embedding_cache
        self.tables = ChunkTables(self.folder / "index.sqlite")
        self.lexical_: LexicalIndex | None = None
        self.cached_embedder_: CachedEmbedder | None = None
        self.payloads_: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []
        self._opened = False

    # -- opening ----------------------------------------------------------------------------

    def open(self, progress: Progress | None = None) -> None:
        """Open (or create) the index and bring derived indexes up to the tables.

        ``notes`` records what had to be repaired. Idempotent.

        Raises:
            StoreError: the folder or its database cannot be opened.
        """
        with self.tables.lock:
            if self._opened:
                return
            self.tables.open()
            if self.embedder is not None:
                cache = EmbeddingCache(self.embedding_cache or self.tables.path)
                self.cached_embedder_ = CachedEmbedder(self.embedder, cache)
            chunks = self.tables.all_chunks()
            self._catch_up_indexed_text(chunks)
            self.payloads_ = {c.id: payload(c) for c in chunks}
            if self.lexical:
                self._open_lexical(progress)
            if self.vectors is not None:
                self._sync_vectors(chunks, progress)
            self._opened = True

    def _catch_up_indexed_text(self, chunks: Sequence[Chunk]) -> None:
        """Bring an index written under an older :meth:`Chunk.indexed_text` to the current one.

        A chunk's stored hash names the text its BM25 entry and vector were made from. Where
        the rule has changed since (``INDEXED_TEXT_VERSION``), the hashes are recomputed and the
        changed ones committed, which bumps the generation: BM25 is then rebuilt and the vectors
        resynced (re-embedding those chunks) below, on open rather than at the next ingest,
        which a system that only searches never runs.
        """
        version = str(INDEXED_TEXT_VERSION)
        if self.tables.meta("indexed_text") == version:
            return
        stored = self.tables.chunk_hashes()
        fresh = {c.id: h for c in chunks
                 if (h := text_hash(c.indexed_text())) != stored.get(c.id)}
        if fresh:
            self.tables.rehash(fresh)
            self.notes.append(
                f"re-indexed {len(fresh)} chunks that an older compound indexed with other text "
                "(the rule for title, heading and text has changed since)"
            )
        self.tables.set_meta("indexed_text", version)

    def close(self) -> None:
        """Close the database and the vector index."""
        if self.vectors is not None:
            self.vectors.close()
        if self.cached_embedder_ is not None:
            self.cached_embedder_.cache.close()
        self.tables.close()
        self._opened = False

    def generation(self) -> int:
        """The number of committed changes so far."""
        return self.tables.generation()

    # -- ingest -----------------------------------------------------------------------------

    def ingest(
        self,
        items: Iterable[Document | IngestProblem],
        *,
        progress: Progress | None = None,
        total: int | None = None,
    ) -> IngestReport:
        """Add new documents, replace changed ones, skip unchanged ones.

        Args:
            items: documents (and problems from reading them, passed through to the report).
            progress: called as documents are read and chunks embedded.
            total: how many items there are, when known (for the progress bar).

        Returns:
            Counts, problems and timings. A document id seen twice in ``items`` is ingested
            once (the first) and the second is reported.
        """
        self.open()
        report = IngestReport()
        seen: set[str] = set()
        batch: list[Document] = []
        done = 0
        with self.tables.lock:
            for item in items:
                if isinstance(item, IngestProblem):
                    report.problems.append(item)
                    continue
                if item.id in seen:
                    report.problems.append(IngestProblem(
                        item.source or "(input)",
                        f"duplicate document id '{item.id}'; the first one was kept. Give "
                        "each document its own id.",
                        doc_id=item.id,
                    ))
                    continue
                seen.add(item.id)
                batch.append(item)
                if len(batch) >= self.batch_documents:
                    done += len(batch)
                    self._ingest_batch(batch, report, progress)
                    batch = []
                    if progress:
                        progress("documents", done, total)
            if batch:
                done += len(batch)
                self._ingest_batch(batch, report, progress)
                if progress:
                    progress("documents", done, total)
            if report.changed:
                self._after_change(report, progress)
        return report

    def _ingest_batch(
        self, docs: list[Document], report: IngestReport, progress: Progress | None
    ) -> None:
        start = time.perf_counter()
        settings = json.dumps(asdict(self.chunking), sort_keys=True)
        hashes = {d.id: f"{d.content_hash()}:{settings}" for d in docs}
        existing = self.tables.document_hashes(list(hashes))
        changed = [d for d in docs if existing.get(d.id) != hashes[d.id]]
        report.unchanged += len(docs) - len(changed)
        if not changed:
            return
        kept: list[Document] = []
        chunks: list[Chunk] = []
        removed: list[str] = []
        for doc in changed:
            pieces = chunk_document(doc, self.chunking)
            if pieces:
                kept.append(doc)
                chunks += pieces
                continue
            report.problems.append(IngestProblem(doc.source or doc.id, "the document is empty",
                                                 doc_id=doc.id))
            if doc.id in existing:
                removed.append(doc.id)
        report.timed("chunking", start)
        windows = self._windows(chunks) if self.vectors is not None else []
        vectors = self._embed_texts([text for _, _, text in windows], report, progress)
        start = time.perf_counter()
        old_chunks = self.tables.chunk_ids_of([d.id for d in kept] + removed)
        old_entries = self._entry_ids(old_chunks)
        self.tables.replace([(d, hashes[d.id]) for d in kept], chunks, removed)
        report.added += sum(1 for d in kept if d.id not in existing)
        report.updated += sum(1 for d in kept if d.id in existing)
        report.deleted += len(removed)
        report.chunks += len(chunks)
        for chunk_id in old_chunks:
            self.payloads_.pop(chunk_id, None)
        self.payloads_.update({c.id: payload(c) for c in chunks})
        if self.vectors is not None:
            fresh = {entry_id for entry_id, _, _ in windows}
            self.vectors.delete([i for i in old_entries if i not in fresh])
        if self.vectors is not None and vectors is not None:
            self.vectors.upsert([
                VectorEntry(entry_id, vector, self._key(text_hash(text)),
                            self.payloads_[chunk_id])
                for (entry_id, chunk_id, text), vector in zip(windows, vectors, strict=True)
            ])
        report.timed("writing", start)

    def _windows(self, chunks: Iterable[Chunk]) -> list[tuple[str, str, str]]:
        """``(vector entry id, chunk id, text to embed)`` for every vector of ``chunks``."""
        if self.long_text == "cut" or self.embedder is None:
            return [(c.id, c.id, c.indexed_text()) for c in chunks]
        chunks = list(chunks)
        windower = self.cached_embedder_ or self.embedder  # the cache keeps windows' spans
        pieces = windower.windows_many([c.indexed_text() for c in chunks])
        return [
            (window_entry_id(c.id, number), c.id, piece)
            for c, windows in zip(chunks, pieces, strict=True)
            for number, piece in enumerate(windows, 1)
        ]

    def _entry_ids(self, chunk_ids: Sequence[str]) -> list[str]:
        """The vector entry ids of chunks in the tables (read before they are replaced)."""
        if self.long_text == "cut" or self.vectors is None:
            return list(chunk_ids)
        return [entry_id for entry_id, _, _ in
                self._windows(self.tables.chunks(chunk_ids).values())]

    def _embed_texts(
        self, texts: Sequence[str], report: IngestReport, progress: Progress | None
    ) -> np.ndarray | None:
        if self.cached_embedder_ is None or not texts:
            return None
        start, cpu = time.perf_counter(), time.process_time()
        before = self.cached_embedder_.misses
        offset = report.chunks  # chunks of earlier batches, so the count keeps rising
        vectors = self.cached_embedder_.embed(
            list(texts),
            progress=(lambda n: progress("embedding", offset + n, None)) if progress else None,
        )
        report.embedded += self.cached_embedder_.misses - before
        report.timed("embedding", start)
        # CPU seconds of the whole process (every thread) while embedding: on a machine
        # shared with other work, cores * texts / CPU time estimates the unshared speed.
        report.seconds["embedding_cpu"] = (
            report.seconds.get("embedding_cpu", 0.0) + time.process_time() - cpu
        )
        return vectors

    def _key(self, hashed: bytes) -> str:
        assert self.embedder is not None
        return f"{self.embedder.model_id}:{hashed.hex()}"

    def delete(self, doc_ids: Sequence[str], *, progress: Progress | None = None) -> IngestReport:
        """Remove documents (and their chunks) by id; unknown ids are ignored."""
        self.open()
        report = IngestReport()
        with self.tables.lock:
            chunk_ids = self.tables.chunk_ids_of(list(doc_ids))
            entry_ids = self._entry_ids(chunk_ids)
            report.deleted = len(self.tables.delete(list(doc_ids)))
            if not report.deleted:
                return report
            for chunk_id in chunk_ids:
                self.payloads_.pop(chunk_id, None)
            if self.vectors is not None:
                self.vectors.delete(entry_ids)
            self._after_change(report, progress)
        return report

    def _after_change(self, report: IngestReport, progress: Progress | None) -> None:
        if self.lexical:
            start = time.perf_counter()
            self._rebuild_lexical(progress)
            report.timed("lexical", start)
        if self.vectors is not None and self.vectors.persistent:
            self.tables.set_meta("vectors_generation", self._vectors_tag())

    def _vectors_tag(self) -> str:
        """What a persistent vector index was last synced to: the generation, and the
        windows when there are any (so that turning them on or off resyncs it)."""
        if self.long_text == "cut" or self.embedder is None:
            return str(self.generation())
        return (f"{self.generation()} windows {self.embedder.model_id} "
                f"stride {self.embedder.stride}")

    # -- derived indexes --------------------------------------------------------------------

    def _manifest(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.folder / "manifest.json").read_text("utf-8")))
        except (OSError, ValueError):
            return {}

    def _open_lexical(self, progress: Progress | None) -> None:
        entry = self._manifest().get("lexical") or {}
        folder = self.folder / str(entry.get("folder") or "-")
        current = (entry.get("generation") == self.generation()
                   and entry.get("options") == self.lexical_options and folder.is_dir())
        if current:
            lexical = LexicalIndex(**self.lexical_options)
            try:
                lexical.load(folder)
                self.lexical_ = lexical
                return
            except (OSError, ValueError, KeyError) as exc:
                self.notes.append(f"the BM25 index could not be read ({exc}); rebuilt it")
        elif self.generation() > 0:
            self.notes.append(
                "the BM25 index was behind the documents (an interrupted ingest, or new "
                "settings); rebuilt it"
            )
        self._rebuild_lexical(progress)

    def _rebuild_lexical(self, progress: Progress | None) -> None:
        generation = self.generation()
        chunks = self.tables.all_chunks()
        if progress:
            progress("lexical", 0, 1)
        lexical = LexicalIndex(**self.lexical_options)
        lexical.build([c.id for c in chunks], [c.indexed_text() for c in chunks])
        name = f"lexical-g{generation}-{os.getpid()}-{time.time_ns()}"
        lexical.save(self.folder / name)
        manifest = self._manifest()
        manifest["lexical"] = {"folder": name, "generation": generation,
                               "options": self.lexical_options}
        _write_atomically(self.folder / "manifest.json", json.dumps(manifest, indent=1))
        for old in self.folder.glob("lexical-g*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        self.lexical_ = lexical
        if progress:
            progress("lexical", 1, 1)

    def _sync_vectors(self, chunks: Sequence[Chunk], progress: Progress | None) -> None:
        """Bring the vector index to the tables: fill it (NumPy) or resync it (Qdrant)."""
        assert self.vectors is not None and self.embedder is not None
        assert self.cached_embedder_ is not None
        self.vectors.open(self.embedder.dim)
        persistent = self.vectors.persistent
        if persistent and self.tables.meta("vectors_generation") == self._vectors_tag():
            return
        texts: dict[str, str] = {}
        if self.long_text == "cut":
            hashes = self.tables.chunk_hashes()
        else:
            texts = {entry_id: text for entry_id, _, text in self._windows(chunks)}
            hashes = {entry_id: text_hash(text) for entry_id, text in texts.items()}
        expected = {i: self._key(h) for i, h in hashes.items()}
        current = self.vectors.keys() if persistent else {}
        stale = [i for i in current if i not in expected]
        wanted = [i for i, key in expected.items() if current.get(i) != key]
        if persistent and (stale or wanted):
            self.notes.append(f"the vector index was behind the documents; resynced "
                              f"{len(wanted)} chunks and removed {len(stale)}")
        self.vectors.delete(stale)
        model = self.embedder.model_id
        embedded = 0
        for start in range(0, len(wanted), 4096):
            part = wanted[start : start + 4096]
            found = self.cached_embedder_.cache.get_many(model, [hashes[i] for i in part])
            missing = [i for i in part if hashes[i] not in found]
            if missing:
                if self.long_text == "cut":
                    stored = self.tables.chunks(missing)
                    texts.update({i: stored[i].indexed_text() for i in missing})
                report = IngestReport()
                vectors = self._embed_texts([texts[i] for i in missing], report, progress)
                assert vectors is not None
                found.update({hashes[i]: v for i, v in zip(missing, vectors, strict=True)})
                embedded += report.embedded
            self.vectors.upsert([
                VectorEntry(i, found[hashes[i]], expected[i], self.payloads_[entry_chunk_id(i)])
                for i in part
            ])
        if embedded:
            self.notes.append(f"embedded {embedded} chunks that had no vector for {model}")
        if persistent:
            self.tables.set_meta("vectors_generation", self._vectors_tag())

    # -- searching and reading --------------------------------------------------------------

    def chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """Chunks by id (ids not in the index are absent from the result)."""
        self.open()
        return self.tables.chunks(ids)

    def lexical_search(self, query: str, k: int, where: Filter | None = None
                       ) -> list[tuple[str, float]]:
        """BM25 ``(chunk id, score)`` pairs, best first."""
        self.open()
        if self.lexical_ is None:
            raise UserError("this index has no BM25 part; use a dense retriever")
        mask = None
        if where:
            mask = np.fromiter((where.matches(self.payloads_.get(i, {}))
                                for i in self.lexical_.ids_), dtype=bool)
            if not mask.any():
                return []
        return self.lexical_.search(query, k, mask=mask)

    def vector_search(self, vector: np.ndarray, k: int, where: Filter | None = None
                      ) -> list[tuple[str, float]]:
        """Cosine ``(chunk id, score)`` pairs, best first.

        With ``long_text: windows`` a chunk scores its best window's cosine: the vector index
        is asked for more entries than ``k`` until ``k`` distinct chunks are found (or every
        entry has been seen).
        """
        self.open()
        if self.vectors is None:
            raise UserError("this index has no embedder; use a bm25 retriever or set one")
        if self.long_text == "cut" or k < 1:
            return self.vectors.search(vector, k, where)
        ask = 2 * k
        while True:
            found = self.vectors.search(vector, ask, where)
            best: dict[str, float] = {}
            for entry_id, score in found:
                best.setdefault(entry_chunk_id(entry_id), score)
            if len(best) >= k or len(found) < ask:
                return list(best.items())[:k]
            ask *= 4

    def stats(self) -> dict[str, Any]:
        """Counts and settings, for ``compound ingest`` and checks."""
        self.open()
        documents, chunks = self.tables.counts()
        return {"documents": documents, "chunks": chunks, "generation": self.generation(),
                "embedder": self.embedder.model_id if self.embedder else None,
                "folder": str(self.folder)}

    def check(self) -> list[str]:
        """Consistency problems between the tables and the derived indexes (none: [])."""
        self.open()
        problems = self.tables.problems()
        ids = set(self.tables.chunk_hashes())
        if self.lexical_ is not None and set(self.lexical_.ids_) != ids:
            problems.append("the BM25 index does not hold exactly the chunks in the tables")
        if self.vectors is None:
            return problems
        if self.long_text == "cut":
            if set(self.vectors.keys()) != ids:
                problems.append(
                    "the vector index does not hold exactly the chunks in the tables")
            return problems
        expected = {entry_id: self._key(text_hash(text)) for entry_id, _, text
                    in self._windows(self.tables.all_chunks())}
        if self.vectors.keys() != expected:
            problems.append("the vector index does not hold exactly the windows of the chunks "
                            "in the tables")
        return problems


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
